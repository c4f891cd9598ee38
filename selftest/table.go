package selftest

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints rows for a person: one line per bug, then what each
// bug does, how it was exposed, what the checkers saw and the command that
// reproduces it.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BUG\tSCENARIO\tCAUGHT\tMEDIAN TIME TO DETECT\tCORRECT SUT VALID\tRESULT")
	for _, r := range rows {
		d, from := r.MedianDetection()
		med := "-"
		if from != "" {
			med = fmt.Sprintf("%.1fs (%s)", d.Seconds(), from)
		}
		verdict := "ok"
		if !r.OK() {
			verdict = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%d/%d\t%s\n", r.ID, r.Scenario, r.Detected(), len(r.Runs), med,
			r.CorrectValid(), len(r.Correct), verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "\n%s: %s\n", r.ID, r.Wrong)
		fmt.Fprintf(&b, "  scenario   %s: %s\n", r.Scenario, r.Why)
		fmt.Fprintf(&b, "  expect     %s\n", strings.Join(r.Expect, " or "))
		for _, run := range r.Runs {
			fmt.Fprintf(&b, "  seed %-5d %s\n", run.Seed, describe(run))
		}
		for _, run := range r.Correct {
			fmt.Fprintf(&b, "  correct %-2d %s\n", run.Seed, describe(run))
		}
		fmt.Fprintf(&b, "  reproduce  %s\n", r.Command)
	}
	fmt.Fprintf(&b, "\nCAUGHT: seeds on which the verdict was invalid with an expected anomaly (at most 1 in 5 may miss).\n"+
		"TIME TO DETECT: run time until the first op an expected anomaly names was invoked (op),\n"+
		"or the run's duration where no op is named (run).\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// describe is one run in a line: verdict, anomalies, timing, directory.
func describe(r RunResult) string {
	s := r.Verdict.String()
	if len(r.Anomalies) > 0 {
		s += " " + strings.Join(r.Anomalies, ",")
	}
	if r.Bug != "" {
		if r.Detected {
			s += fmt.Sprintf(", caught at %.1fs (%s)", r.Detection.Seconds(), r.DetectionFrom)
		} else {
			s += ", NOT CAUGHT"
		}
	}
	s += fmt.Sprintf(", run %s", r.Duration.Round(100*time.Millisecond))
	if r.Err != "" {
		s += ", error: " + r.Err
	}
	if r.Dir != "" {
		s += ", " + r.Dir
	}
	return s
}

// rowJSON and runJSON are the --json form: seconds, not nanoseconds.
type rowJSON struct {
	Bug           string    `json:"bug"`
	Name          string    `json:"sut_bug"`
	Wrong         string    `json:"what_goes_wrong"`
	Scenario      string    `json:"scenario"`
	Why           string    `json:"scenario_does"`
	Expect        []string  `json:"expect"`
	Seeds         int       `json:"seeds"`
	Detected      int       `json:"detected"`
	MedianSec     *float64  `json:"median_detection_sec,omitempty"`
	DetectionFrom string    `json:"detection_from,omitempty"`
	CorrectValid  int       `json:"correct_valid"`
	CorrectRuns   int       `json:"correct_runs"`
	OK            bool      `json:"ok"`
	Command       string    `json:"reproduce"`
	Runs          []runJSON `json:"runs"`
	Correct       []runJSON `json:"correct"`
}

type runJSON struct {
	Seed          int64    `json:"seed"`
	Verdict       any      `json:"valid"`
	Anomalies     []string `json:"anomalies,omitempty"`
	Detected      *bool    `json:"detected,omitempty"`
	DetectionSec  *float64 `json:"detection_sec,omitempty"`
	DetectionFrom string   `json:"detection_from,omitempty"`
	DurationSec   float64  `json:"duration_sec"`
	Dir           string   `json:"dir,omitempty"`
	Command       string   `json:"reproduce"`
	Err           string   `json:"error,omitempty"`
}

// WriteJSON writes rows as a JSON array.
func WriteJSON(w io.Writer, rows []Row) error {
	out := make([]rowJSON, len(rows))
	for i, r := range rows {
		j := rowJSON{Bug: r.ID, Name: r.Name, Wrong: r.Wrong, Scenario: r.Scenario, Why: r.Why, Expect: r.Expect,
			Seeds: len(r.Runs), Detected: r.Detected(), CorrectValid: r.CorrectValid(), CorrectRuns: len(r.Correct),
			OK: r.OK(), Command: r.Command}
		if d, from := r.MedianDetection(); from != "" {
			s := d.Seconds()
			j.MedianSec, j.DetectionFrom = &s, from
		}
		for _, run := range r.Runs {
			j.Runs = append(j.Runs, runToJSON(run))
		}
		for _, run := range r.Correct {
			j.Correct = append(j.Correct, runToJSON(run))
		}
		out[i] = j
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func runToJSON(r RunResult) runJSON {
	j := runJSON{Seed: r.Seed, Verdict: r.Verdict, Anomalies: r.Anomalies, DurationSec: r.Duration.Seconds(),
		Dir: r.Dir, Command: r.Command, Err: r.Err}
	if r.Bug != "" {
		d := r.Detected
		j.Detected = &d
		if d {
			s := r.Detection.Seconds()
			j.DetectionSec, j.DetectionFrom = &s, r.DetectionFrom
		}
	}
	return j
}
