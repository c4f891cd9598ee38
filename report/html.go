package report

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/atomicfile"
	"github.com/chaoscheck/chaoscheck/store"
)

// HTMLFile is the report's name inside a run directory.
const HTMLFile = "report.html"

// Caps on the anomalies the report details; results.json holds them all.
const (
	maxHTMLAnomalies = 50 // per checker
	openAnomalies    = 3  // per checker, shown open; the rest behind a click
	maxHTMLOps       = 20 // ops whose fields are shown, per anomaly
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var reportTemplate = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"upper": strings.ToUpper,
}).ParseFS(templateFS, "templates/report.html.tmpl"))

// WriteHTML writes one run's report as a single self-contained HTML page
// (inline CSS, script and SVG; it loads nothing): the verdict and each
// checker's anomalies with the fields of the ops involved, a timeline of
// ops per process with the fault windows shaded, latency and throughput
// over time, and the counts per f. h is the history r judged; it may be
// nil, and then only results are shown.
//
// Links to the run's files (results.json, history.jsonl, linear.html …)
// are relative, so the page works from disk and from `chaoscheck serve`.
// WriteHTML links the files results name; WriteHTMLFile links the files
// the run directory holds.
func WriteHTML(w io.Writer, r store.Results, h history.History) error {
	var files []string
	if r.Dir != "" {
		files = []string{store.ResultsFile, store.HistoryFile, store.ConfigFile}
	}
	for _, c := range r.Checkers {
		files = append(files, c.Files...)
	}
	return writeHTML(w, r, h, files)
}

// WriteHTMLFile writes runDir/report.html (with atomicfile's rule, so a
// reader never sees half a report), linking the files that
// runDir holds.
func WriteHTMLFile(runDir string, r store.Results, h history.History) error {
	ents, err := os.ReadDir(runDir)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var files []string
	for _, e := range ents {
		if n := e.Name(); !strings.HasPrefix(n, ".") && n != HTMLFile {
			if e.IsDir() {
				n += "/"
			}
			files = append(files, n)
		}
	}
	path := filepath.Join(runDir, HTMLFile)
	if err := atomicfile.Write(path, 0o644, func(w io.Writer) error { return writeHTML(w, r, h, files) }); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// page is what the template shows.
type page struct {
	Title        string
	Verdict      string // valid, invalid or unknown: also the CSS class
	Interrupted  bool
	Facts        []fact
	Notes        []string
	Rerun        string
	Checkers     []pageChecker
	Links        []link
	Linear       string // linear.html, when the run has one
	Timeline     timeline
	TimelineNote string
	TimelineSVG  template.HTML
	LanesSVG     template.HTML
	Windows      []legendItem
	Latency      template.HTML
	LatencyNote  string
	Rate         template.HTML
	RateNote     string
	Counts       []countRow
	Nemesis      []countRow
	Entries      template.JS // the timeline's ops, as JSON, for the click panel
	Config       string
	Generated    string
}

type fact struct{ Label, Value string }

type link struct{ Name, Href string }

type legendItem struct{ F, Color string }

type pageChecker struct {
	Name      string
	Verdict   string
	Kinds     string
	Anomalies []pageAnomaly // shown open
	Hidden    []pageAnomaly // shown on a click
	More      int           // past maxHTMLAnomalies: in results.json only
	Notes     []string
}

type pageAnomaly struct {
	Kind, Key, Detail string
	Ops               []pageOp
	MoreOps           int
	Graph             template.HTML // a dependency cycle, drawn (html_elle.go)
}

// pageOp is an op's fields as text; Missing when the history does not
// hold the index an anomaly names.
type pageOp struct {
	Index                                                 int64
	Missing                                               bool
	Time, Type, Process, F, Key, Value, TxID, Node, Error string
}

type countRow struct {
	F                      string
	Invoke, OK, Fail, Info int
	P50, P90, P99, Max     string
	HasLatency             bool
}

func writeHTML(w io.Writer, r store.Results, h history.History, files []string) error {
	p := page{Verdict: r.Valid.String(), Interrupted: r.Interrupted, Notes: r.Notes,
		Generated: time.Now().Format(time.RFC3339)}
	p.Title = pageTitle(r)
	p.Facts = pageFacts(r, len(h))
	p.Rerun = RerunCommand(r)
	for _, f := range files {
		if f == checker.LinearFile {
			p.Linear = f
			continue
		}
		p.Links = append(p.Links, link{Name: f, Href: f})
	}

	anomalous := map[int64]bool{}
	for _, c := range r.Checkers {
		p.Checkers = append(p.Checkers, pageCheckerOf(c, h, anomalous))
	}

	clients, nems := clientSpans(h), nemesisSpans(h)
	wins := faultWindows(h, nems)
	for _, f := range windowFs(wins) {
		p.Windows = append(p.Windows, legendItem{F: f, Color: windowColor(windowFs(wins), f)})
	}
	p.Timeline = drawTimeline(h, clients, nems, wins, anomalous, MaxTimelineOps)
	p.TimelineSVG, p.LanesSVG = template.HTML(p.Timeline.Bars), template.HTML(p.Timeline.Labels)
	if p.Timeline.Shown < p.Timeline.Total {
		p.TimelineNote = fmt.Sprintf("The timeline shows the first %d of %d ops (the first %.1fs of the run); the latency and throughput plots cover the whole history.",
			p.Timeline.Shown, p.Timeline.Total, float64(p.Timeline.ViewEnd)/1e9)
	}
	entries, err := json.Marshal(p.Timeline.Entries) // escapes <, > and &: safe inside <script>
	if err != nil {
		return fmt.Errorf("report: encode timeline ops: %w", err)
	}
	p.Entries = template.JS(entries)
	var lat, rate string
	lat, p.LatencyNote = drawLatency(h, clients, wins)
	rate, p.RateNote = drawThroughput(h, wins)
	p.Latency, p.Rate = template.HTML(lat), template.HTML(rate)

	counts, nemCounts := r.Counts, r.NemesisCounts
	if counts == nil && nemCounts == nil {
		counts, nemCounts = countOps(h)
	}
	p.Counts, p.Nemesis = countRows(counts), countRows(nemCounts)
	if len(r.Config) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, r.Config, "", "  ") == nil {
			p.Config = buf.String()
		}
	}
	if err := reportTemplate.Execute(w, p); err != nil {
		return fmt.Errorf("report: write html: %w", err)
	}
	return nil
}

// pageTitle names the run: its test and start time, or the history an
// analysis read.
func pageTitle(r store.Results) string {
	switch {
	case r.Workload != "":
		t := store.TestName(r.Workload, r.Nemesis)
		if !r.Start.IsZero() {
			t += " " + r.Start.Format(store.TimeLayout)
		}
		return t
	case r.History != "":
		return "analysis of " + filepath.Base(r.History)
	}
	return "chaoscheck report"
}

func pageFacts(r store.Results, ops int) []fact {
	var fs []fact
	add := func(l, v string) {
		if v != "" {
			fs = append(fs, fact{l, v})
		}
	}
	add("workload", r.Workload)
	add("nemesis", r.Nemesis)
	add("scenario", r.Scenario)
	if r.Seed != 0 {
		add("seed", strconv.FormatInt(r.Seed, 10))
	}
	if !r.Start.IsZero() {
		add("start", r.Start.Format("2006-01-02 15:04:05 MST"))
	}
	if r.DurationSec > 0 {
		add("duration", time.Duration(r.DurationSec*float64(time.Second)).Round(100*time.Millisecond).String())
	}
	add("ops", strconv.Itoa(max(r.Ops, ops)))
	add("history", r.History)
	add("run directory", r.Dir)
	add("chaoscheck", r.Version)
	return fs
}

// pageCheckerOf shows one checker's verdict and anomalies, and marks the
// ops they name in anomalous for the timeline.
func pageCheckerOf(c checker.Result, h history.History, anomalous map[int64]bool) pageChecker {
	pc := pageChecker{Name: c.Checker, Verdict: c.Valid.String(), Notes: c.Notes}
	var kinds []string
	for _, k := range c.AnomalyKinds() {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, checker.CountKind(c.Anomalies, k)))
	}
	pc.Kinds = strings.Join(kinds, ", ")
	for i, a := range c.Anomalies {
		for _, idx := range a.Ops {
			anomalous[idx] = true
		}
		if i >= maxHTMLAnomalies {
			pc.More++
			continue
		}
		pa := pageAnomaly{Kind: a.Kind, Key: a.Key, Detail: a.Detail, Graph: cycleSVG(c, i)}
		for j, idx := range a.Ops {
			if j == maxHTMLOps {
				pa.MoreOps = len(a.Ops) - j
				break
			}
			pa.Ops = append(pa.Ops, pageOpOf(h, idx))
		}
		if len(pc.Anomalies) < openAnomalies {
			pc.Anomalies = append(pc.Anomalies, pa)
		} else {
			pc.Hidden = append(pc.Hidden, pa)
		}
	}
	return pc
}

func pageOpOf(h history.History, idx int64) pageOp {
	i, ok := opPosition(h, idx)
	if !ok {
		return pageOp{Index: idx, Missing: true}
	}
	op := h[i]
	po := pageOp{Index: op.Index, Time: strconv.FormatFloat(float64(op.Time)/1e6, 'f', 3, 64) + " ms",
		Type: string(op.Type), Process: strconv.FormatInt(op.Process, 10), F: op.F, Key: op.Key,
		TxID: op.TxID, Node: op.Node, Error: op.Error}
	if op.Process == history.NemesisProcess {
		po.Process = "nemesis"
	}
	if op.Value != nil {
		po.Value = clip(jsonText(op.Value), 300)
	}
	return po
}

// jsonText prints a value as JSON, or as Go would when it is not JSON.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(b.String())
}

// countOps tallies ops per f by type, for a history judged without the
// stats checker.
func countOps(h history.History) (clients, nemesis map[string]*checker.FStats) {
	clients, nemesis = map[string]*checker.FStats{}, map[string]*checker.FStats{}
	for i := range h {
		op := &h[i]
		by := clients
		if !op.IsClient() {
			by = nemesis
		}
		checker.CountOp(by, op)
	}
	return clients, nemesis
}

func countRows(counts map[string]*checker.FStats) []countRow {
	var rows []countRow
	for _, f := range slices.SortedFunc(maps.Keys(counts), cmp.Compare[string]) {
		s := counts[f]
		if s == nil {
			continue
		}
		row := countRow{F: f, Invoke: s.Invoke, OK: s.OK, Fail: s.Fail, Info: s.Info}
		if l := s.Latency; l != nil {
			ms := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
			row.HasLatency = true
			row.P50, row.P90, row.P99, row.Max = ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max)
		}
		rows = append(rows, row)
	}
	return rows
}

// RerunCommand is the `chaoscheck run` command that replays r's run, as
// the runner recorded it in config.json (store.Record.Reproduce). "" when
// r is not a run.
func RerunCommand(r store.Results) string {
	if len(r.Config) == 0 {
		return ""
	}
	rec, err := store.ParseRecord(r.Config)
	if err != nil {
		return ""
	}
	return rec.Reproduce
}
