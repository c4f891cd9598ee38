package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chaoscheck/chaoscheck/checker"
)

// Record is a run's config.json as every reader sees it: what was run
// (workload, nemesis, target, seed, seeded bugs), the command that reruns
// it, and how its history is judged (the checkers and their options, the
// bank's accounts and total). The runner writes it at the start of a run,
// before anything can fail, so even a run killed in its first second
// says how to judge and rerun it.
//
// config.json also holds the runner's every setting (concurrency, rate,
// timeouts …) beside these fields; readers that need only the facts
// above decode a Record and ignore the rest. Record is the only decoder
// of config.json outside the runner.
type Record struct {
	Workload string   `json:"workload"`
	Nemesis  string   `json:"nemesis"`
	Scenario string   `json:"scenario,omitempty"`
	Target   string   `json:"target,omitempty"`
	Seed     int64    `json:"seed"`
	SUTBugs  []string `json:"sut_bugs,omitempty"`
	// Reproduce is the `chaoscheck run` command that reruns this run
	// (runner.Config.Command): the one way it is spelled.
	Reproduce string `json:"reproduce,omitempty"`

	// Checkers judge the history, built with the options below; the
	// workload states them (workload.Judgement).
	Checkers []string `json:"checkers,omitempty"`
	// Model and Init are the linearizable checker's: run's register
	// workload is a "kv" register per key, each starting at 0.
	Model string          `json:"model,omitempty"`
	Init  json.RawMessage `json:"init,omitempty"`
	// Accounts and Total are the bank checker's (and verify's): the
	// accounts every read must hold and the sum it must have.
	// InitialBalance is each account's balance at the start.
	Accounts       []string `json:"accounts,omitempty"`
	Total          *int64   `json:"total,omitempty"`
	InitialBalance int64    `json:"initial_balance,omitempty"`
	// ConsistencyModels are the Elle checkers' models.
	ConsistencyModels []string `json:"consistency_models,omitempty"`
}

// SetJudgement records checkers built with o.
func (r *Record) SetJudgement(checkers []string, o checker.Options) error {
	r.Checkers, r.Model, r.Accounts, r.Total, r.ConsistencyModels = checkers, o.Model, o.Accounts, o.Total, o.ConsistencyModels
	r.Init = nil
	if o.Init != nil {
		b, err := json.Marshal(o.Init)
		if err != nil {
			return fmt.Errorf("store: record init value: %w", err)
		}
		r.Init = b
	}
	return nil
}

// CheckerOptions are the options the run's checkers were built with.
func (r Record) CheckerOptions() (checker.Options, error) {
	o := checker.Options{Model: r.Model, Accounts: r.Accounts, Total: r.Total, ConsistencyModels: r.ConsistencyModels}
	if len(r.Init) > 0 {
		// Numbers stay json.Number, the shape the history readers give
		// values, so an init of 0 equals a read of 0.
		dec := json.NewDecoder(bytes.NewReader(r.Init))
		dec.UseNumber()
		if err := dec.Decode(&o.Init); err != nil {
			return o, fmt.Errorf("store: %s init %s: %w", ConfigFile, r.Init, err)
		}
	}
	return o, nil
}

// ParseRecord decodes a config.json's content.
func ParseRecord(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("store: %s: %w", ConfigFile, err)
	}
	return r, nil
}

// ReadRecord reads runDir's config.json.
func ReadRecord(runDir string) (Record, error) {
	b, err := os.ReadFile(filepath.Join(runDir, ConfigFile))
	if err != nil {
		return Record{}, fmt.Errorf("store: %w", err)
	}
	r, err := ParseRecord(b)
	if err != nil {
		return r, fmt.Errorf("%w (in %s)", err, runDir)
	}
	return r, nil
}

// EncodeRecord returns config.json's content: settings (the runner's
// whole configuration, any JSON object) with rec's fields laid over it.
// Both say the same of workload, nemesis and seed; rec wins where they
// differ, since readers trust it.
func EncodeRecord(rec Record, settings any) ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if settings != nil {
		b, err := json.Marshal(settings)
		if err != nil {
			return nil, fmt.Errorf("store: encode %s: %w", ConfigFile, err)
		}
		if err := json.Unmarshal(b, &fields); err != nil {
			return nil, fmt.Errorf("store: encode %s: settings are not a JSON object: %w", ConfigFile, err)
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("store: encode %s: %w", ConfigFile, err)
	}
	var own map[string]json.RawMessage
	if err := json.Unmarshal(b, &own); err != nil {
		return nil, fmt.Errorf("store: encode %s: %w", ConfigFile, err)
	}
	for k, v := range own {
		fields[k] = v
	}
	return json.Marshal(fields)
}
