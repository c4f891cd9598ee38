package report

import (
	"cmp"
	"fmt"
	"html"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/chaoscheck/chaoscheck/history"
)

// The plots are inline SVG written here, not by a plotting library: the
// report must open from a file with no network, and a few hundred lines
// of SVG need no dependency.

// Caps that keep a report small enough for a browser to open quickly;
// results.json and history.jsonl hold everything.
const (
	// MaxTimelineOps is how many history ops the timeline draws, from the
	// start: beyond a few thousand bars a browser slows and nobody reads
	// them one by one.
	MaxTimelineOps = 10000
	// maxLatencyPoints caps the latency scatter; past it every k-th op is
	// drawn, so the whole run stays covered.
	maxLatencyPoints = 20000
	// maxThroughputBuckets caps the throughput series; buckets widen
	// (1 s, 2 s, 5 s …) to stay under it.
	maxThroughputBuckets = 600
)

// Geometry shared by the plots, in px.
const (
	plotWidth   = 1100.0
	plotLeft    = 64.0
	plotRight   = 16.0
	plotTop     = 12.0
	plotBottom  = 34.0
	plotHeight  = 260.0
	axisHeight  = 22.0
	laneLabelW  = 84.0
	timelinePad = 14.0 // room for the "0s" tick label left of time 0
	maxLaneH    = 16.0
	minLaneH    = 5.0
	minBarWidth = 1.0
)

// windowColors shade fault windows, one per nemesis f in first-seen
// order; translucent so the ops show through.
var windowColors = []string{"#e6194b", "#4363d8", "#f58231", "#911eb4", "#469990", "#9a6324", "#808000", "#000075"}

// windowColor picks a colour for f, stable within one report.
func windowColor(order []string, f string) string {
	i := slices.Index(order, f)
	if i < 0 {
		i = len(order)
	}
	return windowColors[i%len(windowColors)]
}

// windowFs lists the nemesis fs of wins, in first-seen order.
func windowFs(wins []window) []string {
	var fs []string
	for _, w := range wins {
		if !slices.Contains(fs, w.f) {
			fs = append(fs, w.f)
		}
	}
	return fs
}

// timelineEntry is one bar's ops, as the page's script shows them when
// the bar is clicked. Done is nil for an op the history never completed.
type timelineEntry [2]*history.Op

// timeline is the drawn timeline.
type timeline struct {
	Labels  string // SVG of the lane labels (they stay put while the bars scroll)
	Bars    string // SVG of the bars, windows and time axis
	Entries []timelineEntry
	Shown   int   // history ops within the cap
	Total   int   // history ops
	ViewEnd int64 // ns: where the drawn part of the history ends
}

// drawTimeline draws one lane per process (the nemesis first) with a bar
// per invocation, from invoke to completion, coloured by the completion's
// type; faults are shaded across every lane. Only the first maxOps ops of
// h are drawn.
func drawTimeline(h history.History, clients, nems []span, wins []window, anomalous map[int64]bool, maxOps int) timeline {
	tl := timeline{Total: len(h), Shown: min(len(h), maxOps)}
	if len(h) == 0 {
		return tl
	}
	limit := int32(tl.Shown)
	tl.ViewEnd = h[tl.Shown-1].Time
	viewEnd := max(tl.ViewEnd, 1)

	var shown []span
	for _, s := range slices.Concat(nems, clients) {
		if s.Inv < limit {
			shown = append(shown, s)
		}
	}
	lane, lanes := assignLanes(h, shown, viewEnd)
	laneH := max(minLaneH, min(maxLaneH, 1400/float64(max(len(lanes), 1))))
	lanesH := laneH * float64(len(lanes))
	height := axisHeight + lanesH + 4

	pxPerMs := plotWidth / (float64(viewEnd) / 1e6)
	width := plotWidth + 2*timelinePad
	xOf := func(t int64) float64 { return timelinePad + float64(t)/1e6*pxPerMs }

	var lb strings.Builder
	fmt.Fprintf(&lb, `<svg xmlns="http://www.w3.org/2000/svg" class="lanes" width="%s" height="%s">`, f1(laneLabelW), f1(height))
	for i, ps := range lanes {
		name := "p" + strconv.FormatInt(ps[0], 10)
		if ps[0] == history.NemesisProcess {
			name = "nemesis"
		}
		if len(ps) > 1 {
			name += " +" + strconv.Itoa(len(ps)-1)
		}
		var all []string
		for _, p := range ps {
			all = append(all, strconv.FormatInt(p, 10))
		}
		y := axisHeight + float64(i)*laneH + laneH/2
		fmt.Fprintf(&lb, `<text x="%s" y="%s" dominant-baseline="middle" text-anchor="end" font-size="%s"><title>process %s</title>%s</text>`,
			f1(laneLabelW-6), f1(y), f1(min(11, laneH)), strings.Join(all, ", "), name)
	}
	lb.WriteString(`</svg>`)
	tl.Labels = lb.String()

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="%s" height="%s" data-end-ms="%s" data-px-per-ms="%s" data-axis-h="%s" data-lanes-h="%s" data-pad="%s">`,
		f1(width), f1(height), f3(float64(viewEnd)/1e6), strconv.FormatFloat(pxPerMs, 'g', 6, 64), f1(axisHeight), f1(lanesH), f1(timelinePad))
	// Alternate lane backgrounds make a lane easy to follow by eye.
	for i := range lanes {
		if i%2 == 1 {
			fmt.Fprintf(&b, `<rect class="lane" x="0" y="%s" width="100%%" height="%s"/>`, f1(axisHeight+float64(i)*laneH), f1(laneH))
		}
	}
	order := windowFs(wins)
	for _, w := range wins {
		if w.t0 > viewEnd {
			continue
		}
		t1 := min(w.t1, viewEnd)
		fmt.Fprintf(&b, `<rect class="win" data-a="%s" data-b="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`,
			f3(float64(w.t0)/1e6), f3(float64(t1)/1e6), f1(xOf(w.t0)), f1(axisHeight), f1(max(xOf(t1)-xOf(w.t0), 2)), f1(lanesH),
			windowColor(order, w.f), html.EscapeString(w.label))
	}
	b.WriteString(`<g id="tl-axis">`)
	writeTimeAxis(&b, float64(viewEnd)/1e9, func(sec float64) float64 { return timelinePad + sec*1e3*pxPerMs }, axisHeight, axisHeight+lanesH)
	b.WriteString(`</g>`)

	slices.SortFunc(shown, func(a, b span) int { return int(a.Inv - b.Inv) })
	tl.Entries = make([]timelineEntry, 0, len(shown))
	for _, s := range shown {
		inv := &h[s.Inv]
		t1, class := viewEnd, "info open"
		var done *history.Op
		if s.Done >= 0 {
			done = &h[s.Done]
			t1 = min(done.Time, viewEnd)
			class = string(done.Type)
		}
		if !inv.IsClient() {
			class = "nem"
		}
		if anomalous[inv.Index] || done != nil && anomalous[done.Index] {
			class += " anom"
		}
		x0, x1 := xOf(inv.Time), xOf(t1)
		fmt.Fprintf(&b, `<rect class="op %s" data-k="%d" data-a="%s" data-b="%s" x="%s" y="%s" width="%s" height="%s"/>`,
			class, len(tl.Entries), f3(float64(inv.Time)/1e6), f3(float64(t1)/1e6),
			f1(x0), f1(axisHeight+float64(lane[inv.Process])*laneH+1), f1(max(x1-x0, minBarWidth)), f1(laneH-2))
		tl.Entries = append(tl.Entries, timelineEntry{inv, done})
	}
	b.WriteString(`</svg>`)
	tl.Bars = b.String()
	return tl
}

// assignLanes gives each process a lane, the nemesis the first. A
// process that got an info never invokes again and its worker goes on
// under a new number (Jepsen's p + concurrency), so a lane is reused by a
// process that starts after the lane's last process has finished: a run
// with many infos keeps about one lane per worker instead of one per
// process number. lanes lists each lane's processes in order; a lane's
// label names its first process and how many followed it.
func assignLanes(h history.History, shown []span, viewEnd int64) (lane map[int64]int, lanes [][]int64) {
	type life struct {
		p          int64
		start, end int64
	}
	lives := map[int64]*life{}
	for _, s := range shown {
		inv := &h[s.Inv]
		end := viewEnd
		if s.Done >= 0 {
			end = h[s.Done].Time
		}
		l := lives[inv.Process]
		if l == nil {
			l = &life{p: inv.Process, start: inv.Time, end: end}
			lives[inv.Process] = l
		}
		l.start, l.end = min(l.start, inv.Time), max(l.end, end)
	}
	order := slices.SortedFunc(maps.Values(lives), func(a, b *life) int {
		if a.p == history.NemesisProcess || b.p == history.NemesisProcess {
			return cmp.Compare(a.p, b.p) // the nemesis first
		}
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.p, b.p))
	})
	var laneEnd []int64
	for _, l := range order {
		i := -1
		for j := range lanes {
			if l.p != history.NemesisProcess && lanes[j][0] != history.NemesisProcess && laneEnd[j] < l.start {
				i = j
				break
			}
		}
		if i < 0 {
			i = len(lanes)
			lanes = append(lanes, nil)
			laneEnd = append(laneEnd, 0)
		}
		lanes[i] = append(lanes[i], l.p)
		laneEnd[i] = l.end
	}
	// Lanes in order of their first process: the nemesis, p0, p1 …
	slices.SortStableFunc(lanes, func(a, b []int64) int { return cmp.Compare(a[0], b[0]) })
	lane = make(map[int64]int, len(order))
	for i, ps := range lanes {
		for _, p := range ps {
			lane[p] = i
		}
	}
	return lane, lanes
}

// writeTimeAxis draws ticks at round seconds along the top of a plot
// area from y0 to y1, with grid lines down through it.
func writeTimeAxis(b *strings.Builder, spanSec float64, x func(sec float64) float64, y0, y1 float64) {
	step := niceStep(spanSec, 10)
	for t := 0.0; t <= spanSec+step/1e6; t += step {
		fmt.Fprintf(b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/><text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>`,
			f1(x(t)), f1(y0), f1(x(t)), f1(y1), f1(x(t)), f1(y0-6), secLabel(t, step))
	}
}

// niceStep is a step of 1, 2 or 5 × 10^k giving about n ticks over span.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// secLabel prints t seconds with as many decimals as step needs.
func secLabel(t, step float64) string {
	dec := 0
	if step < 1 {
		dec = int(math.Ceil(-math.Log10(step)))
	}
	return strconv.FormatFloat(t, 'f', dec, 64) + "s"
}

// drawLatency draws every completed client op (every k-th past
// maxLatencyPoints) at its invoke time against its latency, log scale,
// coloured by completion type, over the shaded fault windows.
func drawLatency(h history.History, clients []span, wins []window) (svg string, note string) {
	var done []span
	for _, s := range clients {
		if s.Done >= 0 {
			done = append(done, s)
		}
	}
	if len(done) == 0 || len(h) == 0 {
		return "", "no completed client ops"
	}
	stride := 1
	if len(done) > maxLatencyPoints {
		stride = (len(done) + maxLatencyPoints - 1) / maxLatencyPoints
		note = fmt.Sprintf("every %d%s of %d completed ops drawn", stride, ordinalSuffix(stride), len(done))
	}
	lo, hi := math.Inf(1), 0.0
	for _, s := range done {
		ms := latencyMs(h, s)
		lo, hi = min(lo, ms), max(hi, ms)
	}
	decLo := math.Floor(math.Log10(max(lo, 1e-3)))
	decHi := math.Ceil(math.Log10(max(hi, 1e-3)))
	if decHi <= decLo {
		decHi = decLo + 1
	}
	spanSec := max(float64(h[len(h)-1].Time)/1e9, 1e-3)
	p := newPlot(spanSec)
	yOf := func(ms float64) float64 {
		l := math.Log10(max(ms, math.Pow(10, decLo)))
		return plotTop + plotHeight - (l-decLo)/(decHi-decLo)*plotHeight
	}

	var b strings.Builder
	p.open(&b, "latency")
	p.windows(&b, wins)
	for d := decLo; d <= decHi; d++ {
		y := yOf(math.Pow(10, d))
		fmt.Fprintf(&b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/><text class="tick" x="%s" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`,
			f1(plotLeft), f1(y), f1(plotLeft+p.w), f1(y), f1(plotLeft-6), f1(y), msLabel(math.Pow(10, d)))
	}
	p.axes(&b, "latency (ms, log)")
	for i := 0; i < len(done); i += stride {
		s := done[i]
		fmt.Fprintf(&b, `<circle class="pt %s" cx="%s" cy="%s" r="2"/>`,
			h[s.Done].Type, f1(p.x(float64(h[s.Inv].Time)/1e9)), f1(yOf(latencyMs(h, s))))
	}
	p.legend(&b, []string{"ok", "fail", "info"})
	b.WriteString(`</svg>`)
	return b.String(), note
}

func latencyMs(h history.History, s span) float64 {
	return max(float64(h[s.Done].Time-h[s.Inv].Time)/1e6, 0)
}

func ordinalSuffix(n int) string {
	if n%100 >= 11 && n%100 <= 13 {
		return "th"
	}
	switch n % 10 {
	case 1:
		return "st"
	case 2:
		return "nd"
	case 3:
		return "rd"
	}
	return "th"
}

// msLabel prints a power of ten of milliseconds.
func msLabel(ms float64) string {
	if ms >= 1 {
		return strconv.FormatFloat(ms, 'f', 0, 64)
	}
	return strconv.FormatFloat(ms, 'g', 1, 64)
}

// drawThroughput draws client completions per second, one line per
// completion type, in buckets of at least a second, over the shaded
// fault windows.
func drawThroughput(h history.History, wins []window) (svg string, note string) {
	if len(h) == 0 {
		return "", "no ops"
	}
	spanSec := max(float64(h[len(h)-1].Time)/1e9, 1e-3)
	bucket := 1.0
	for _, m := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600} {
		bucket = m
		if spanSec/m <= maxThroughputBuckets {
			break
		}
	}
	n := max(int(math.Ceil(spanSec/bucket)), 1)
	types := []history.Type{history.OK, history.Fail, history.Info}
	counts := map[history.Type][]float64{}
	for _, t := range types {
		counts[t] = make([]float64, n)
	}
	any := false
	for i := range h {
		op := &h[i]
		if !op.IsClient() || op.Type == history.Invoke {
			continue
		}
		if c, ok := counts[op.Type]; ok {
			c[min(int(float64(op.Time)/1e9/bucket), n-1)]++
			any = true
		}
	}
	if !any {
		return "", "no completed client ops"
	}
	// The last bucket ends with the history: its rate is over the part of
	// it that elapsed, or it is dropped when too short to mean much.
	lastWidth := spanSec - float64(n-1)*bucket
	if lastWidth < bucket/4 && n > 1 {
		for _, t := range types {
			counts[t][n-2] += counts[t][n-1]
			counts[t] = counts[t][:n-1]
		}
		lastWidth += bucket
		n--
	}
	peak := 0.0
	for _, t := range types {
		for i := range counts[t] {
			w := bucket
			if i == n-1 {
				w = lastWidth
			}
			counts[t][i] /= w
			peak = max(peak, counts[t][i])
		}
	}
	step := niceStep(peak, 5)
	top := math.Ceil(peak/step) * step
	p := newPlot(spanSec)
	yOf := func(v float64) float64 { return plotTop + plotHeight - v/top*plotHeight }

	var b strings.Builder
	p.open(&b, "throughput")
	p.windows(&b, wins)
	for v := 0.0; v <= top+step/2; v += step {
		fmt.Fprintf(&b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/><text class="tick" x="%s" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`,
			f1(plotLeft), f1(yOf(v)), f1(plotLeft+p.w), f1(yOf(v)), f1(plotLeft-6), f1(yOf(v)), strconv.FormatFloat(v, 'f', -1, 64))
	}
	p.axes(&b, "ops/s")
	for _, t := range types {
		var pts []string
		for i, v := range counts[t] {
			// Each bucket's rate is drawn at its middle.
			sec := float64(i)*bucket + bucket/2
			if i == n-1 {
				sec = (float64(i)*bucket + spanSec) / 2
			}
			pts = append(pts, f1(p.x(sec))+","+f1(yOf(v)))
		}
		fmt.Fprintf(&b, `<polyline class="rate %s" points="%s"/>`, t, strings.Join(pts, " "))
	}
	p.legend(&b, []string{"ok", "fail", "info"})
	b.WriteString(`</svg>`)
	if bucket > 1 {
		note = fmt.Sprintf("completions per second, averaged over %gs buckets", bucket)
	}
	return b.String(), note
}

// plot is the frame of a time series: x is seconds since the run began.
type plot struct {
	spanSec float64
	w       float64
}

func newPlot(spanSec float64) plot {
	return plot{spanSec: spanSec, w: plotWidth - plotLeft - plotRight}
}

func (p plot) x(sec float64) float64 { return plotLeft + sec/p.spanSec*p.w }

func (p plot) open(b *strings.Builder, id string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" id="%s" class="plot" width="%s" height="%s" viewBox="0 0 %s %s">`,
		id, f1(plotWidth), f1(plotTop+plotHeight+plotBottom), f1(plotWidth), f1(plotTop+plotHeight+plotBottom))
}

func (p plot) windows(b *strings.Builder, wins []window) {
	order := windowFs(wins)
	for _, w := range wins {
		x0, x1 := p.x(float64(w.t0)/1e9), p.x(float64(w.t1)/1e9)
		fmt.Fprintf(b, `<rect class="win" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`,
			f1(x0), f1(plotTop), f1(max(x1-x0, 2)), f1(plotHeight), windowColor(order, w.f), html.EscapeString(w.label))
	}
}

// axes draws the frame, the time ticks along the bottom and the y label.
func (p plot) axes(b *strings.Builder, ylabel string) {
	step := niceStep(p.spanSec, 10)
	bottom := plotTop + plotHeight
	for t := 0.0; t <= p.spanSec+step/1e6; t += step {
		fmt.Fprintf(b, `<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/><text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>`,
			f1(p.x(t)), f1(bottom), f1(p.x(t)), f1(bottom+4), f1(p.x(t)), f1(bottom+16), secLabel(t, step))
	}
	fmt.Fprintf(b, `<rect class="frame" x="%s" y="%s" width="%s" height="%s"/>`, f1(plotLeft), f1(plotTop), f1(p.w), f1(plotHeight))
	fmt.Fprintf(b, `<text class="ylabel" x="14" y="%s" transform="rotate(-90 14 %s)" text-anchor="middle">%s</text>`,
		f1(plotTop+plotHeight/2), f1(plotTop+plotHeight/2), html.EscapeString(ylabel))
	fmt.Fprintf(b, `<text class="tick" x="%s" y="%s" text-anchor="end">time since the run began</text>`, f1(plotLeft+p.w), f1(bottom+30))
}

func (p plot) legend(b *strings.Builder, types []string) {
	x := plotLeft + 10
	for _, t := range types {
		fmt.Fprintf(b, `<circle class="pt %s" cx="%s" cy="%s" r="4"/><text class="tick" x="%s" y="%s" dominant-baseline="middle">%s</text>`,
			t, f1(x), f1(plotTop+12), f1(x+8), f1(plotTop+12), t)
		x += 52
	}
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func f3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
