// Package sqliteread opens the SUT's WAL-mode SQLite files for inspection
// without writing to them, for `chaoscheck verify`. Both SUT kinds use it.
package sqliteread

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// DSN is the modernc sqlite data source that reads the WAL-mode database
// at path without writing to it or creating it. With a -wal file beside it
// (the node runs, or was killed) the connection is mode=ro and reads
// through the WAL and its shared-memory index, as any reader beside a
// writer does, waiting up to busyMillis for a writer's lock. Without one (a
// clean stop checkpointed and removed it) the file is complete on its own
// and is opened immutable: a mode=ro connection would create an empty -wal
// and -shm and could not remove them, leaving files in a data dir that
// verify promises not to touch.
func DSN(path string, busyMillis int) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", err
	}
	q := url.Values{}
	if _, err := os.Stat(abs + "-wal"); err == nil {
		q.Set("mode", "ro")
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyMillis))
	} else {
		q.Set("immutable", "1")
	}
	return "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + q.Encode(), nil
}
