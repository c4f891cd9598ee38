package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names inside a run directory.
const (
	ConfigFile  = "config.json"
	HistoryFile = "history.jsonl"
	ResultsFile = "results.json"
	NodesDir    = "nodes"
	NodeLogFile = "node.log"
	LatestLink  = "latest"
)

// TimeLayout names a run directory after its start time, to the
// millisecond, in local time (as Jepsen's store does): it sorts
// lexically in start order within a year range.
const TimeLayout = "20060102T150405.000"

// Run is one run directory.
type Run struct {
	Store string    // the store root
	Test  string    // "<workload>-<nemesis>", the directory under Store
	Dir   string    // Store/Test/<start time>
	Start time.Time // the time the directory is named after
}

// TestName is the directory a run of workload under nemesis goes in.
// Commas of a nemesis combination become "+", so "kill,pause" is
// "register-kill+pause"; anything but letters, digits, '-', '_' and '+'
// becomes '_' so a name cannot climb out of the store. Seeded bugs (a
// self-test run) are part of the test: "set-kill-all-sut-bug-raft_no-dedup",
// so a selftest or soak store has the layout of any other and its runs
// with and without a bug are told apart.
func TestName(workload, nemesis string, sutBugs ...string) string {
	if nemesis == "" {
		nemesis = "none"
	}
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '+':
				return r
			case r == ',':
				return '+'
			}
			return '_'
		}, s)
	}
	name := clean(workload) + "-" + clean(nemesis)
	for _, b := range sutBugs {
		name += "-sut-bug-" + clean(b)
	}
	return name
}

// Create makes a fresh run directory for test, named after start. If a
// run of the same test already has that name (two runs in one
// millisecond), the name moves on by a millisecond: a run directory is
// never shared.
func Create(storeDir, test string, start time.Time) (*Run, error) {
	if storeDir == "" {
		return nil, errors.New("store: no store directory given")
	}
	abs, err := filepath.Abs(storeDir)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", storeDir, err)
	}
	parent := filepath.Join(abs, test)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	t := start.Truncate(time.Millisecond)
	for range 1000 {
		dir := filepath.Join(parent, t.Format(TimeLayout))
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return &Run{Store: abs, Test: test, Dir: dir, Start: t}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("store: %w", err)
		}
		t = t.Add(time.Millisecond)
	}
	return nil, fmt.Errorf("store: no free run directory under %s near %s", parent, start.Format(TimeLayout))
}

// Path is the path of name inside the run directory.
func (r *Run) Path(name string) string { return filepath.Join(r.Dir, name) }

// NodeDir is the directory of one node: its node.log and its data.
func (r *Run) NodeDir(node string) string { return filepath.Join(r.Dir, NodesDir, node) }

// RemoveNodeData deletes everything under nodes/ except each node's
// node.log. A valid run's data dirs prove nothing and can be large; an
// invalid or unknown run keeps them for a post-mortem, so the runner
// calls this only on a valid verdict.
func (r *Run) RemoveNodeData() error {
	nodes := filepath.Join(r.Dir, NodesDir)
	ents, err := os.ReadDir(nodes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var errs []error
	for _, n := range ents {
		if !n.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(nodes, n.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range files {
			if f.Name() == NodeLogFile {
				continue
			}
			if err := os.RemoveAll(filepath.Join(nodes, n.Name(), f.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: remove node data: %w", err)
	}
	return nil
}
