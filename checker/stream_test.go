package checker

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/kvgen"
)

// streamedResult streams h through the checkers' Streamer; complete is
// false when the Streamer asked for the whole history.
func streamedResult(t *testing.T, cs []Checker, h history.History) (Result, bool) {
	t.Helper()
	s, ok := Stream(cs...)
	if !ok {
		t.Fatal("linearizable and stats checkers without OutDir do not stream")
	}
	for i := range h {
		if err := s.Observe(&h[i]); err != nil {
			return Result{}, false
		}
	}
	return s.Result(context.Background())
}

func resultJSON(t *testing.T, r Result) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// streamAgreesWithCheck fails t unless streaming h gives Compose's result
// on h exactly, or declines.
func streamAgreesWithCheck(t *testing.T, workload string, opts Options, h history.History) (streamed bool) {
	t.Helper()
	cs, err := ForWorkload(workload, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := Compose(cs...).Check(context.Background(), h)
	got, complete := streamedResult(t, cs, h)
	if !complete {
		return false
	}
	if g, w := resultJSON(t, got), resultJSON(t, want); g != w {
		t.Errorf("%s: streamed result\n%s\nCheck's\n%s", workload, g, w)
	}
	return true
}

func TestStreamedVerdictIsChecksVerdict(t *testing.T) {
	// As in TestLinearizableGeneratedHistories: a read corrupted late in a
	// key's history would take any search exponential time to refute.
	gen := kvgen.Linearizable(7, 10, 5, 5000)
	bad := slices.Clone(gen)
	i := slices.IndexFunc(bad, func(op history.Op) bool { return op.F == "read" && op.IsOK() && op.Index > 4000 })
	bad[i].Value = json.Number("99")
	init := Options{Init: json.Number("0")}
	cases := []struct {
		name     string
		workload string
		opts     Options
		h        history.History
		streamed bool
	}{
		{"generated kv, valid", "kv", init, gen, true},
		{"generated kv, one read corrupted: explained from the whole history", "kv", init, bad, false},
		{"single register", "register", init, linHist(
			linInv(0, "write", linN(1)), linInv(1, "read", nil), linOK(0, "write", linN(1)), linOK(1, "read", linN(1)),
			linInv(2, "write", linN(2)), linInfo(2, "write", linN(2)), history.Op{Process: -1, Type: history.Info, F: "kill"}), true},
		{"ignored fs and an unfinished cas", "cas-register", init, linHist(
			linInv(0, "add", linN(1)), linOK(0, "add", linN(1)), linInv(1, "cas", linCas(linN(0), linN(3))),
			linInv(2, "read", nil), linOK(2, "read", linN(0))), true},
		{"malformed cas: from the whole history", "cas-register", init, linHist(
			linInv(0, "cas", linN(1)), linOK(0, "cas", linN(1))), false},
		{"kv without keys: maybe independent tuples", "kv", init, linHist(
			linInv(0, "write", linN(1)), linOK(0, "write", linN(1))), false},
		{"nemesis only", "kv", init, linHist(history.Op{Process: -1, Type: history.Info, F: "start"}), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := streamAgreesWithCheck(t, tc.workload, tc.opts, tc.h); got != tc.streamed {
				t.Errorf("streamed %v, want %v", got, tc.streamed)
			}
		})
	}
	// Every linearizable testdata history: streamed or declined, never a
	// different verdict.
	for _, glob := range []string{"../testdata/*/kv-*", "../testdata/*/register-*", "../testdata/*/cas-register-*"} {
		paths, _ := filepath.Glob(glob)
		for _, p := range paths {
			if filepath.Ext(p) == ".args" {
				continue
			}
			h, _, err := history.ReadFile(p)
			if err != nil {
				continue // malformed on purpose
			}
			for _, w := range []string{"kv", "register", "cas-register"} {
				streamAgreesWithCheck(t, w, init, h)
			}
		}
	}
}

func TestStreamedTimeoutIsUnknown(t *testing.T) {
	cs, err := ForWorkload("register", Options{Init: linN(0), Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, complete := streamedResult(t, cs, linHardHistory(40))
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v with a 50ms time limit", took)
	}
	lin := SubResults(r)[0]
	if !complete || r.Valid != Unknown || lin.Valid != Unknown || lin.Counts["keys-unknown"] != 1 {
		t.Fatalf("complete %v, verdict %v, linearizable %v %v; want a complete unknown", complete, r.Valid, lin.Valid, lin.Counts)
	}
}

func TestLinearHTMLNeedsTheWholeHistory(t *testing.T) {
	cs, err := ForWorkload("kv", Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := Stream(cs...); ok {
		t.Error("a linearizable checker that may draw linear.html streams")
	}
}

// FuzzStreamedVerdictIsChecks: on any history the reader accepts, the
// streamed linearizable and stats checkers give Compose's result exactly,
// or ask for the whole history.
func FuzzStreamedVerdictIsChecks(f *testing.F) {
	for _, glob := range []string{"../testdata/*/kv-*.jsonl", "../testdata/*/register-*.jsonl", "../testdata/*/cas-register-*.jsonl"} {
		paths, _ := filepath.Glob(glob)
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, _, err := history.Read(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		for _, w := range []string{"kv", "cas-register"} {
			// The limits bound the search; a result they cut short depends
			// on timing, and is not compared.
			opts := Options{Init: json.Number("0"), Timeout: 2 * time.Second, Memory: 1 << 30}
			cs, err := ForWorkload(w, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := Compose(cs...).Check(context.Background(), h)
			got, complete := streamedResult(t, cs, h)
			if !complete || slices.ContainsFunc(SubResults(want), linStopped) || slices.ContainsFunc(SubResults(got), linStopped) {
				continue
			}
			if g, w := resultJSON(t, got), resultJSON(t, want); g != w {
				t.Fatalf("streamed result\n%s\nCheck's\n%s\non %q", g, w, data)
			}
		}
	})
}

// linStopped reports a result a time limit or the memory budget cut short.
func linStopped(r Result) bool {
	return slices.ContainsFunc(r.Notes, func(n string) bool {
		return strings.Contains(n, "stopped") || strings.Contains(n, "time limit") || strings.Contains(n, "memory budget")
	})
}
