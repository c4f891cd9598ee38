package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/chaoscheck/chaoscheck/sut/bugs"
)

// checkDataDir refuses a node's --data that can never be a directory:
// the path, or a parent of it, is a file. Such a path is the user's
// input, so the error is exit 254 rather than the node failing deep in
// its storage with 255.
func checkDataDir(flag, path string) error {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case err == nil && !fi.IsDir():
			if p == filepath.Clean(path) {
				return fmt.Errorf("%s %s is a file, not a directory", flag, path)
			}
			return fmt.Errorf("%s %s: %s is a file, not a directory", flag, path, p)
		case err == nil:
			return nil // the nearest existing ancestor is a directory
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return fmt.Errorf("%s %s: %w", flag, path, err)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// bugIDs lists system's seeded bugs by ID (raft/stale-read), the spelling
// help and errors use.
func bugIDs(system string) []string {
	var ids []string
	for _, b := range bugs.Of(system) {
		ids = append(ids, b.ID())
	}
	return ids
}
