package store

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
)

func TestTestNameKeepsNamesInsideTheStore(t *testing.T) {
	for _, tc := range []struct{ w, n, want string }{
		{"register", "restart-leader", "register-restart-leader"},
		{"bank", "kill,pause", "bank-kill+pause"},
		{"set", "", "set-none"},
		{"../x", "a/b", "___x-a_b"},
	} {
		if got := TestName(tc.w, tc.n); got != tc.want {
			t.Errorf("TestName(%q, %q) = %q, want %q", tc.w, tc.n, got, tc.want)
		}
	}
}

func TestCreateNeverReusesARunDirectory(t *testing.T) {
	root := t.TempDir()
	start := time.Date(2026, 11, 25, 18, 4, 5, 123_400_000, time.Local)
	a, err := Create(root, "bank-kill", start)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Create(root, "bank-kill", start)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(a.Dir) != "20261125T180405.123" {
		t.Errorf("first run dir %s, want name 20261125T180405.123", a.Dir)
	}
	if a.Dir == b.Dir || filepath.Base(b.Dir) != "20261125T180405.124" {
		t.Errorf("second run in the same millisecond got %s (first %s)", b.Dir, a.Dir)
	}
}

func TestMarkLatestReplacesLinksAtomically(t *testing.T) {
	root := t.TempDir()
	start := time.Now()
	first, err := Create(root, "set-kill", start)
	if err != nil {
		t.Fatal(err)
	}
	if err := MarkLatest(first); err != nil {
		t.Fatal(err)
	}

	// A reader polling the link while it is replaced over and over must
	// always find a directory: never a missing link, never a dangling one.
	var stop atomic.Bool
	var misses atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if fi, err := os.Stat(filepath.Join(root, LatestLink)); err != nil || !fi.IsDir() {
				misses.Add(1)
			}
		}
	}()
	var last *Run
	for i := range 200 {
		r, err := Create(root, "set-kill", start.Add(time.Duration(i+1)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := MarkLatest(r); err != nil {
			t.Fatal(err)
		}
		last = r
	}
	stop.Store(true)
	wg.Wait()
	if n := misses.Load(); n > 0 {
		t.Errorf("latest link was missing or dangling %d times while being replaced", n)
	}
	for _, link := range []string{filepath.Join(root, LatestLink), filepath.Join(root, "set-kill", LatestLink)} {
		got, err := filepath.EvalSymlinks(link)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := filepath.EvalSymlinks(last.Dir)
		if got != want {
			t.Errorf("%s -> %s, want %s", link, got, want)
		}
		if target, _ := os.Readlink(link); filepath.IsAbs(target) {
			t.Errorf("%s -> %s: want a relative link so the store can move", link, target)
		}
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if e.Name() != LatestLink && e.Name() != "set-kill" {
			t.Errorf("stray file left in the store: %s", e.Name())
		}
	}
}

func TestListNewestFirstSkippingNonRuns(t *testing.T) {
	root := t.TempDir()
	base := time.Date(2026, 11, 25, 18, 0, 0, 0, time.Local)
	mk := func(test string, off time.Duration, v checker.Validity) *Run {
		r, err := Create(root, test, base.Add(off))
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(r.Path(ResultsFile), Results{Valid: v}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	old := mk("bank-kill", 0, checker.Valid)
	newest := mk("register-restart-leader", 2*time.Minute, checker.Invalid)
	mid := mk("bank-kill", time.Minute, checker.Unknown)
	inProgress, err := Create(root, "set-none", base.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := MarkLatest(newest); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(root, "bank-kill", "not-a-run"), 0o755)

	got, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []*Run{newest, mid, old, inProgress}
	if len(got) != len(want) {
		t.Fatalf("List found %d runs, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Dir != w.Dir || !got[i].Start.Equal(w.Start) || got[i].Test != w.Test {
			t.Errorf("run %d: got %s (%s), want %s", i, got[i].Dir, got[i].Start, w.Dir)
		}
	}
	if got[0].Results == nil || got[0].Results.Valid != checker.Invalid {
		t.Errorf("newest run's results not loaded: %+v", got[0])
	}
	if got[3].Results != nil || got[3].Err == nil {
		t.Errorf("run without results.json: Results %v, Err %v; want nil and an error", got[3].Results, got[3].Err)
	}

	if none, err := List(filepath.Join(root, "missing")); err != nil || len(none) != 0 {
		t.Errorf("List of a missing store = %v, %v; want empty, nil", none, err)
	}
}

func TestLoadRoundTripsResults(t *testing.T) {
	r, err := Create(t.TempDir(), "bank-alternate-kill", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stats := checker.Result{Checker: "stats", Valid: checker.Valid, Details: &checker.StatsDetails{
		ByF:     map[string]*checker.FStats{"transfer": {Invoke: 10, OK: 7, Fail: 2, Info: 1, Latency: &checker.Latency{N: 7, P50: 1.5, P90: 3, P99: 4, Max: 4}}},
		Nemesis: map[string]*checker.FStats{"kill": {Invoke: 4, Info: 4}},
	}}
	txid := checker.Result{Checker: "txid", Valid: checker.Invalid,
		Anomalies: []checker.Anomaly{{Kind: "duplicated", Ops: []int64{3, 9}, Key: "t1-2"}}}
	in := Results{Workload: "bank", Nemesis: "alternate-kill", Seed: 42, Version: "test",
		Start: time.Now().Round(0), DurationSec: 1.5, Dir: r.Dir, Config: json.RawMessage(`{"keys":5}`)}
	in.SetVerdict(checker.Result{Checker: "compose", Valid: checker.Invalid, Details: []checker.Result{stats, txid}})
	if in.Counts["transfer"].OK != 7 || in.NemesisCounts["kill"].Invoke != 4 {
		t.Fatalf("SetVerdict did not take counts from the stats result: %+v", in)
	}
	if err := WriteJSON(r.Path(ResultsFile), in); err != nil {
		t.Fatal(err)
	}

	out, err := Load(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if out.Valid != checker.Invalid || out.Seed != 42 || out.Workload != "bank" || !out.Start.Equal(in.Start) {
		t.Errorf("loaded %+v, want %+v", out, in)
	}
	if len(out.Checkers) != 2 || out.Checkers[1].Anomalies[0].Ops[1] != 9 {
		t.Errorf("checker results lost: %+v", out.Checkers)
	}
	if out.Counts["transfer"].Latency.P90 != 3 {
		t.Errorf("latency lost: %+v", out.Counts["transfer"])
	}
	var cfg struct{ Keys int }
	if err := json.Unmarshal(out.Config, &cfg); err != nil || cfg.Keys != 5 {
		t.Errorf("config %s", out.Config)
	}
	// Decoded details are maps, not *StatsDetails: StatsOf still reads them.
	if d, ok := StatsOf(out.Checkers); !ok || d.ByF["transfer"].Info != 1 {
		t.Errorf("StatsOf on loaded results = %+v, %v", d, ok)
	}

	if _, err := Load(filepath.Join(r.Store, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing run: %v, want fs.ErrNotExist", err)
	}
}

func TestHistoryPathResolvesRunDirsAndLatest(t *testing.T) {
	root := t.TempDir()
	r, err := Create(root, "set-kill", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := r.Path(HistoryFile)
	if err := os.WriteFile(h, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := MarkLatest(r); err != nil {
		t.Fatal(err)
	}
	edn := filepath.Join(t.TempDir(), "history.edn")
	os.WriteFile(edn, []byte("{}\n"), 0o644)

	for _, tc := range []struct{ name, in, want string }{
		{"file", h, h},
		{"run dir", r.Dir, h},
		{"latest link", filepath.Join(root, LatestLink), filepath.Join(root, LatestLink, HistoryFile)},
		{"test latest link", filepath.Join(root, "set-kill", LatestLink), filepath.Join(root, "set-kill", LatestLink, HistoryFile)},
		{"store root", root, filepath.Join(root, LatestLink, HistoryFile)},
		{"dir with edn", filepath.Dir(edn), edn},
	} {
		got, err := HistoryPath(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s: HistoryPath(%s) = %q, %v; want %q", tc.name, tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{filepath.Join(root, "missing"), t.TempDir()} {
		if _, err := HistoryPath(bad); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("HistoryPath(%s) error %v, want fs.ErrNotExist", bad, err)
		}
	}
}

func TestRemoveNodeDataKeepsNodeLogs(t *testing.T) {
	r, err := Create(t.TempDir(), "register-kill", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n1", "n2"} {
		os.MkdirAll(filepath.Join(r.NodeDir(n), "data", "badger"), 0o755)
		os.WriteFile(filepath.Join(r.NodeDir(n), "data", "badger", "000001.vlog"), []byte("x"), 0o644)
		os.WriteFile(filepath.Join(r.NodeDir(n), "state.db"), []byte("x"), 0o644)
		os.WriteFile(filepath.Join(r.NodeDir(n), NodeLogFile), []byte("log"), 0o644)
	}
	if err := r.RemoveNodeData(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n1", "n2"} {
		ents, _ := os.ReadDir(r.NodeDir(n))
		if len(ents) != 1 || ents[0].Name() != NodeLogFile {
			t.Errorf("node %s holds %v after RemoveNodeData; want only %s", n, ents, NodeLogFile)
		}
	}
}
