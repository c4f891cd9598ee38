package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/atomicfile"
)

// Results is results.json: everything needed to judge a run without
// rerunning it, and to rerun it (Seed and Config).
type Results struct {
	Valid    checker.Validity `json:"valid"`
	Workload string           `json:"workload,omitempty"`
	Nemesis  string           `json:"nemesis,omitempty"`
	Scenario string           `json:"scenario,omitempty"`
	Seed     int64            `json:"seed"`
	Version  string           `json:"chaoscheck_version,omitempty"`

	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	DurationSec float64   `json:"duration_sec"`
	Dir         string    `json:"dir,omitempty"`     // the run directory, absolute
	History     string    `json:"history,omitempty"` // the history file judged
	Ops         int       `json:"ops"`               // ops in the history

	// Interrupted is set when the run was cancelled (Ctrl-C) before its
	// time limit: the verdict covers what was recorded until then.
	Interrupted bool `json:"interrupted,omitempty"`
	// NoFinalRead is set when the run did not complete its final reads
	// (interrupted, or they failed): see CutShort.
	NoFinalRead bool `json:"no_final_read,omitempty"`
	// Notes are the runner's remarks on the run itself (a heal that
	// failed, no final read …), apart from each checker's notes.
	Notes []string `json:"notes,omitempty"`

	// Counts are client ops per f by type, with ok-latency quantiles;
	// NemesisCounts the same for nemesis ops. Both come from the stats
	// checker.
	Counts        map[string]*checker.FStats `json:"counts,omitempty"`
	NemesisCounts map[string]*checker.FStats `json:"nemesis_counts,omitempty"`

	// Partitions are the network partitions the nemesis started, in
	// order, with their grudges (node → nodes it dropped traffic from).
	Partitions []Partition `json:"partitions,omitempty"`

	// Checkers holds every checker's result; Valid is their Merge.
	Checkers []checker.Result `json:"checkers"`

	// Config is the run's configuration as the runner recorded it in
	// config.json (kept raw: store does not know the runner's types).
	Config json.RawMessage `json:"config,omitempty"`
}

// Partition is one start-partition of a run: when (seconds since the run
// began) and the grudge, as recorded in the history.
type Partition struct {
	AtSec  float64 `json:"at_sec"`
	Grudge any     `json:"grudge"`
}

// PartitionsOf lists the partitions h's nemesis started: the completions
// of its start-partition ops.
func PartitionsOf(h history.History) []Partition {
	var ps []Partition
	for _, op := range h {
		if op.Process == history.NemesisProcess && op.F == "start-partition" && op.Type != history.Invoke && op.Error == "" {
			ps = append(ps, Partition{AtSec: float64(op.Time) / 1e9, Grudge: op.Value})
		}
	}
	return ps
}

// SetVerdict fills Valid, Checkers and the counts from a checker result:
// a Compose result contributes each sub-result, any other result itself;
// counts come from a "stats" result among them, when there is one.
func (r *Results) SetVerdict(res checker.Result) {
	r.Valid = res.Valid
	r.Checkers = checker.SubResults(res)
	if r.Checkers == nil {
		r.Checkers = []checker.Result{res}
	}
	if d, ok := StatsOf(r.Checkers); ok {
		r.Counts, r.NemesisCounts = d.ByF, d.Nemesis
	}
}

// StatsOf finds the stats checker's details among results. It accepts
// the live *checker.StatsDetails and the map a results.json decodes to.
func StatsOf(results []checker.Result) (*checker.StatsDetails, bool) {
	for _, r := range results {
		if r.Checker != "stats" || r.Details == nil {
			continue
		}
		switch d := r.Details.(type) {
		case *checker.StatsDetails:
			return d, true
		case checker.StatsDetails:
			return &d, true
		}
		b, err := json.Marshal(r.Details)
		if err != nil {
			continue
		}
		var d checker.StatsDetails
		if json.Unmarshal(b, &d) == nil {
			return &d, true
		}
	}
	return nil, false
}

// Load reads results.json from a run directory (or from the latest link,
// or from the results file itself).
func Load(runDir string) (Results, error) {
	path := runDir
	if fi, err := os.Stat(runDir); err == nil && fi.IsDir() {
		path = filepath.Join(runDir, ResultsFile)
	}
	var r Results
	b, err := os.ReadFile(path)
	if err != nil {
		return r, fmt.Errorf("store: load results: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("store: load %s: %w", path, err)
	}
	return r, nil
}

// WriteJSON writes v, indented, to path with atomicfile's rule (temporary
// file, fsync, rename, fsync of the directory), so a reader or a crash
// never sees half a file.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", filepath.Base(path), err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// CutShort applies the one rule for a run that did not run its course,
// the same in `run` and in `analyze` of its run directory: a run is
// complete only once its results.json says it made its final reads; a
// run interrupted (Ctrl-C, SIGTERM), stopped before its final reads,
// still running, or killed before it wrote results.json is cut short,
// and its verdict is at best unknown, whatever the checkers find in the
// part that was recorded. It returns why runDir's run is cut short, or ""
// when it is complete. (analyze of a bare history file has no run to ask
// and judges the history alone.)
func CutShort(runDir string) string {
	r, err := Load(runDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "the run has no " + ResultsFile + ": it is still running, or was killed before it finished"
	case err != nil:
		return err.Error()
	case r.Interrupted:
		return "the run was interrupted before its final reads"
	case r.NoFinalRead:
		return "the run made no final read"
	}
	return ""
}
