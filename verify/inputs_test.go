package verify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

// makeReplica writes a replica data dir without a node process: a state
// machine with table t holding rows, applied up to index.
func makeReplica(t *testing.T, dir string, index uint64, rows ...int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := raftsql.OpenStateMachine(filepath.Join(dir, raftStateDB))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	stmts := []raftsql.Stmt{{SQL: `CREATE TABLE t (v INTEGER)`}}
	for _, r := range rows {
		stmts = append(stmts, raftsql.Stmt{SQL: `INSERT INTO t (v) VALUES (?)`, Args: []any{r}})
	}
	data, err := raftsql.EncodeCommand(raftsql.Command{Stmts: stmts})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(1, data); err != nil {
		t.Fatal(err)
	}
	if index > 1 {
		if err := m.ApplyNoop(index); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseNodesNamesDirs(t *testing.T) {
	got := ParseNodes([]string{"/a/n1", " p9=/x/data ", "", "/c/p2/data", "rel/dir=with=equals"})
	want := []Node{{Dir: "/a/n1"}, {Name: "p9", Dir: "/x/data"}, {Dir: "/c/p2/data"}, {Dir: "rel/dir=with=equals"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseNodes = %+v, want %+v", got, want)
	}
	for dir, name := range map[string]string{"/a/n1": "n1", "/c/p2/data": "p2", "/c/p2/data/": "p2"} {
		if got := nodeName(dir); got != name {
			t.Errorf("nodeName(%q) = %q, want %q", dir, got, name)
		}
	}
}

func TestResolveRejectsWhatIsNotADataDir(t *testing.T) {
	root := t.TempDir()
	makeReplica(t, filepath.Join(root, "n1"), 1)
	if err := os.MkdirAll(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"missing raft dir", Options{Raft: []Node{{Dir: filepath.Join(root, "nope")}}}, "no such file"},
		{"raft dir without state.db", Options{Raft: []Node{{Dir: filepath.Join(root, "empty")}}}, "no state.db"},
		{"a file, not a dir", Options{Raft: []Node{{Dir: filepath.Join(root, "n1", raftStateDB)}}}, "not a directory"},
		{"participant without a database", Options{Participants: []Node{{Dir: filepath.Join(root, "n1")}}}, "no participant.db"},
		{"coordinator that is not badger", Options{Coordinator: &Node{Dir: filepath.Join(root, "empty")}}, "not a badger directory"},
		{"one name twice", Options{Raft: []Node{{Name: "x", Dir: filepath.Join(root, "n1")}, {Name: "x", Dir: filepath.Join(root, "n1")}}}, "both named x"},
	} {
		err := tc.o.Resolve()
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Resolve = %v, want an InputError saying %q", tc.name, err, tc.want)
		}
	}
	o := Options{Raft: []Node{{Dir: filepath.Join(root, "n1")}}}
	if err := o.Resolve(); err != nil || o.Raft[0].Name != "n1" {
		t.Errorf("Resolve of a replica dir = %v, name %q", err, o.Raft[0].Name)
	}
}

func TestFromRunDirFollowsLatestAndNotesRemovedData(t *testing.T) {
	st := t.TempDir()
	run := filepath.Join(st, "set-kill", "20261125T180405.123")
	makeReplica(t, filepath.Join(run, "nodes", "n1"), 3, 1)
	makeReplica(t, filepath.Join(run, "nodes", "n2"), 3, 1)
	if err := os.MkdirAll(filepath.Join(run, "nodes", "n3"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, "nodes", "n3", "node.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("set-kill/20261125T180405.123", filepath.Join(st, "latest")); err != nil {
		t.Fatal(err)
	}
	o, err := FromRunDir(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Raft) != 2 || o.Raft[0].Name != "n1" || len(o.Notes) != 1 || !strings.Contains(o.Notes[0], "n3: no data dir") {
		t.Errorf("FromRunDir(store) = %+v", o)
	}
	rep := Verify(context.Background(), o)
	if rep.Valid != checker.Valid {
		t.Errorf("verdict %s, want valid:\n%s", rep.Valid, summary(rep))
	}

	bare := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bare, "nodes", "n1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := FromRunDir(bare); err == nil {
		t.Error("a run dir with no node data was accepted")
	}
}

func TestReplicasVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas map[string][2]int // name → applied index, row value
		strict   bool
		want     checker.Validity
		kind     string // anomaly expected, with its key
		key      string
	}{
		{"all equal", map[string][2]int{"n1": {5, 1}, "n2": {5, 1}, "n3": {5, 1}}, false, checker.Valid, "", ""},
		{"minority differs", map[string][2]int{"n1": {5, 1}, "n2": {5, 2}, "n3": {5, 1}}, false, checker.Invalid, "divergence", "n2"},
		{"two differ, no majority", map[string][2]int{"n1": {5, 1}, "n2": {5, 2}}, false, checker.Invalid, "divergence", "n1, n2"},
		{"a lagging replica with other content", map[string][2]int{"n1": {5, 1}, "n2": {5, 1}, "n3": {4, 9}}, false, checker.Valid, "", ""},
		{"lagging when strict", map[string][2]int{"n1": {5, 1}, "n2": {5, 1}, "n3": {4, 1}}, true, checker.Invalid, "lagging", "n3"},
		{"no two at one index", map[string][2]int{"n1": {5, 1}, "n2": {4, 1}}, false, checker.Unknown, "", ""},
		{"one replica", map[string][2]int{"n1": {5, 1}}, false, checker.Unknown, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			var nodes []Node
			for _, name := range []string{"n1", "n2", "n3"} {
				r, ok := tc.replicas[name]
				if !ok {
					continue
				}
				dir := filepath.Join(root, name)
				makeReplica(t, dir, uint64(r[0]), r[1])
				nodes = append(nodes, Node{Name: name, Dir: dir})
			}
			res := checkReplicas(context.Background(), nodes, tc.strict)
			if res.Valid != tc.want {
				t.Fatalf("verdict %s, want %s: %+v", res.Valid, tc.want, res)
			}
			if tc.kind != "" && (len(res.Anomalies) != 1 || res.Anomalies[0].Kind != tc.kind || res.Anomalies[0].Key != tc.key) {
				t.Errorf("anomalies %+v, want one %s naming %s", res.Anomalies, tc.kind, tc.key)
			}
		})
	}
}

func TestExpectedTotalSources(t *testing.T) {
	for _, tc := range []struct {
		name    string
		config  string
		history string
		want    string // "none" or "<total> <source substring>"
	}{
		{"config total", `{"total": 800}`, "", "800 config.json"},
		{"config accounts list", `{"accounts": ["p1/a1", "p2/a1"], "initial_balance": 50}`, "", "100 config.json"},
		{"history first ok read", `{"workload": "bank"}`,
			`{"index":0,"type":"invoke","process":0,"f":"read-balances"}
{"index":1,"type":"invoke","process":-1,"f":"kill","value":"p1"}
{"index":2,"type":"ok","process":0,"f":"read-balances","value":{"p1/a1":70,"p2/a1":130}}
{"index":3,"type":"ok","process":1,"f":"read-balances","value":{"p1/a1":1,"p2/a1":1}}
`, "200 op 2"},
		{"neither", `{"workload": "bank"}`, `{"index":0,"type":"invoke","process":0,"f":"transfer"}` + "\n", "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.history != "" {
				if err := os.WriteFile(filepath.Join(dir, "history.jsonl"), []byte(tc.history), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			total, source, notes := expectedTotal(dir, nil)
			got := "none"
			if total != nil {
				got = fmt.Sprintf("%d %s", *total, source)
			}
			wantTotal, wantSource, _ := strings.Cut(tc.want, " ")
			if !strings.HasPrefix(got, wantTotal) || !strings.Contains(got, wantSource) {
				t.Errorf("expectedTotal = %q (notes %v), want %q", got, notes, tc.want)
			}
			if total == nil && len(notes) == 0 {
				t.Error("no total and no note saying why")
			}
		})
	}
}
