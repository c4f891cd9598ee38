package report

import (
	"slices"
	"strings"

	"github.com/chaoscheck/chaoscheck/history"
)

// span is one bar of the timeline: a client invocation and its
// completion, or one nemesis action, as positions in the history
// (history.IndexPair); Done is -1 when the history ended first (the op
// stays indeterminate, as Jepsen treats it).
type span = history.IndexPair

// clientSpans pairs every client invocation with its completion, by
// history.PairIndexes (the one pairing rule).
func clientSpans(h history.History) []span { return history.PairIndexes(h) }

// nemesisSpans pairs each nemesis invoke with the next nemesis completion
// of the same f. A completion with no invoke before it (Jepsen records
// some faults as info alone) is an action of its own with no duration.
func nemesisSpans(h history.History) []span {
	var spans []span
	pending := int32(-1)
	for i := range h {
		op := &h[i]
		if op.IsClient() {
			continue
		}
		if op.Type == history.Invoke {
			if pending >= 0 {
				spans = append(spans, span{Inv: pending, Done: -1})
			}
			pending = int32(i)
			continue
		}
		if pending >= 0 && h[pending].F == op.F {
			spans = append(spans, span{Inv: pending, Done: int32(i)})
			pending = -1
			continue
		}
		spans = append(spans, span{Inv: int32(i), Done: int32(i)})
	}
	if pending >= 0 {
		spans = append(spans, span{Inv: pending, Done: -1})
	}
	slices.SortStableFunc(spans, func(a, b span) int { return int(a.Inv - b.Inv) })
	return spans
}

// window is a stretch of time under a fault, shaded behind the plots.
type window struct {
	f      string // the nemesis action that opened it
	t0, t1 int64  // ns since the run began
	label  string // f, value and error of the action, for its title
}

// faultWindows turns nemesis actions into the time spans they disturbed.
//
// An action that leaves a fault in place (kill, pause, start-X, Jepsen's
// start) lasts until the action that undoes it (start after a kill,
// resume, stop-X, stop) completes; one still in place at the end lasts
// until the final observations begin (the runner heals before them), or
// to the end of the history. Every other action (restart-leader,
// alternate-kill …) shades from its invoke to its completion.
func faultWindows(h history.History, actions []span) []window {
	if len(h) == 0 {
		return nil
	}
	end := h[len(h)-1].Time
	var wins []window
	var open []int // positions in wins of lasting faults not yet undone
	for _, a := range actions {
		inv := &h[a.Inv]
		t1 := end
		if a.Done >= 0 {
			t1 = h[a.Done].Time
		}
		label := actionLabel(h, a)
		f := inv.F
		killOpen := slices.ContainsFunc(open, func(i int) bool { return wins[i].f == "kill" })
		switch {
		case isHeal(f, killOpen):
			kept := open[:0]
			for _, i := range open {
				if heals(f, wins[i].f) {
					wins[i].t1 = t1
				} else {
					kept = append(kept, i)
				}
			}
			if len(kept) == len(open) { // undoes nothing we know of: assume everything
				for _, i := range open {
					wins[i].t1 = t1
				}
				kept = kept[:0]
			}
			open = kept
		case isLasting(f):
			open = append(open, len(wins))
			wins = append(wins, window{f: f, t0: inv.Time, t1: -1, label: label})
		default:
			wins = append(wins, window{f: f, t0: inv.Time, t1: t1, label: label})
		}
	}
	if len(open) > 0 {
		last := end
		for _, i := range open {
			t := finalObservation(h, wins[i].t0)
			if t < 0 {
				t = last
			}
			wins[i].t1 = t
			wins[i].label += " (until the heal)"
		}
	}
	return wins
}

// isLasting reports whether nemesis action f leaves its fault in place
// after it completes.
func isLasting(f string) bool {
	return f == "kill" || f == "pause" || f == "start" || strings.HasPrefix(f, "start-")
}

// isHeal reports whether nemesis action f undoes a lasting fault. "start"
// restarts killed nodes in chaoscheck's kill nemesis, but begins a fault
// in Jepsen's start/stop nemeses: it heals only while a kill is in place.
func isHeal(f string, killOpen bool) bool {
	return f == "resume" || f == "stop" || f == "heal" || strings.HasPrefix(f, "stop-") || (f == "start" && killOpen)
}

// heals reports whether heal undoes the fault opened by fault.
func heals(heal, fault string) bool {
	switch {
	case heal == "start":
		return fault == "kill"
	case heal == "resume":
		return fault == "pause"
	case heal == "stop":
		return fault == "start"
	case strings.HasPrefix(heal, "stop-"):
		return fault == "start-"+strings.TrimPrefix(heal, "stop-")
	}
	return heal == "heal"
}

// finalObservationFs are the fs of reads a workload makes only after the
// heal (the README's "History format": final observations are ops
// too). read-balances is not
// one: the bank workload also reads balances under faults.
var finalObservationFs = []string{"read-all", "final-read"}

// finalObservation is the time of the first final observation invoked
// after t, or -1.
func finalObservation(h history.History, t int64) int64 {
	for i := range h {
		op := &h[i]
		if op.Time >= t && op.IsClient() && op.Type == history.Invoke && slices.Contains(finalObservationFs, op.F) {
			return op.Time
		}
	}
	return -1
}

// actionLabel describes a nemesis action: f, value, and its error.
func actionLabel(h history.History, a span) string {
	op := h[a.Inv]
	if a.Done >= 0 {
		op = h[a.Done] // the completion says what was done
	}
	s := op.F
	if op.Value != nil {
		s += " " + clip(jsonText(op.Value), 120)
	}
	if op.Error != "" {
		s += " (error: " + clip(op.Error, 120) + ")"
	}
	return s
}

// opPosition finds the position in h of the op with index idx; h is in
// index order (history.Validate).
func opPosition(h history.History, idx int64) (int, bool) {
	i, ok := slices.BinarySearchFunc(h, idx, func(op history.Op, idx int64) int {
		switch {
		case op.Index < idx:
			return -1
		case op.Index > idx:
			return 1
		}
		return 0
	})
	return i, ok
}
