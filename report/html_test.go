package report

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/store"
)

// genHistory makes a well-formed register history of about n ops:
// concurrency client processes doing reads and writes that complete ok,
// fail or info (a process that gets an info continues under a new
// number, as Jepsen's do), and a nemesis that kills and restarts a node
// and pauses and resumes one, in turn.
func genHistory(n, concurrency int, seed int64) history.History {
	rng := rand.New(rand.NewSource(seed))
	var h history.History
	t := int64(0)
	add := func(op history.Op) history.Op {
		t += int64(rng.Intn(400_000) + 50_000)
		op.Index, op.Time = int64(len(h)), t
		h = append(h, op)
		return op
	}
	procs := make([]int64, concurrency)
	open := make([]*history.Op, concurrency)
	for i := range procs {
		procs[i] = int64(i)
	}
	next := int64(concurrency)
	nemesisFs := [][2]string{{"kill", "start"}, {"pause", "resume"}}
	for round := 0; len(h) < n; round++ {
		if round%200 == 100 {
			pair := nemesisFs[(round/200)%2]
			inv := add(history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: pair[0]})
			add(history.Op{Type: history.Info, Process: history.NemesisProcess, F: inv.F, Value: "n2"})
		}
		if round%200 == 180 {
			pair := nemesisFs[((round-80)/200)%2]
			inv := add(history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: pair[1]})
			add(history.Op{Type: history.Info, Process: history.NemesisProcess, F: inv.F, Value: "n2"})
		}
		w := rng.Intn(concurrency)
		if open[w] == nil {
			f, v := "read", any(nil)
			if rng.Intn(2) == 0 {
				f, v = "write", json.Number(fmt.Sprint(rng.Intn(10)))
			}
			inv := add(history.Op{Type: history.Invoke, Process: procs[w], F: f, Key: "k" + fmt.Sprint(rng.Intn(3)), Value: v})
			open[w] = &inv
			continue
		}
		inv := *open[w]
		open[w] = nil
		done := history.Op{Process: inv.Process, F: inv.F, Key: inv.Key, Value: inv.Value, Node: "n1"}
		switch r := rng.Intn(10); {
		case r < 8:
			done.Type = history.OK
			if inv.F == "read" {
				done.Value = json.Number(fmt.Sprint(rng.Intn(10)))
			}
		case r < 9:
			done.Type, done.Error = history.Fail, "no leader"
		default:
			done.Type, done.Error = history.Info, "timeout"
			procs[w] = next
			next++
		}
		add(done)
	}
	return h
}

// invalidResults judges h invalid by a linearizable checker naming ops
// 3 and 5, with the stats checker's counts.
func invalidResults(h history.History) store.Results {
	r := store.Results{Workload: "register", Nemesis: "kill,pause", Seed: 42, Ops: len(h),
		Start: time.Date(2026, 11, 25, 18, 4, 5, 0, time.UTC), DurationSec: 12.5, Dir: "/store/register-kill+pause/x",
		Config: json.RawMessage(`{"workload":"register","nemesis":"kill,pause","seed":42,"time_limit":"10s","sut_bugs":["stale-read"],"reproduce":"chaoscheck run --workload register --nemesis kill,pause --seed 42 --time-limit 10s --sut-bug stale-read"}`)}
	stats := checker.NewStats().Check(t0ctx, h)
	lin := checker.Result{Checker: "linearizable", Valid: checker.Invalid, Files: []string{checker.LinearFile},
		Anomalies: []checker.Anomaly{{Kind: "nonlinearizable", Key: "k1", Ops: []int64{3, 5, 999999}, Detail: "read 7 after write 3"}}}
	r.SetVerdict(checker.Result{Checker: "compose", Valid: checker.Invalid, Details: []checker.Result{lin, stats}})
	return r
}

func renderHTML(t *testing.T, r store.Results, h history.History) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, r, h); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReportHTMLShowsVerdictAnomaliesAndTheirOps(t *testing.T) {
	h := genHistory(400, 4, 1)
	page := renderHTML(t, invalidResults(h), h)
	for _, want := range []string{
		`<span id="verdict" class="verdict invalid">INVALID</span>`,
		`<span class="what">nonlinearizable</span> <code>k1</code>: read 7 after write 3`,
		`<a href="#op=3">3</a>`, // op 3's row, linking to its bar
		fmt.Sprintf(`<td class="num">%.3f ms</td><td class="type">%s</td>`, float64(h[3].Time)/1e6, h[3].Type),
		`<td colspan="9" class="note">not in the history</td>`, // op 999999
		`href="linear.html"`,
		`chaoscheck run --workload register --nemesis kill,pause --seed 42 --time-limit 10s --sut-bug stale-read`,
		`<table id="counts">`, `<td>write</td>`,
		`<table id="nemesis-counts">`, `<td>kill</td>`,
		`id="latency"`, `id="throughput"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %s", want)
		}
	}
	// The ops an anomaly names are outlined in the timeline.
	if n := strings.Count(page, ` anom" data-k=`); n != 2 {
		t.Errorf("%d bars outlined as named by an anomaly, want 2 (ops 3 and 5)", n)
	}
}

func TestReportHTMLDrawsOneBarPerOpUpToTheCap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		capped bool
	}{
		{"small history", 500, false},
		{"history over the cap", MaxTimelineOps + 3000, true},
	} {
		h := genHistory(tc.n, 5, 2)
		page := renderHTML(t, invalidResults(h), h)
		want := 0
		for i, op := range h[:min(len(h), MaxTimelineOps)] {
			// One bar per client invocation and per nemesis action
			// (invoke and info, paired).
			if op.Type == history.Invoke {
				want++
			}
			_ = i
		}
		if got := strings.Count(page, `<rect class="op `); got != want {
			t.Errorf("%s: %d timeline bars, want %d (one per invocation among the first %d ops)", tc.name, got, want, MaxTimelineOps)
		}
		note := fmt.Sprintf("The timeline shows the first %d of %d ops", MaxTimelineOps, len(h))
		if strings.Contains(page, note) != tc.capped {
			t.Errorf("%s: note %q present %v, want %v", tc.name, note, !tc.capped, tc.capped)
		}
		var entries []timelineEntry
		m := regexp.MustCompile(`(?s)<script type="application/json" id="ops-data">(.*?)</script>`).FindStringSubmatch(page)
		if m == nil || json.Unmarshal([]byte(m[1]), &entries) != nil || len(entries) != want {
			t.Errorf("%s: ops data for the click panel holds %d entries, want %d", tc.name, len(entries), want)
		}
	}
}

func TestReportHTMLIsWellFormed(t *testing.T) {
	h := genHistory(2000, 5, 3)
	r := invalidResults(h)
	r.Notes = []string{`a note with <b>markup</b> & "quotes"`}
	h[7].Value = "</script><script>alert(1)</script>"
	for name, page := range map[string]string{
		"full":          renderHTML(t, r, h),
		"no history":    renderHTML(t, store.Results{Valid: checker.Unknown}, nil),
		"empty results": renderHTML(t, store.Results{}, h),
	} {
		if strings.Contains(page, "alert(1)</script>") || strings.Contains(page, "<b>markup") {
			t.Errorf("%s: an op value or note reached the page unescaped", name)
		}
		if err := checkWellFormed(page); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// checkWellFormed parses page as XML once script and style bodies are
// blanked (their text is not markup): every element must be closed, in
// order. The template writes void elements as <meta .../>, so a page
// that passes is also valid HTML5 structure.
func checkWellFormed(page string) error {
	body := regexp.MustCompile(`(?s)(<(script|style)[^>]*>).*?(</(script|style)>)`).ReplaceAllString(page, "$1$3")
	body = strings.Replace(body, "<!DOCTYPE html>", "", 1)
	d := xml.NewDecoder(strings.NewReader(body))
	d.Strict = true
	var stack []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, _ := d.InputPos()
			lines := strings.Split(body, "\n")
			return fmt.Errorf("not well-formed at line %d: %v\n%s", line, err, lines[max(line-1, 0)])
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		return fmt.Errorf("unclosed elements %v", stack)
	}
	if !strings.HasPrefix(page, "<!DOCTYPE html>") {
		return errors.New("no doctype")
	}
	return nil
}

func TestFaultWindowsLastUntilTheActionThatUndoesThem(t *testing.T) {
	ms := int64(time.Millisecond)
	nem := func(ti int64, typ history.Type, f string) history.Op {
		return history.Op{Time: ti * ms, Type: typ, Process: history.NemesisProcess, F: f}
	}
	client := func(ti int64, typ history.Type, f string) history.Op {
		return history.Op{Time: ti * ms, Type: typ, Process: 0, F: f}
	}
	for _, tc := range []struct {
		name string
		ops  []history.Op
		want [][2]int64 // ms
	}{
		{"kill lasts until start", []history.Op{
			nem(10, history.Invoke, "kill"), nem(12, history.Info, "kill"),
			nem(50, history.Invoke, "start"), nem(55, history.Info, "start"), client(90, history.Invoke, "read")},
			[][2]int64{{10, 55}}},
		{"pause until resume, restart-leader its own span", []history.Op{
			nem(10, history.Invoke, "pause"), nem(11, history.Info, "pause"),
			nem(20, history.Invoke, "restart-leader"), nem(30, history.Info, "restart-leader"),
			nem(40, history.Invoke, "resume"), nem(41, history.Info, "resume"), client(90, history.Invoke, "read")},
			[][2]int64{{10, 41}, {20, 30}}},
		{"start-X until stop-X", []history.Op{
			nem(5, history.Invoke, "start-duplicate-retry"), nem(6, history.Info, "start-duplicate-retry"),
			nem(70, history.Invoke, "stop-duplicate-retry"), nem(71, history.Info, "stop-duplicate-retry"), client(90, history.Invoke, "read")},
			[][2]int64{{5, 71}}},
		{"Jepsen start/stop with info alone", []history.Op{
			nem(5, history.Info, "start"), nem(60, history.Info, "stop"), client(90, history.Invoke, "read")},
			[][2]int64{{5, 60}}},
		{"a fault never undone lasts until the final read", []history.Op{
			nem(5, history.Invoke, "pause"), nem(6, history.Info, "pause"),
			client(70, history.Invoke, "read-all"), client(80, history.OK, "read-all")},
			[][2]int64{{5, 70}}},
		{"without a final read, to the end", []history.Op{
			nem(5, history.Invoke, "kill"), nem(6, history.Info, "kill"), client(80, history.Invoke, "read")},
			[][2]int64{{5, 80}}},
	} {
		h := history.History(tc.ops)
		for i := range h {
			h[i].Index = int64(i)
		}
		wins := faultWindows(h, nemesisSpans(h))
		var got [][2]int64
		for _, w := range wins {
			got = append(got, [2]int64{w.t0 / ms, w.t1 / ms})
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: windows %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWriteHTMLFileLinksWhatTheRunDirectoryHolds(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{store.ResultsFile, store.HistoryFile, checker.LinearFile} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
	}
	os.MkdirAll(filepath.Join(dir, store.NodesDir, "n1"), 0o755)
	h := genHistory(100, 2, 4)
	r := invalidResults(h)
	r.Checkers[0].Files = nil // the link must come from the directory
	if err := WriteHTMLFile(dir, r, h); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`href="linear.html"`, `href="results.json"`, `href="history.jsonl"`, `href="nodes/"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("report.html lacks %s", want)
		}
	}
	if bytes.Contains(b, []byte(`href="config.json"`)) {
		t.Errorf("report.html links config.json, which the directory does not hold")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	if err := WriteHTMLFile(filepath.Join(dir, "missing"), r, h); err == nil {
		t.Errorf("WriteHTMLFile into a missing directory succeeded")
	}
}

var t0ctx = context.Background()

func TestTimelineLanesReuseALaneOnlyAfterItsProcessEnded(t *testing.T) {
	ms := int64(time.Millisecond)
	op := func(ti int64, typ history.Type, p int64) history.Op {
		return history.Op{Time: ti * ms, Type: typ, Process: p, F: "write"}
	}
	h := history.History{
		op(1, history.Invoke, history.NemesisProcess), op(2, history.Info, history.NemesisProcess),
		op(3, history.Invoke, 0), op(4, history.Invoke, 1),
		op(10, history.Info, 0), // p0 crashed: its worker goes on as p2
		op(11, history.Invoke, 2), op(12, history.OK, 1),
		op(13, history.Invoke, 3), // p3 starts while p2 runs: it cannot share p2's lane
		op(14, history.OK, 2), op(15, history.Invoke, 1), op(16, history.Info, 1),
	}
	for i := range h {
		h[i].Index = int64(i)
	}
	_, lanes := assignLanes(h, slices.Concat(nemesisSpans(h), clientSpans(h)), h[len(h)-1].Time)
	// p1 lives from 4ms to 16ms and p2 from 11ms to 14ms, so p3 (from
	// 13ms) shares neither lane.
	if got, want := fmt.Sprint(lanes), "[[-1] [0 2] [1] [3]]"; got != want {
		t.Errorf("lanes %s, want %s (nemesis first; p2 after p0 in its lane; p3 alone)", got, want)
	}
}
