package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaoscheck/chaoscheck/checker"
	_ "github.com/chaoscheck/chaoscheck/checker/elle" // registers list-append and rw-register
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/report"
	"github.com/chaoscheck/chaoscheck/store"
)

// analyzeConfig is what the analyze flags say.
type analyzeConfig struct {
	path          string
	workload      string
	checkers      []string
	init          string
	timeout       time.Duration
	out           string
	jsonOut       bool
	total         int64
	totalSet      bool
	initSet       bool
	accounts      []string
	allowNegative bool
	models        []string
	memory        byteSize
}

var analyzeFlags analyzeConfig

var analyzeCmd = &cobra.Command{
	Use:   "analyze FILE|RUN-DIR",
	Short: "Check a recorded history (JSONL, JSON array or Jepsen EDN)",
	Long: `Check a history from any system: chaoscheck's history.jsonl, a JSON array of
the same op objects, or a Jepsen/Knossos history.edn. The format is detected
from the content. A run directory (or store/latest) is read from its
history.jsonl and judged by the checkers its workload names.

Workloads and their checkers:
  register      linearizable (one register: read, write)        + stats
  cas-register  linearizable (one register: read, write, cas)   + stats
  kv            linearizable (a cas-register per key)           + stats
  mutex         linearizable (Knossos's mutex: acquire, release) + stats
  set           set (lost, unexpected, duplicated, recovered)   + stats
  set-full      set-full (every read: lost, stale, duplicated)  + stats
  bank          bank (every read sums to the total)             + stats
  counter       counter (every read within the adds' bounds)    + stats
  txid          txid (every tx_id applied exactly once)         + stats
  list-append   Elle: txns of appends and list reads (G0 … G2)  + stats
  rw-register   Elle: txns of register writes and reads         + stats

Exit codes: 0 valid, 1 invalid, 2 unknown, 254 unreadable input or bad
arguments, 255 internal error.`,
	Example: `  chaoscheck analyze --workload cas-register --init 0 testdata/good/cas-register-knossos.edn
  chaoscheck analyze --workload set testdata/bad/set-lost-ack.jsonl
  chaoscheck analyze --workload bank --total 100 --json history.jsonl
  chaoscheck analyze --checkers txid,bank store/latest
  chaoscheck analyze --workload kv --timeout 30s --out /tmp/check history.jsonl
  chaoscheck analyze --workload list-append --consistency-models serializable history.edn`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		cfg := analyzeFlags
		cfg.path = args[0]
		cfg.totalSet = cmd.Flags().Changed("total")
		cfg.initSet = cmd.Flags().Changed("init")
		return runAnalyze(cmd.Context(), cmd, cfg)
	},
}

func init() {
	f := analyzeCmd.Flags()
	f.StringVarP(&analyzeFlags.workload, "workload", "w", "", "workload whose checkers judge the history: "+strings.Join(checker.Workloads(), ", ")+" (default: for a run directory, the checkers the run used; else kv)")
	f.StringSliceVar(&analyzeFlags.checkers, "checkers", nil, "explicit checker list instead of --workload: linearizable, txid, set, set-full, bank, counter, stats, replica-hash, list-append, rw-register")
	f.StringVar(&analyzeFlags.init, "init", "nil", "linearizable: initial register value, as JSON (0, \"x\") or nil")
	f.DurationVar(&analyzeFlags.timeout, "timeout", 5*time.Minute, "linearizable, list-append, rw-register: time limit for the check; running out gives unknown")
	f.Var(&analyzeFlags.memory, "memory", "memory budget, e.g. 512MiB or 4GiB: the linearizability search gives up on a key (unknown, with a note) rather than exceed it (default: half the memory available when analyze starts)")
	f.StringVarP(&analyzeFlags.out, "out", "o", "", "directory for results.json, report.html and linear.html (default: none; for a run directory, the run directory: analysis.json and analysis.html)")
	f.BoolVar(&analyzeFlags.jsonOut, "json", false, "print results as JSON instead of the human summary")
	f.Int64Var(&analyzeFlags.total, "total", 0, "bank: the sum every read must have (default: the first read's sum)")
	f.StringSliceVar(&analyzeFlags.accounts, "accounts", nil, "bank: the accounts every read must hold (default: the first read's)")
	f.BoolVar(&analyzeFlags.allowNegative, "allow-negative", false, "bank: negative balances are legal")
	f.StringSliceVar(&analyzeFlags.models, "consistency-models", nil, "list-append, rw-register: models the history must satisfy, e.g. serializable,strong-session-snapshot-isolation (default strict-serializable)")
	rootCmd.AddCommand(analyzeCmd)
}

func runAnalyze(ctx context.Context, cmd *cobra.Command, cfg analyzeConfig) error {
	if ctx == nil {
		ctx = context.Background()
	}
	file, run, err := resolveHistory(cfg.path)
	if err != nil {
		return badInput(err)
	}
	if cfg.out == "" && run != nil {
		cfg.out = filepath.Dir(file)
	}
	init, err := parseInit(cfg.init)
	if err != nil {
		return badInput(fmt.Errorf("--init: %w", err))
	}
	budget := int64(cfg.memory)
	if budget == 0 {
		budget = defaultMemoryBudget()
	}
	opts := checker.Options{Init: init, Timeout: cfg.timeout, OutDir: cfg.out, Accounts: cfg.accounts, AllowNegative: cfg.allowNegative,
		ConsistencyModels: cfg.models, Memory: budget}
	if cfg.totalSet {
		t := cfg.total
		opts.Total = &t
	}
	var checkers []checker.Checker
	switch {
	case len(cfg.checkers) > 0 && cfg.workload != "":
		return badInput(errors.New("give --workload or --checkers, not both"))
	case len(cfg.checkers) > 0:
		checkers, err = checker.Build(cfg.checkers, opts)
	case cfg.workload == "" && run != nil && len(run.checkers) > 0:
		// Judge a stored run as the run did, with the options it recorded;
		// flags the user gave win.
		opts = run.options(opts, cfg)
		checkers, err = checker.Build(run.checkers, opts)
	default:
		w := cfg.workload
		if w == "" {
			w = "kv"
		}
		checkers, err = checker.ForWorkload(w, opts)
	}
	if err != nil {
		return badInput(err)
	}
	if cfg.out != "" {
		if err := os.MkdirAll(cfg.out, 0o755); err != nil {
			return badInput(fmt.Errorf("--out: %w", err))
		}
	}

	if res, ok := analyzeStreamed(ctx, file, run, cfg, checkers, budget); ok {
		return printAnalysis(cmd, cfg, res)
	}
	h, warnings, err := history.ReadFileWithin(file, budget)
	if errors.Is(err, history.ErrNoOps) && run != nil && store.CutShort(filepath.Dir(file)) != "" {
		err = nil // a run cut short before its first op: unknown below, as the run said
	}
	if errors.Is(err, history.ErrTooLarge) {
		return badInput(fmt.Errorf("%w; give analyze more with --memory", err))
	}
	if err != nil {
		return badInput(err)
	}
	limitHeapGrowth(budget)
	// The analysis has the schema of a run's results.json, so tools that
	// read one read the other.
	res := store.Results{History: file, Ops: len(h)}
	for _, w := range warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
		res.Notes = append(res.Notes, "warning: "+w.String())
	}
	res.SetVerdict(checker.Compose(checkers...).Check(ctx, h))
	if run != nil {
		// A run cut short is at best unknown, as the run itself said
		// (store.CutShort): one verdict for one history.
		if why := store.CutShort(filepath.Dir(file)); why != "" {
			res.Valid = checker.Merge(res.Valid, checker.Unknown)
			res.Notes = append(res.Notes, why+": the verdict cannot be valid")
		}
	}

	if cfg.out != "" {
		name := "results.json"
		if run != nil {
			name = "analysis.json" // a run's own results.json is the run's record; keep it
		}
		if err := store.WriteJSON(filepath.Join(cfg.out, name), res); err != nil {
			return &exitError{code: exitInternal, err: err}
		}
		if err := writeAnalysisHTML(cfg.out, run != nil, res, h); err != nil {
			return &exitError{code: exitInternal, err: err}
		}
	}
	return printAnalysis(cmd, cfg, res)
}

// analyzeStreamed judges the history as it is read, without holding it,
// when the checkers can (checker.Stream: linearizable and stats) and
// nothing is to be drawn from the history (no --out, not a run
// directory). ok is false when the history must be read whole instead:
// then the usual path decides, and reports, everything (errors naming
// file and line, warnings, anomalies to explain, a history beyond the
// memory budget, which does not fit streamed either).
func analyzeStreamed(ctx context.Context, file string, run *runInfo, cfg analyzeConfig, checkers []checker.Checker, budget int64) (_ store.Results, streamed bool) {
	if cfg.out != "" || run != nil {
		return store.Results{}, false
	}
	defer func(limit int64) {
		if !streamed { // the history is read whole next: its own limit, later
			debug.SetMemoryLimit(limit)
		}
	}(debug.SetMemoryLimit(-1))
	s, ok := checker.Stream(checkers...)
	if !ok {
		return store.Results{}, false
	}
	room := budget - history.StreamMemory()
	if room <= 0 {
		return store.Results{}, false
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// As limitHeapGrowth does for a history held whole: the GC works
		// harder before the budget is reached, with a quarter kept for
		// what the Go runtime does not count (the binary, the kernel's).
		debug.SetMemoryLimit(budget / 4 * 3)
	}
	seen := int64(0)
	observe := func(op *history.Op) error {
		if seen++; seen&0xfff == 0 && seen*checker.StreamedOpBytes > room {
			return history.ErrTooLarge
		}
		return s.Observe(op)
	}
	n, err := history.Stream(file, observe)
	if err != nil {
		return store.Results{}, false
	}
	r, complete := s.Result(ctx)
	if !complete {
		return store.Results{}, false
	}
	res := store.Results{History: file, Ops: n}
	res.SetVerdict(r)
	return res, true
}

// printAnalysis prints the analysis and gives the verdict's exit.
func printAnalysis(cmd *cobra.Command, cfg analyzeConfig, res store.Results) error {
	w := cmd.OutOrStdout()
	if cfg.jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return &exitError{code: exitInternal, err: err}
		}
	} else if err := report.WriteSummary(w, res); err != nil {
		return &exitError{code: exitInternal, err: err}
	}
	return verdictExit(res.Valid)
}

// verdictExit maps a verdict to the command's exit: nil for valid.
func verdictExit(v checker.Validity) error {
	switch v {
	case checker.Valid:
		return nil
	case checker.Invalid:
		return &exitError{code: exitInvalid}
	default:
		return &exitError{code: exitUnknown}
	}
}

// parseInit reads --init as JSON with numbers kept as json.Number, the
// representation the readers give values; "nil" is Clojure's spelling. A
// bare word (letters, digits, - and _, starting with a letter) is a string,
// as a user would mean it; anything else must be one whole JSON value, so
// a typo such as '{bad' is an error, never a string.
func parseInit(s string) (any, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "nil" || s == "null" {
		return nil, nil
	}
	if bareWord(s) && s != "true" && s != "false" {
		return s, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%q is not JSON: %v (quote a string: '\"x\"')", s, err)
	}
	if dec.More() || dec.InputOffset() != int64(len(s)) {
		return nil, fmt.Errorf("%q holds more than one JSON value", s)
	}
	return v, nil
}

func bareWord(s string) bool {
	for i, c := range s {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '-' || c == '_')) {
			return false
		}
	}
	return true
}

// runInfo is what a run directory says about how its history was judged.
type runInfo struct {
	checkers []string // the checkers its config.json (or results.json) names
	record   store.Record
	recordOK bool
}

// options are the checker options the run recorded, under what the user
// set explicitly.
func (r *runInfo) options(flags checker.Options, cfg analyzeConfig) checker.Options {
	if !r.recordOK {
		return flags
	}
	o, err := r.record.CheckerOptions()
	if err != nil {
		return flags
	}
	o.Timeout, o.OutDir, o.Memory, o.AllowNegative = flags.Timeout, flags.OutDir, flags.Memory, flags.AllowNegative
	if cfg.initSet {
		o.Init = flags.Init
	}
	if cfg.totalSet {
		o.Total = flags.Total
	}
	if len(flags.Accounts) > 0 {
		o.Accounts = flags.Accounts
	}
	if len(flags.ConsistencyModels) > 0 {
		o.ConsistencyModels = flags.ConsistencyModels
	}
	return o
}

// resolveHistory turns a file, a run directory or a store (its latest
// run) into the history file to read, and, for a run, how the run judged
// it: the checkers and options its config.json records (store.Record),
// else the checkers its results.json names.
func resolveHistory(path string) (string, *runInfo, error) {
	file, err := store.HistoryPath(path)
	if err != nil {
		return "", nil, err
	}
	if file == path {
		return file, nil, nil
	}
	dir := filepath.Dir(file)
	run := &runInfo{}
	if rec, err := store.ReadRecord(dir); err == nil {
		run.record, run.recordOK = rec, true
		run.checkers = rec.Checkers
	}
	// results.json names every checker the run used. config.json names
	// the target's own (etcd's replica-hash) only in runs stored since
	// the runner records them; without them analyze judged VALID an older
	// etcd run that run had found INVALID (diverged members).
	if res, err := store.Load(dir); err == nil {
		for _, c := range res.Checkers {
			if !slices.Contains(run.checkers, c.Checker) {
				run.checkers = append(run.checkers, c.Checker)
			}
		}
	}
	return file, run, nil
}

// writeAnalysisHTML writes the report a person looks at beside the
// results: report.html, or analysis.html in a run directory, whose own
// report.html describes the run (workload, seed) and is kept.
func writeAnalysisHTML(dir string, inRun bool, res store.Results, h history.History) error {
	if !inRun {
		return report.WriteHTMLFile(dir, res, h)
	}
	f, err := os.Create(filepath.Join(dir, "analysis.html"))
	if err != nil {
		return err
	}
	if err := report.WriteHTML(f, res, h); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkHeadroom is how far the heap may grow past the history while the
// checkers run.
const checkHeadroom = 256 << 20

// limitHeapGrowth caps the heap at what is live now (the history) plus
// checkHeadroom, or at the memory budget if that is lower, unless the user
// set GOMEMLIMIT. porcupine's search makes gigabytes of short-lived
// garbage; with Go's default GC pacing the heap grows to about twice the
// live history before it is collected, which on a 1M-op kv history is the
// difference between ~600 MB and ~900 MB peak at the same speed
// (checker/linearizable_bench_test.go). A soft limit: the GC works harder
// near it, it never fails an allocation.
func limitHeapGrowth(budget int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	debug.SetMemoryLimit(min(int64(ms.HeapAlloc)+checkHeadroom, budget))
}
