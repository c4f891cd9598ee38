package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// MarkLatest points <store>/latest and <store>/<test>/latest at the run.
// The links are relative, so a store directory can be moved or copied
// whole.
func MarkLatest(r *Run) error {
	rel, err := filepath.Rel(r.Store, r.Dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := replaceSymlink(filepath.Join(r.Store, LatestLink), rel); err != nil {
		return err
	}
	return replaceSymlink(filepath.Join(r.Store, r.Test, LatestLink), filepath.Base(r.Dir))
}

// replaceSymlink makes link point at target atomically: rename(2) over
// the old link is atomic, so a concurrent reader of link (a `serve`, an
// `analyze store/latest`) finds the old target or the new one, never
// nothing.
func replaceSymlink(link, target string) error {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	tmp := filepath.Join(filepath.Dir(link), "."+filepath.Base(link)+"-"+hex.EncodeToString(b[:]))
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("store: link %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: link %s: %w", link, err)
	}
	return nil
}
