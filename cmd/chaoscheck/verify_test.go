package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

// verifyReplica writes a one-entry raftsql state machine into dir, as a
// replica would have applied it.
func verifyReplica(t *testing.T, dir string, row int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := raftsql.OpenStateMachine(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	data, err := raftsql.EncodeCommand(raftsql.Command{Stmts: []raftsql.Stmt{
		{SQL: `CREATE TABLE t (v INTEGER)`}, {SQL: `INSERT INTO t VALUES (?)`, Args: []any{row}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(1, data); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyExitCodes(t *testing.T) {
	root := t.TempDir()
	n1, n2, n3 := filepath.Join(root, "n1"), filepath.Join(root, "n2"), filepath.Join(root, "n3")
	verifyReplica(t, n1, 1)
	verifyReplica(t, n2, 1)
	verifyReplica(t, n3, 2)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout or stderr
	}{
		{"identical replicas", []string{"verify", "--raft", n1 + "," + n2}, 0, "verdict: VALID (exit 0)"},
		{"diverged replica named", []string{"verify", "--raft", n1 + "," + n2 + "," + n3}, 1, "divergence n3"},
		{"one replica: nothing to compare", []string{"verify", "--raft", n1}, 2, "nothing to compare"},
		{"missing participant dir", []string{"verify", "--participants", filepath.Join(root, "nope")}, 254, "no such file"},
		{"not a data dir", []string{"verify", "--raft", root}, 254, "not a raftsql data dir"},
		{"missing run dir", []string{"verify", filepath.Join(root, "missing")}, 254, "no such file"},
		{"run dir and flags", []string{"verify", root, "--raft", n1}, 254, "not both"},
		{"nothing given", []string{"verify"}, 254, "give a RUN-DIR"},
		{"a cluster dir of node dirs", []string{"verify", root}, 1, "divergence n3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := chaoscheck(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("chaoscheck %v: exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", tc.args, code, tc.code, tc.want, out, errOut)
			}
		})
	}

	out, _, code := chaoscheck(t, "verify", "--json", "--raft", "a="+n1+",b="+n3)
	var rep struct {
		Valid    any `json:"valid"`
		Checkers []struct {
			Checker   string `json:"checker"`
			Anomalies []struct{ Kind, Key string }
		} `json:"checkers"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if code != 1 || rep.Valid != false || len(rep.Checkers) != 1 || rep.Checkers[0].Anomalies[0].Key != "a, b" {
		t.Errorf("--json with named dirs: exit %d, %+v", code, rep)
	}
}
