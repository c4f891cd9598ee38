package checker

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/chaoscheck/chaoscheck/history"
)

// Checker judges a history.
type Checker interface {
	// Name is the checker's name in results.json and on the command line.
	Name() string
	// Check must return Unknown, not True, when ctx ends before it finishes.
	Check(ctx context.Context, h history.History) Result
}

// Validity is a verdict: true, false or unknown. Its JSON form is Jepsen's:
// true, false or "unknown".
type Validity int8

const (
	Unknown Validity = iota // zero value: a verdict nobody set is not a pass
	Valid
	Invalid
)

func (v Validity) String() string {
	switch v {
	case Valid:
		return "valid"
	case Invalid:
		return "invalid"
	default:
		return "unknown"
	}
}

// MarshalJSON writes true, false or "unknown".
func (v Validity) MarshalJSON() ([]byte, error) {
	switch v {
	case Valid:
		return []byte("true"), nil
	case Invalid:
		return []byte("false"), nil
	default:
		return []byte(`"unknown"`), nil
	}
}

// UnmarshalJSON reads true, false or "unknown".
func (v *Validity) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*v = Valid
	case "false":
		*v = Invalid
	case `"unknown"`, "null":
		*v = Unknown
	default:
		return fmt.Errorf("validity: want true, false or \"unknown\", got %s", b)
	}
	return nil
}

// Merge combines two verdicts: false beats unknown beats true.
func Merge(a, b Validity) Validity {
	if a == Invalid || b == Invalid {
		return Invalid
	}
	if a == Unknown || b == Unknown {
		return Unknown
	}
	return Valid
}

// Anomaly is one thing found wrong, naming the ops that show it.
type Anomaly struct {
	Kind   string  `json:"kind"`             // e.g. "lost", "duplicated", "nonlinearizable"
	Ops    []int64 `json:"ops,omitempty"`    // indexes of the ops involved
	Key    string  `json:"key,omitempty"`    // the key, tx_id, account … it concerns
	Detail string  `json:"detail,omitempty"` // one human-readable line
}

// Result is one checker's verdict.
type Result struct {
	Checker   string         `json:"checker"`
	Valid     Validity       `json:"valid"`
	Anomalies []Anomaly      `json:"anomalies,omitempty"`
	Counts    map[string]int `json:"counts,omitempty"` // checker-specific tallies ("lost": 2, "ok": 951 …)
	// Notes say why a verdict is unknown, or what was skipped.
	Notes []string `json:"notes,omitempty"`
	// Details holds checker-specific structured output (latency quantiles,
	// composed sub-results …) for results.json.
	Details any `json:"details,omitempty"`
	// Files lists files the checker wrote (e.g. linear.html), relative to
	// the output directory.
	Files []string `json:"files,omitempty"`
}

// AnomalyKinds lists the distinct anomaly kinds of r, in first-seen order.
func (r Result) AnomalyKinds() []string {
	var kinds []string
	seen := map[string]bool{}
	for _, a := range r.Anomalies {
		if !seen[a.Kind] {
			seen[a.Kind] = true
			kinds = append(kinds, a.Kind)
		}
	}
	return kinds
}

// CountKind counts the anomalies of one kind: the one count that results,
// the report and soak's summary show.
func CountKind(as []Anomaly, kind string) int {
	n := 0
	for _, a := range as {
		if a.Kind == kind {
			n++
		}
	}
	return n
}

var _ json.Marshaler = Validity(0)
