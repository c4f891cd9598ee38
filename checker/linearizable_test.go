package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/kvgen"
)

// Compact op builders: linHist numbers ops in order (index and time).
func linInv(p int64, f string, v any) history.Op {
	return history.Op{Type: history.Invoke, Process: p, F: f, Value: v}
}
func linOK(p int64, f string, v any) history.Op {
	return history.Op{Type: history.OK, Process: p, F: f, Value: v}
}
func linFail(p int64, f string, v any) history.Op {
	return history.Op{Type: history.Fail, Process: p, F: f, Value: v}
}
func linInfo(p int64, f string, v any) history.Op {
	return history.Op{Type: history.Info, Process: p, F: f, Value: v}
}

// linOn puts ops on a key.
func linOn(key string, ops ...history.Op) []history.Op {
	for i := range ops {
		ops[i].Key = key
	}
	return ops
}

func linHist(ops ...history.Op) history.History {
	h := make(history.History, len(ops))
	for i, op := range ops {
		op.Index, op.Time = int64(i), int64(i)*1000
		h[i] = op
	}
	return h
}

func linN(i int) json.Number { return json.Number(fmt.Sprint(i)) }

func linCas(from, to any) []any { return []any{from, to} }

func linShow(h history.History) string {
	var b strings.Builder
	for _, op := range h {
		fmt.Fprintf(&b, "\n  %d %s p%d %s %s %v", op.Index, op.Type, op.Process, op.F, op.Key, op.Value)
	}
	return b.String()
}

func linCheck(t *testing.T, opts LinearizableOptions, h history.History) Result {
	t.Helper()
	c, err := NewLinearizable(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c.Check(context.Background(), h)
}

func TestLinearizableJudgesHistoriesLikeKnossos(t *testing.T) {
	zero := linN(0)
	cases := []struct {
		name  string
		model string
		init  any
		h     history.History
		want  Validity
	}{
		{"sequential write then read is linearizable", "register", nil, linHist(
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(1, "read", nil), linOK(1, "read", linN(1)),
		), Valid},
		{"stale read after a newer write completed is not", "register", nil, linHist(
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(0, "write", linN(2)), linOK(0, "write", linN(2)),
			linInv(1, "read", nil), linOK(1, "read", linN(1)),
		), Invalid},
		{"read concurrent with a write may see the old value", "register", zero, linHist(
			linInv(0, "write", linN(1)),
			linInv(1, "read", nil), linOK(1, "read", linN(0)),
			linOK(0, "write", linN(1)),
		), Valid},
		{"read concurrent with a write may see the new value", "register", zero, linHist(
			linInv(0, "write", linN(1)),
			linInv(1, "read", nil), linOK(1, "read", linN(1)),
			linOK(0, "write", linN(1)),
		), Valid},
		{"lost write: a later read sees the initial value", "register", zero, linHist(
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(1, "read", nil), linOK(1, "read", linN(0)),
		), Invalid},
		{"read of a value never written is not linearizable", "register", zero, linHist(
			linInv(1, "read", nil), linOK(1, "read", linN(7)),
		), Invalid},
		{"two reads may not see the new value and then the old", "register", zero, linHist(
			linInv(0, "write", linN(1)),
			linInv(1, "read", nil), linOK(1, "read", linN(1)),
			linInv(2, "read", nil), linOK(2, "read", linN(0)),
			linOK(0, "write", linN(1)),
		), Invalid},
		{"info write that later shows up is legal", "register", zero, linHist(
			linInv(0, "write", linN(1)), linInfo(0, "write", linN(1)),
			linInv(1, "read", nil), linOK(1, "read", linN(0)),
			linInv(2, "read", nil), linOK(2, "read", linN(1)),
		), Valid},
		{"info write that never shows up is legal", "register", zero, linHist(
			linInv(0, "write", linN(1)), linInfo(0, "write", linN(1)),
			linInv(1, "read", nil), linOK(1, "read", linN(0)),
		), Valid},
		{"unfinished write may take effect after the history ends its reads", "register", zero, linHist(
			linInv(0, "write", linN(1)),
			linInv(1, "read", nil), linOK(1, "read", linN(0)),
			linInv(2, "read", nil), linOK(2, "read", linN(1)),
		), Valid},
		{"failed write that shows up is illegal", "register", zero, linHist(
			linInv(0, "write", linN(1)), linFail(0, "write", linN(1)),
			linInv(1, "read", nil), linOK(1, "read", linN(1)),
		), Invalid},
		{"nil read constrains nothing", "register", zero, linHist(
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(1, "read", nil), linOK(1, "read", nil),
		), Valid},
		{"read that failed or timed out constrains nothing", "register", zero, linHist(
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(1, "read", nil), linInfo(1, "read", linN(5)),
			linInv(2, "read", nil), linFail(2, "read", linN(6)),
		), Valid},
		{"numbers compare by value whatever their spelling", "register", zero, linHist(
			linInv(0, "write", json.Number("3")), linOK(0, "write", json.Number("3")),
			linInv(1, "read", nil), linOK(1, "read", json.Number("3.0")),
			linInv(1, "read", nil), linOK(1, "read", 3),
		), Valid},
		{"the string 3 is not the number 3", "register", zero, linHist(
			linInv(0, "write", linN(3)), linOK(0, "write", linN(3)),
			linInv(1, "read", nil), linOK(1, "read", "3"),
		), Invalid},
		{"nemesis ops are ignored", "register", zero, linHist(
			history.Op{Type: history.Info, Process: history.NemesisProcess, F: "kill", Value: "n1"},
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			history.Op{Type: history.Info, Process: history.NemesisProcess, F: "start", Value: "n1"},
			linInv(1, "read", nil), linOK(1, "read", linN(1)),
		), Valid},
		{"cas that returned ok took effect", "cas-register", zero, linHist(
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(0, "cas", linCas(linN(1), linN(2))), linOK(0, "cas", linCas(linN(1), linN(2))),
			linInv(1, "read", nil), linOK(1, "read", linN(2)),
		), Valid},
		{"cas that should have failed returned ok", "cas-register", zero, linHist(
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(0, "cas", linCas(linN(3), linN(4))), linOK(0, "cas", linCas(linN(3), linN(4))),
		), Invalid},
		{"failed cas that shows up is illegal", "cas-register", zero, linHist(
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(0, "cas", linCas(linN(1), linN(2))), linFail(0, "cas", linCas(linN(1), linN(2))),
			linInv(1, "read", nil), linOK(1, "read", linN(2)),
		), Invalid},
		{"info cas may have taken effect", "cas-register", zero, linHist(
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(0, "cas", linCas(linN(1), linN(2))), linInfo(0, "cas", linCas(linN(1), linN(2))),
			linInv(1, "read", nil), linOK(1, "read", linN(2)),
		), Valid},
		{"info cas may not have taken effect", "cas-register", zero, linHist(
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(0, "cas", linCas(linN(1), linN(2))), linInfo(0, "cas", linCas(linN(1), linN(2))),
			linInv(1, "read", nil), linOK(1, "read", linN(1)),
		), Valid},
		{"info cas whose from never held cannot show up", "cas-register", zero, linHist(
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(0, "cas", linCas(linN(5), linN(2))), linInfo(0, "cas", linCas(linN(5), linN(2))),
			linInv(1, "read", nil), linOK(1, "read", linN(2)),
		), Invalid},
		{"kv keys are independent registers", "kv", zero, linHist(slices.Concat(
			linOn("a", linInv(0, "write", linN(1)), linOK(0, "write", linN(1))),
			linOn("b", linInv(1, "read", nil), linOK(1, "read", linN(0))),
			linOn("a", linInv(1, "read", nil), linOK(1, "read", linN(1))),
		)...), Valid},
		{"kv read of another key's value is not linearizable", "kv", zero, linHist(slices.Concat(
			linOn("a", linInv(0, "write", linN(1)), linOK(0, "write", linN(1))),
			linOn("b", linInv(1, "read", nil), linOK(1, "read", linN(1))),
		)...), Invalid},
		{"empty history is linearizable", "kv", nil, nil, Valid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := linCheck(t, LinearizableOptions{Model: tc.model, Init: tc.init}, tc.h)
			if r.Valid != tc.want {
				t.Errorf("%s model, init %v: got %v, want %v\nanomalies %+v\nnotes %q\nhistory:%s",
					tc.model, tc.init, r.Valid, tc.want, r.Anomalies, r.Notes, linShow(tc.h))
			}
			if r.Valid == Invalid && r.AnomalyKinds()[0] != "nonlinearizable" {
				t.Errorf("anomalies %+v, want nonlinearizable", r.Anomalies)
			}
		})
	}
}

func TestLinearizableReportsStaleRead(t *testing.T) {
	h := linHist(
		linInv(0, "write", linN(1)), linOK(0, "write", linN(1)), // 0, 1
		linInv(0, "write", linN(2)), linOK(0, "write", linN(2)), // 2, 3
		linInv(1, "read", nil), linOK(1, "read", linN(1)), // 4, 5: stale
	)
	r := linCheck(t, LinearizableOptions{Model: "register"}, h)
	if r.Valid != Invalid || len(r.Anomalies) != 1 {
		t.Fatalf("got %v %+v, want one nonlinearizable anomaly; history:%s", r.Valid, r.Anomalies, linShow(h))
	}
	a := r.Anomalies[0]
	want := []int64{2, 3, 4, 5} // the write of 2 that the read contradicts, and the read
	if a.Kind != "nonlinearizable" || !slices.Equal(a.Ops, want) {
		t.Errorf("anomaly %+v: want kind nonlinearizable, ops %v; history:%s", a, want, linShow(h))
	}
	for _, s := range []string{"read 1", "index 4→5", "write 2", "holds 2"} {
		if !strings.Contains(a.Detail, s) {
			t.Errorf("detail %q lacks %q", a.Detail, s)
		}
	}
	if r.Counts["ops"] != 3 || r.Counts["keys"] != 1 || r.Counts["keys-invalid"] != 1 {
		t.Errorf("counts %v, want 3 ops, 1 key, 1 invalid", r.Counts)
	}
}

func TestLinearizableNamesTheBadKey(t *testing.T) {
	var ops []history.Op
	for _, k := range []string{"k1", "k2", "k3"} {
		ops = append(ops, linOn(k,
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(1, "cas", linCas(linN(1), linN(2))), linOK(1, "cas", linCas(linN(1), linN(2))),
			linInv(2, "read", nil), linOK(2, "read", linN(2)),
		)...)
	}
	// k2 reads the value its cas replaced: a lost update.
	ops = append(ops, linOn("k2", linInv(3, "read", nil), linOK(3, "read", linN(1)))...)
	h := linHist(ops...)
	r := linCheck(t, LinearizableOptions{Model: "kv", Init: linN(0)}, h)
	if r.Valid != Invalid || len(r.Anomalies) != 1 || r.Anomalies[0].Key != "k2" {
		t.Fatalf("got %v %+v, want one anomaly on k2; history:%s", r.Valid, r.Anomalies, linShow(h))
	}
	if !slices.Contains(r.Anomalies[0].Ops, 19) {
		t.Errorf("anomaly %+v does not name the stale read (index 18→19)", r.Anomalies[0])
	}
	if r.Counts["keys"] != 3 || r.Counts["keys-invalid"] != 1 || r.Counts["ops"] != 10 {
		t.Errorf("counts %v, want 3 keys, 1 invalid, 10 ops", r.Counts)
	}
}

func TestLinearizableIgnoresOtherFsWithANote(t *testing.T) {
	h := linHist(
		linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
		linInv(0, "cas", linCas(linN(1), linN(2))), linOK(0, "cas", linCas(linN(1), linN(2))),
		linInv(1, "final-read", nil), linOK(1, "final-read", map[string]any{}),
		linInv(1, "read", nil), linOK(1, "read", linN(1)),
	)
	r := linCheck(t, LinearizableOptions{Model: "register"}, h)
	if r.Valid != Valid || r.Counts["ignored"] != 2 {
		t.Fatalf("got %v, counts %v, want valid with 2 ignored; history:%s", r.Valid, r.Counts, linShow(h))
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], `"cas" ×1`) || !strings.Contains(r.Notes[0], `"final-read" ×1`) {
		t.Errorf("notes %q, want one naming the ignored cas and final-read", r.Notes)
	}
}

func TestLinearizableMalformedValueIsUnknownNotACrash(t *testing.T) {
	cases := []struct {
		name string
		op   history.Op
	}{
		{"cas value is not a pair", linInv(0, "cas", linN(3))},
		{"cas value has three elements", linInv(0, "cas", []any{linN(1), linN(2), linN(3)})},
		{"write of an unsupported type", linInv(0, "write", struct{}{})},
		{"number beyond a double", linInv(0, "write", json.Number("1e999"))},
		{"number that is not a number", linInv(0, "write", json.Number("1x"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done := tc.op
			done.Type = history.OK
			h := linHist(tc.op, done, linInv(1, "read", nil), linOK(1, "read", linN(0)))
			r := linCheck(t, LinearizableOptions{Model: "cas-register", Init: linN(0)}, h)
			if r.Valid != Unknown || r.Counts["malformed"] != 1 || r.Anomalies[0].Kind != "malformed" {
				t.Errorf("got %v %+v, want unknown with one malformed anomaly; history:%s", r.Valid, r.Anomalies, linShow(h))
			}
			if notes := strings.Join(r.Notes, "\n"); !strings.Contains(notes, "malformed") || strings.Contains(notes, "could not decide") {
				t.Errorf("notes %q, want one about the malformed op and none about an undecided search", r.Notes)
			}
		})
	}
}

func TestNewLinearizableRejectsBadOptions(t *testing.T) {
	for _, opts := range []LinearizableOptions{
		{Model: "queue"},
		{Model: ""},
		{Model: "kv", Timeout: -time.Second},
		{Model: "kv", Init: struct{}{}},
	} {
		if _, err := NewLinearizable(opts); err == nil {
			t.Errorf("NewLinearizable(%+v) = nil error, want one", opts)
		}
	}
}

// linHardHistory is nonlinearizable, but proving it takes porcupine an
// exponential search: n info writes of distinct values may each take
// effect at any point (or be overwritten unseen), reads see them in order,
// and the final read sees a value nobody wrote.
func linHardHistory(n int) history.History {
	var ops []history.Op
	for i := range n {
		ops = append(ops, linInv(int64(i), "write", linN(i+1)))
	}
	for i := range n {
		ops = append(ops, linInfo(int64(i), "write", linN(i+1)))
	}
	for i := range n {
		ops = append(ops, linInv(int64(n+i), "read", nil), linOK(int64(n+i), "read", linN(n-i)))
	}
	ops = append(ops, linInv(int64(2*n), "read", nil), linOK(int64(2*n), "read", linN(-1)))
	return linHist(ops...)
}

func TestLinearizableTimeoutIsUnknown(t *testing.T) {
	h := linHardHistory(40)
	start := time.Now()
	r := linCheck(t, LinearizableOptions{Model: "register", Init: linN(0), Timeout: 50 * time.Millisecond, OutDir: t.TempDir()}, h)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("check took %v with a 50ms time limit", took)
	}
	if r.Valid != Unknown || r.Counts["keys-unknown"] != 1 || len(r.Anomalies) != 0 {
		t.Fatalf("got %v %+v counts %v, want unknown", r.Valid, r.Anomalies, r.Counts)
	}
	if len(r.Notes) == 0 || !strings.Contains(strings.Join(r.Notes, "\n"), "time limit of 50ms reached") {
		t.Errorf("notes %q, want one naming the time limit", r.Notes)
	}
	if !slices.Equal(r.Files, []string{LinearFile}) {
		t.Errorf("files %v, want %s drawn for the unknown verdict", r.Files, LinearFile)
	}
}

func TestLinearizableCancelledContextIsUnknown(t *testing.T) {
	c, err := NewLinearizable(LinearizableOptions{Model: "register", Init: linN(0)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	r := c.Check(ctx, linHardHistory(40))
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("check took %v after cancellation at 50ms", took)
	}
	if r.Valid != Unknown || len(r.Notes) == 0 || !strings.Contains(r.Notes[0], "context canceled") {
		t.Errorf("got %v, notes %q, want unknown naming the cancellation", r.Valid, r.Notes)
	}

	r = c.Check(ctx, linHist(linInv(0, "write", linN(1)), linOK(0, "write", linN(1))))
	if r.Valid != Unknown {
		t.Errorf("check under a cancelled context: got %v, want unknown", r.Valid)
	}
}

func TestLinearizableWritesLinearHTMLOnInvalid(t *testing.T) {
	bad := func(key string, stale int) []history.Op {
		return linOn(key,
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
			linInv(0, "write", linN(2)), linOK(0, "write", linN(2)),
			linInv(1, "read", nil), linOK(1, "read", linN(stale)),
		)
	}
	good := linOn("fine", linInv(2, "write", linN(5)), linOK(2, "write", linN(5)))
	cases := []struct {
		name     string
		h        history.History
		contains []string
		lacks    []string
	}{
		{"one bad key", linHist(slices.Concat(bad("x", 1), good)...), []string{"read 1"}, []string{"write 5"}},
		{"two bad keys drawn together, good keys left out", linHist(slices.Concat(bad("x", 1), good, bad("y", 7))...),
			[]string{"read 1", "read 7"}, []string{"write 5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			r := linCheck(t, LinearizableOptions{Model: "kv", OutDir: dir}, tc.h)
			if r.Valid != Invalid || !slices.Equal(r.Files, []string{LinearFile}) {
				t.Fatalf("got %v, files %v, notes %q; want invalid with %s", r.Valid, r.Files, r.Notes, LinearFile)
			}
			b, err := os.ReadFile(filepath.Join(dir, LinearFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.contains {
				if !strings.Contains(string(b), s) {
					t.Errorf("%s lacks %q", LinearFile, s)
				}
			}
			for _, s := range tc.lacks {
				if strings.Contains(string(b), s) {
					t.Errorf("%s draws %q, from a valid key", LinearFile, s)
				}
			}
		})
	}
}

func TestLinearizableLinearHTMLOnlyWhenNeededAndSmall(t *testing.T) {
	stale := linHist(
		linInv(0, "write", linN(1)), linOK(0, "write", linN(1)),
		linInv(0, "write", linN(2)), linOK(0, "write", linN(2)),
		linInv(1, "read", nil), linOK(1, "read", linN(1)),
	)
	valid := stale[:4]
	cases := []struct {
		name    string
		h       history.History
		maxOps  int
		outDir  bool
		written bool
		note    string
	}{
		{"invalid and small: written", stale, 0, true, true, ""},
		{"invalid but above MaxVisualizeOps: skipped with a note", stale, 2, true, false, "more than the limit of 2"},
		{"valid: nothing to draw", valid, 0, true, false, ""},
		{"no OutDir: nothing written", stale, 0, false, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := LinearizableOptions{Model: "register", MaxVisualizeOps: tc.maxOps}
			if tc.outDir {
				opts.OutDir = dir
			}
			r := linCheck(t, opts, tc.h)
			_, err := os.Stat(filepath.Join(dir, LinearFile))
			if written := err == nil; written != tc.written || (len(r.Files) > 0) != tc.written {
				t.Errorf("file written %v, Files %v; want written %v (verdict %v, notes %q)", written, r.Files, tc.written, r.Valid, r.Notes)
			}
			if tc.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tc.note) {
				t.Errorf("notes %q, want one saying %q", r.Notes, tc.note)
			}
		})
	}
}

func TestLinearizableGeneratedHistories(t *testing.T) {
	h := kvgen.Linearizable(7, 10, 5, 5000)
	// Keys of about 1000 operations are searched verbosely when they may be
	// drawn (the default limit), and verdict-first when they are too large
	// to draw (a limit of 10): both must catch the corrupted read.
	for _, maxDraw := range []int{0, 10} {
		t.Run(fmt.Sprintf("max visualize %d", maxDraw), func(t *testing.T) {
			opts := LinearizableOptions{Model: "kv", Init: linN(0), MaxVisualizeOps: maxDraw}
			r := linCheck(t, opts, h)
			if r.Valid != Valid || r.Counts["keys"] != 5 {
				t.Fatalf("generated linearizable history: got %v, counts %v, anomalies %+v", r.Valid, r.Counts, r.Anomalies)
			}
			// Corrupt one ok read to a value nobody writes: now that key is invalid.
			bad := slices.Clone(h)
			i := slices.IndexFunc(bad, func(op history.Op) bool { return op.F == "read" && op.IsOK() && op.Index > 4000 })
			bad[i].Value = linN(99)
			r = linCheck(t, opts, bad)
			if r.Valid != Invalid || len(r.Anomalies) != 1 || r.Anomalies[0].Key != bad[i].Key || !slices.Contains(r.Anomalies[0].Ops, bad[i].Index) {
				t.Errorf("read %d on %s corrupted to 99: got %v %+v, want one anomaly naming it", bad[i].Index, bad[i].Key, r.Valid, r.Anomalies)
			}
		})
	}
}

// TestLinearizableTestdataVerdicts reads this checker's files under
// testdata/{good,bad} and checks each has its directory's verdict.
func TestLinearizableTestdataVerdicts(t *testing.T) {
	for dir, want := range map[string]Validity{"good": Valid, "bad": Invalid} {
		for _, model := range []string{"register", "cas-register", "kv", "mutex"} {
			paths, _ := filepath.Glob(filepath.Join("..", "testdata", dir, model+"-*"))
			n := 0
			for _, path := range paths {
				if strings.HasSuffix(path, ".args") {
					continue
				}
				n++
				t.Run(filepath.Base(path), func(t *testing.T) {
					h, _, err := history.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					opts := LinearizableOptions{Model: model, OutDir: t.TempDir()}
					if args, err := os.ReadFile(path + ".args"); err == nil {
						f := strings.Fields(string(args))
						if len(f) != 2 || f[0] != "--init" {
							t.Fatalf("%s.args: %q, want --init <value>", path, args)
						}
						var v any
						d := json.NewDecoder(strings.NewReader(f[1]))
						d.UseNumber()
						if d.Decode(&v) != nil {
							v = f[1]
						}
						opts.Init = v
					}
					r := linCheck(t, opts, h)
					if r.Valid != want {
						t.Errorf("got %v, want %v; anomalies %+v; notes %q", r.Valid, want, r.Anomalies, r.Notes)
					}
					for _, a := range r.Anomalies {
						t.Logf("%s %s ops %v: %s", a.Kind, a.Key, a.Ops, a.Detail)
					}
					if want == Invalid && (len(r.Anomalies) == 0 || len(r.Files) != 1) {
						t.Errorf("anomalies %+v, files %v: want an anomaly and %s", r.Anomalies, r.Files, LinearFile)
					}
				})
			}
			if n < 2 {
				t.Errorf("testdata/%s holds %d %s histories, want at least 2", dir, n, model)
			}
		}
	}
}

// TestLinearizableMemoryBudgetAbandonsTheCostlyKey: 60 concurrent info
// writes on one key make porcupine's cache grow without end; with a
// budget, that key is unknown with a note and every other key is still
// judged. Giving up must never make the verdict valid.
func TestLinearizableMemoryBudgetAbandonsTheCostlyKey(t *testing.T) {
	h := kvgen.InfoWrites(1, 20_000, 60)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	budget := int64(ms.HeapAlloc) + 96<<20
	r := linCheck(t, LinearizableOptions{Model: "kv", Init: linN(0), MemoryLimit: budget, Timeout: 2 * time.Minute}, h)
	notes := strings.Join(r.Notes, "\n")
	if r.Valid != Unknown || r.Counts["keys-unknown"] != 1 || r.Counts["keys-invalid"] != 0 || r.Counts["keys"] != 11 {
		t.Fatalf("got %v, counts %v, notes %q; want unknown with key hot the one unknown of 11", r.Valid, r.Counts, r.Notes)
	}
	if !strings.Contains(notes, "memory budget") || !strings.Contains(notes, "key hot") || strings.Contains(notes, "time limit") {
		t.Fatalf("notes %q; want the memory budget naming key hot, and no time-out", r.Notes)
	}
}

// Knossos's mutex: acquire takes a free lock, release frees a held one; a
// failed acquire never happened, an info one may have.
func TestLinearizableMutexModel(t *testing.T) {
	cases := []struct {
		name string
		h    history.History
		want Validity
	}{
		{"acquire, release, acquire in turn", linHist(
			linInv(0, "acquire", nil), linOK(0, "acquire", nil),
			linInv(1, "acquire", nil), linFail(1, "acquire", nil),
			linInv(0, "release", nil), linOK(0, "release", nil),
			linInv(1, "acquire", nil), linOK(1, "acquire", nil),
		), Valid},
		{"two processes hold the lock at once", linHist(
			linInv(0, "acquire", nil), linOK(0, "acquire", nil),
			linInv(1, "acquire", nil), linOK(1, "acquire", nil),
		), Invalid},
		{"release of a lock nobody holds", linHist(
			linInv(0, "release", nil), linOK(0, "release", nil),
		), Invalid},
		{"an acquire that crashed may never have taken the lock", linHist(
			linInv(0, "acquire", nil), linInfo(0, "acquire", nil),
			linInv(1, "acquire", nil), linOK(1, "acquire", nil),
		), Valid},
		{"a release concurrent with an acquire lets it in", linHist(
			linInv(0, "acquire", nil), linOK(0, "acquire", nil),
			linInv(1, "acquire", nil),
			linInv(0, "release", nil), linOK(0, "release", nil),
			linOK(1, "acquire", nil),
		), Valid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// --init is meaningless for a mutex: it always starts unlocked.
			r := linCheck(t, LinearizableOptions{Model: "mutex", Init: linN(3)}, tc.h)
			if r.Valid != tc.want {
				t.Fatalf("verdict %v, want %v: %+v %v%s", r.Valid, tc.want, r.Anomalies, r.Notes, linShow(tc.h))
			}
			if tc.want == Invalid && !strings.Contains(r.Anomalies[0].Detail, "acquire") && !strings.Contains(r.Anomalies[0].Detail, "release") {
				t.Errorf("the anomaly should name the mutex op: %s", r.Anomalies[0].Detail)
			}
		})
	}
	// The register ops mean nothing to a mutex: ignored, with a note.
	r := linCheck(t, LinearizableOptions{Model: "mutex"}, linHist(
		linInv(0, "acquire", nil), linOK(0, "acquire", nil),
		linInv(1, "read", nil), linOK(1, "read", linN(1)),
	))
	if r.Valid != Valid || r.Counts["ignored"] != 1 {
		t.Fatalf("verdict %v, counts %v", r.Valid, r.Counts)
	}
}
