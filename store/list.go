package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Entry is one run found in a store.
type Entry struct {
	Test  string    // "<workload>-<nemesis>"
	Dir   string    // the run directory
	Start time.Time // from the directory name
	// Results is nil while a run is in progress or when results.json is
	// missing or unreadable (then Err says why).
	Results *Results
	Err     error
}

// List returns the runs in a store, newest first. A directory counts as
// a run when its name is a start time (TimeLayout); the latest links and
// anything else are skipped. A missing store is an empty list.
func List(storeDir string) ([]Entry, error) {
	tests, err := os.ReadDir(storeDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var out []Entry
	for _, t := range tests {
		if !t.IsDir() || strings.HasPrefix(t.Name(), ".") {
			continue // "latest" is a symlink: DirEntry.IsDir is false for it
		}
		runs, err := os.ReadDir(filepath.Join(storeDir, t.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		for _, r := range runs {
			if !r.IsDir() {
				continue
			}
			start, err := time.ParseInLocation(TimeLayout, r.Name(), time.Local)
			if err != nil {
				continue
			}
			e := Entry{Test: t.Name(), Dir: filepath.Join(storeDir, t.Name(), r.Name()), Start: start}
			if res, err := Load(e.Dir); err == nil {
				e.Results = &res
			} else {
				e.Err = err
			}
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Test, b.Test)
	})
	return out, nil
}

// historyNames are the history files a run directory (or a directory a
// user points analyze at) may hold, in order of preference.
var historyNames = []string{HistoryFile, "history.json", "history.edn"}

// HistoryPath resolves what a user gives `chaoscheck analyze`: a history
// file is itself; a run directory (store/latest included, since the link
// resolves to one) is its history file; a store root is its latest run's
// history. The error wraps fs.ErrNotExist when nothing is found.
func HistoryPath(pathOrRunDir string) (string, error) {
	fi, err := os.Stat(pathOrRunDir)
	if err != nil {
		return "", fmt.Errorf("history %s: %w", pathOrRunDir, err)
	}
	if !fi.IsDir() {
		return pathOrRunDir, nil
	}
	for _, n := range historyNames {
		p := filepath.Join(pathOrRunDir, n)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	latest := filepath.Join(pathOrRunDir, LatestLink)
	if fi, err := os.Stat(latest); err == nil && fi.IsDir() {
		return HistoryPath(latest)
	}
	return "", fmt.Errorf("history: %s holds no %s and no %s link: %w",
		pathOrRunDir, strings.Join(historyNames, ", "), LatestLink, fs.ErrNotExist)
}
