package verify

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chaoscheck/chaoscheck/store"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// File names that tell a data dir's kind.
const (
	raftStateDB  = "state.db" // raftsql: DataDir/state.db beside DataDir/raft/
	badgerMarker = "MANIFEST" // any badger directory; the coordinator's decision log
	nodeDataDir  = "data"     // sut/cluster gives 2PC nodes <node>/data
)

// Node is one node's data dir and the name findings call it by.
type Node struct {
	Name string `json:"name"`
	Dir  string `json:"dir"`
}

// Options says what to verify.
type Options struct {
	Raft         []Node // replica data dirs, each holding state.db
	Participants []Node // participant data dirs, each holding participant.db
	Coordinator  *Node  // the coordinator's badger directory
	// Total is the sum the balances must have; nil: none known.
	Total *int64
	// TotalSource says where Total came from, for the report.
	TotalSource string
	// Strict counts a lagging replica as a failure.
	Strict bool
	// Notes are remarks from finding the inputs (node dirs without data …).
	Notes []string
}

// InputError is input verify cannot use: a missing directory, or one that
// is not a data dir of the kind it was given as.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErrorf(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

// ParseNodes reads a flag's list of data dirs: "DIR" or "NAME=DIR". A
// DIR's name is its base name, or its parent's when the base is "data"
// (sut/cluster's <node>/data).
func ParseNodes(list []string) []Node {
	var out []Node
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		name, dir, ok := strings.Cut(s, "=")
		if !ok || strings.ContainsRune(name, filepath.Separator) {
			name, dir = "", s
		}
		out = append(out, Node{Name: name, Dir: dir})
	}
	return out
}

// nodeName names a data dir after its node.
func nodeName(dir string) string {
	clean := filepath.Clean(dir)
	if base := filepath.Base(clean); base != nodeDataDir {
		return base
	}
	return filepath.Base(filepath.Dir(clean))
}

// Resolve checks that every node given is a data dir of its kind and
// fills in names; a participant or coordinator given as its node dir
// (<node>, not <node>/data) is accepted too. Errors are *InputError.
func (o *Options) Resolve() error {
	for i := range o.Raft {
		n := &o.Raft[i]
		if err := checkDir(n.Dir, "raft replica"); err != nil {
			return err
		}
		if !isFile(filepath.Join(n.Dir, raftStateDB)) {
			return inputErrorf("raft replica %s is not a raftsql data dir: no %s", n.Dir, raftStateDB)
		}
		if n.Name == "" {
			n.Name = nodeName(n.Dir)
		}
	}
	for i := range o.Participants {
		n := &o.Participants[i]
		if err := checkDir(n.Dir, "participant"); err != nil {
			return err
		}
		if !isFile(filepath.Join(n.Dir, twopc.ParticipantDB)) {
			if !isFile(filepath.Join(n.Dir, nodeDataDir, twopc.ParticipantDB)) {
				return inputErrorf("participant %s is not a participant data dir: no %s", n.Dir, twopc.ParticipantDB)
			}
			n.Dir = filepath.Join(n.Dir, nodeDataDir)
		}
		if n.Name == "" {
			n.Name = nodeName(n.Dir)
		}
	}
	if n := o.Coordinator; n != nil {
		if err := checkDir(n.Dir, "coordinator"); err != nil {
			return err
		}
		if !isFile(filepath.Join(n.Dir, badgerMarker)) {
			if !isFile(filepath.Join(n.Dir, nodeDataDir, badgerMarker)) {
				return inputErrorf("coordinator %s is not a badger directory: no %s", n.Dir, badgerMarker)
			}
			n.Dir = filepath.Join(n.Dir, nodeDataDir)
		}
		if n.Name == "" {
			n.Name = nodeName(n.Dir)
		}
	}
	for _, kind := range [][]Node{o.Raft, o.Participants} {
		seen := map[string]bool{}
		for _, n := range kind {
			if seen[n.Name] {
				return inputErrorf("two data dirs are both named %s: name them NAME=DIR", n.Name)
			}
			seen[n.Name] = true
		}
	}
	return nil
}

func checkDir(dir, kind string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return &InputError{Err: fmt.Errorf("%s: %w", kind, err)}
	}
	if !fi.IsDir() {
		return inputErrorf("%s %s is not a directory", kind, dir)
	}
	return nil
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// FromRunDir finds the data dirs of a run: path is a run directory
// (<run>/nodes/<node>/…), a store or test directory whose latest link
// leads to one, or a cluster directory holding the node dirs itself. Each
// node dir is recognized by its files: state.db is a Raft replica,
// data/participant.db a participant, data/MANIFEST the coordinator. Node
// dirs holding only node.log (the runner drops data after a valid
// verdict) are noted. The expected total comes from the run's config.json
// or, failing that, its history (see expectedTotal).
func FromRunDir(path string) (Options, error) {
	run, err := runDir(path)
	if err != nil {
		return Options{}, err
	}
	nodes := filepath.Join(run, store.NodesDir)
	if fi, err := os.Stat(nodes); err != nil || !fi.IsDir() {
		nodes = run // a cluster dir: sut/cluster's Dir
	}
	ents, err := os.ReadDir(nodes)
	if err != nil {
		return Options{}, &InputError{Err: err}
	}
	var o Options
	var bare []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(nodes, e.Name())
		switch {
		case isFile(filepath.Join(dir, raftStateDB)):
			o.Raft = append(o.Raft, Node{Name: e.Name(), Dir: dir})
		case isFile(filepath.Join(dir, nodeDataDir, twopc.ParticipantDB)):
			o.Participants = append(o.Participants, Node{Name: e.Name(), Dir: filepath.Join(dir, nodeDataDir)})
		case isFile(filepath.Join(dir, nodeDataDir, badgerMarker)):
			if o.Coordinator != nil {
				return Options{}, inputErrorf("%s: two coordinator data dirs, %s and %s", run, o.Coordinator.Dir, dir)
			}
			o.Coordinator = &Node{Name: e.Name(), Dir: filepath.Join(dir, nodeDataDir)}
		case isFile(filepath.Join(dir, store.NodeLogFile)):
			bare = append(bare, e.Name())
		}
	}
	if len(bare) > 0 {
		o.Notes = append(o.Notes, fmt.Sprintf("%s: no data dir (only %s; the runner removes data after a valid verdict)",
			strings.Join(bare, ", "), store.NodeLogFile))
	}
	if len(o.Raft) == 0 && len(o.Participants) == 0 && o.Coordinator == nil && len(bare) == 0 {
		return Options{}, inputErrorf("%s holds no node data dirs (n1/state.db, p1/data/participant.db, coordinator/data/MANIFEST)", nodes)
	}
	if len(o.Participants) > 0 {
		o.Total, o.TotalSource, o.Notes = expectedTotal(run, o.Notes)
	}
	return o, nil
}

// runDir follows a store's or test's latest link to a run directory: the
// first directory on the way that has nodes/, else path itself (perhaps a
// cluster dir). The depth bound stops a link loop.
func runDir(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", &InputError{Err: err}
	}
	if !fi.IsDir() {
		return "", inputErrorf("%s is not a directory", path)
	}
	for p, depth := path, 0; depth < 3; p, depth = filepath.Join(p, store.LatestLink), depth+1 {
		if fi, err := os.Stat(filepath.Join(p, store.NodesDir)); err == nil && fi.IsDir() {
			return p, nil
		}
	}
	return path, nil
}
