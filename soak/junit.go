package soak

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/internal/atomicfile"
)

// The JUnit XML schema CI systems read (Jenkins, GitLab, the GitHub
// Actions JUnit reporters): testsuites > testsuite > testcase, with a
// <failure> for a test that ran and failed and an <error> for one that
// could not decide. An invalid run is a failure; an unknown verdict, or a
// run chaoscheck could not perform, is an error, so it is not shown green.

// JUnitSuites is the document's root.
type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []JUnitSuite `xml:"testsuite"`
}

// JUnitSuite is the soak.
type JUnitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []JUnitProperty `xml:"properties>property"`
	Cases      []JUnitCase     `xml:"testcase"`
}

// JUnitProperty is a name and value of the soak (its seed, scenarios …).
type JUnitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// JUnitCase is one run.
type JUnitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *JUnitProblem `xml:"failure"`
	Error     *JUnitProblem `xml:"error"`
	SystemOut *JUnitText    `xml:"system-out"`
}

// JUnitText is element text written as CDATA, so multi-line text stays
// readable in the file.
type JUnitText struct {
	Text string `xml:",cdata"`
}

// JUnitProblem is a failure or an error: a one-line message, a type
// (the verdict), and the full text.
type JUnitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// JUnit turns a soak summary into the JUnit document: one testcase per
// run, named by scenario and seed, with the run's duration.
func JUnit(s Summary) JUnitSuites {
	suite := JUnitSuite{Name: "chaoscheck soak", Tests: len(s.Runs), Time: secs(s.DurationSec),
		Timestamp: s.Start.Format("2006-01-02T15:04:05"),
		Properties: []JUnitProperty{
			{"seed", fmt.Sprint(s.Seed)},
			{"scenarios", strings.Join(s.Scenarios, ",")},
			{"stopped", s.Stopped},
			{"store", s.Store},
		}}
	if s.TimeLimit != "" {
		suite.Properties = append(suite.Properties, JUnitProperty{"time_limit", s.TimeLimit})
	}
	if len(s.SUTBugs) > 0 {
		suite.Properties = append(suite.Properties, JUnitProperty{"sut_bugs", strings.Join(s.SUTBugs, ",")})
	}
	for _, r := range s.Runs {
		c := JUnitCase{Name: r.Name(), Classname: "chaoscheck.soak." + r.Scenario, Time: secs(r.DurationSec),
			SystemOut: &JUnitText{fmt.Sprintf("run dir: %s\nops: %d\nreproduce: %s\n", r.Dir, r.Ops, r.Reproduce)}}
		switch {
		case r.Valid == checker.Invalid:
			c.Failure = problem(r)
			suite.Failures++
		case r.Valid != checker.Valid:
			c.Error = problem(r)
			suite.Errors++
		}
		suite.Cases = append(suite.Cases, c)
	}
	return JUnitSuites{Name: suite.Name, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Time: suite.Time, Suites: []JUnitSuite{suite}}
}

// problem describes a run that did not pass: the verdict, the anomalies
// and the notes, and how to reproduce it.
func problem(r RunSummary) *JUnitProblem {
	p := &JUnitProblem{Type: r.Valid.String()}
	msg := strings.ToUpper(r.Valid.String())
	switch {
	case r.Error != "":
		p.Type = "error"
		msg += ": " + r.Error
	case len(r.Anomalies) > 0:
		msg += ": " + r.Anomalies[0]
	case len(r.Notes) > 0:
		msg += ": " + r.Notes[0]
	}
	p.Message = msg
	var b strings.Builder
	fmt.Fprintf(&b, "verdict: %s\n", r.Valid)
	if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", r.Error)
	}
	if len(r.Anomalies) > 0 {
		b.WriteString("anomalies:\n")
		for _, a := range r.Anomalies {
			fmt.Fprintf(&b, "  %s\n", a)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("notes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	fmt.Fprintf(&b, "reproduce: %s\n", r.Reproduce)
	if r.Dir != "" {
		fmt.Fprintf(&b, "run dir: %s (report.html there)\n", r.Dir)
	}
	p.Text = b.String()
	return p
}

func secs(s float64) string { return fmt.Sprintf("%.3f", s) }

// WriteJUnit writes the JUnit XML of s.
func WriteJUnit(w io.Writer, s Summary) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(JUnit(s)); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteJUnitFile writes the JUnit XML of s to path with atomicfile's
// rule, so a CI job that collects it mid-soak never reads half a file.
func WriteJUnitFile(path string, s Summary) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("soak: junit: %w", err)
	}
	if err := atomicfile.Write(path, 0o644, func(w io.Writer) error { return WriteJUnit(w, s) }); err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	return nil
}
