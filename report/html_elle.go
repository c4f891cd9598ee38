package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/checker/elle"
)

// html_elle.go draws the dependency cycles the Elle checker found: the
// cycle's transactions on a circle, in order, each step an arrow labelled
// with its dependency kind and the key that proves it.

// maxCycleNodes bounds a drawn cycle; a longer one is left to its text.
const maxCycleNodes = 24

// elleDetails returns the Elle details of a result, whether it holds the
// checker's own value or one decoded from results.json.
func elleDetails(c checker.Result) *elle.Details {
	switch d := c.Details.(type) {
	case *elle.Details:
		return d
	case map[string]any:
		if _, ok := d["cycles"]; !ok {
			return nil
		}
		b, err := json.Marshal(d)
		if err != nil {
			return nil
		}
		var out elle.Details
		if json.Unmarshal(b, &out) != nil {
			return nil
		}
		return &out
	}
	return nil
}

// cycleSVG draws the cycle behind anomaly i of c, or "" when it is not a
// cycle (or too long to draw).
func cycleSVG(c checker.Result, i int) template.HTML {
	d := elleDetails(c)
	if d == nil {
		return ""
	}
	for _, cy := range d.Cycles {
		if cy.Anomaly == i && len(cy.Txns) >= 2 && len(cy.Txns) <= maxCycleNodes && len(cy.Steps) == len(cy.Txns) {
			return template.HTML(drawCycle(cy))
		}
	}
	return ""
}

// stepColors tells dependency kinds apart at a glance.
var stepColors = map[string]string{"ww": "#b03a2e", "wr": "#1f618d", "rw": "#b9770e", "process": "#6c3483", "realtime": "#117a65"}

func drawCycle(cy elle.Cycle) string {
	n := len(cy.Txns)
	r := math.Max(70, 28*float64(n))
	const boxW, boxH, pad = 84.0, 34.0, 70.0
	size := 2*(r+pad) + boxW
	cx, cy0 := size/2, size/2
	pos := func(i int) (float64, float64) {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(n)
		return cx + r*math.Cos(a), cy0 + r*math.Sin(a)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="cycle" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s cycle">`,
		size, size, size, size, template.HTMLEscapeString(cy.Kind))
	b.WriteString(`<defs>`)
	for k, col := range stepColors {
		fmt.Fprintf(&b, `<marker id="arrow-%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>`, k, col)
	}
	b.WriteString(`</defs>`)
	for i, st := range cy.Steps {
		x1, y1 := pos(i)
		x2, y2 := pos((i + 1) % n)
		// Bend each arrow away from the centre, so the two arrows of a
		// two-txn cycle do not overlap, and stop it at the boxes' edges.
		mx, my := (x1+x2)/2, (y1+y2)/2
		ox, oy := mx-cx, my-cy0
		l := math.Hypot(ox, oy)
		if l < 1 {
			ox, oy, l = y1-y2, x2-x1, math.Hypot(x2-x1, y2-y1)
		}
		bend := 0.35 * math.Hypot(x2-x1, y2-y1)
		qx, qy := mx+ox/l*bend, my+oy/l*bend
		sx, sy := toward(x1, y1, qx, qy, boxW/2, boxH/2)
		ex, ey := toward(x2, y2, qx, qy, boxW/2, boxH/2)
		col := stepColors[st.Kind]
		if col == "" {
			col = "#555"
		}
		marker := st.Kind
		if _, ok := stepColors[marker]; !ok {
			marker = "ww"
		}
		fmt.Fprintf(&b, `<path d="M%.1f,%.1f Q%.1f,%.1f %.1f,%.1f" fill="none" stroke="%s" stroke-width="1.6" marker-end="url(#arrow-%s)"><title>%s</title></path>`,
			sx, sy, qx, qy, ex, ey, col, marker, template.HTMLEscapeString(st.Text))
		label := st.Kind
		if st.Key != "" {
			label += " " + st.Key
		}
		// The curve's midpoint, where the label goes.
		lx, ly := 0.25*sx+0.5*qx+0.25*ex, 0.25*sy+0.5*qy+0.25*ey
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11" fill="%s" stroke="white" stroke-width="3" paint-order="stroke">%s</text>`,
			lx, ly+4, col, template.HTMLEscapeString(clip(label, 24)))
	}
	for i, t := range cy.Txns {
		x, y := pos(i)
		fmt.Fprintf(&b, `<g><title>%s</title><rect x="%.1f" y="%.1f" width="%.0f" height="%.0f" rx="5" fill="#f4f6f7" stroke="#34495e"/>`,
			template.HTMLEscapeString(fmt.Sprintf("op %d (%s, process %d): %s", t.Op, t.Type, t.Process, t.Value)), x-boxW/2, y-boxH/2, boxW, boxH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="12" font-weight="600">op %d</text>`, x, y-2, t.Op)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" fill="#555">process %d</text></g>`, x, y+11, t.Process)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// toward moves from (x, y), a box's centre, toward (tx, ty) until it
// leaves the box of half-width hw and half-height hh.
func toward(x, y, tx, ty, hw, hh float64) (float64, float64) {
	dx, dy := tx-x, ty-y
	if dx == 0 && dy == 0 {
		return x, y
	}
	s := math.Inf(1)
	if dx != 0 {
		s = math.Min(s, hw/math.Abs(dx))
	}
	if dy != 0 {
		s = math.Min(s, hh/math.Abs(dy))
	}
	s = math.Min(s, 1)
	return x + dx*s*1.05, y + dy*s*1.05
}
