package verify

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// errCoordinatorRunning: a process holds the decision log's directory
// lock, so its files are changing under us.
var errCoordinatorRunning = errors.New("running (a live process holds its badger directory lock): stop it to judge atomicity")

// badgerLockFile is the pid file badger writes beside its flock.
const badgerLockFile = "LOCK"

// readDecisions reads the coordinator's decision log without touching its
// directory. Badger cannot be read in place: read-only mode refuses the
// unfinished write-ahead log a kill -9 leaves, and read-write mode replays
// and truncates it. So the files are copied and the copy is opened. The
// copy is made under a shared flock on the directory, the lock badger
// itself takes: a running coordinator holds it exclusively, so the copy
// fails at once instead of catching files mid-write, and a coordinator
// cannot start while the copy is made.
func readDecisions(dir string) ([]twopc.DecisionRecord, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errCoordinatorRunning
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	defer syscall.Flock(int(d.Fd()), syscall.LOCK_UN)

	tmp, err := os.MkdirTemp("", "chaoscheck-verify-decisions-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	ents, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == badgerLockFile {
			continue
		}
		if err := copyFile(filepath.Join(dir, e.Name()), filepath.Join(tmp, e.Name())); err != nil {
			return nil, err
		}
	}
	return twopc.ReadDecisionLog(tmp)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
