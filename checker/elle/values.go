package elle

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/chaoscheck/chaoscheck/history"
)

// val is a key or an element in the form the analysis compares: an
// integer that fits in 62 bits is itself; anything else (strings, large or
// fractional numbers, keywords) is interned and encoded below
// internedBase. Integers are what Jepsen's workloads write, so the common
// case costs no map lookup and no allocation.
type val int64

const (
	smallLimit  = 1 << 62
	internedTag = math.MinInt64 // interned values are internedTag + id
	// nilVal is a nil read in rw-register: the initial state.
	nilVal val = internedTag
)

// values interns non-integer keys and elements by history.ValueKey, the
// one value rule: numbers by value (3.0 is 3), and strings apart from
// numbers, as in Clojure: the string "3" is not the number 3.
type values struct {
	ids   map[string]val // ValueKey → val
	texts []string       // id-1 → text, for printing
}

func newValues() *values { return &values{ids: map[string]val{}} }

// of returns the canonical val of v and whether v is a scalar (nil, lists,
// maps and values the rule refuses are not).
func (vs *values) of(v any) (val, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return vs.ofInt(n), true
		}
	case int:
		return vs.ofInt(int64(x)), true
	case int64:
		return vs.ofInt(x), true
	case nil, []any, map[string]any:
		return 0, false
	}
	k, err := history.ValueKey(v)
	if err != nil {
		return 0, false
	}
	if n, err := strconv.ParseInt(k, 10, 64); err == nil {
		return vs.ofInt(n), true
	}
	text := k
	if s, ok := v.(string); ok {
		text = s // EDN keywords arrive as strings: print them bare
	}
	return vs.intern(k, text), true
}

func (vs *values) ofInt(n int64) val {
	if n > -smallLimit && n < smallLimit {
		return val(n)
	}
	k := strconv.FormatInt(n, 10)
	return vs.intern(k, k)
}

func (vs *values) intern(key, text string) val {
	if id, ok := vs.ids[key]; ok {
		return id
	}
	vs.texts = append(vs.texts, text)
	id := internedTag + val(len(vs.texts))
	vs.ids[key] = id
	return id
}

// text prints v as a person reads it in a history: numbers and strings
// (EDN keywords arrive as strings) bare, nil as nil.
func (vs *values) text(v val) string {
	if v == nilVal {
		return "nil"
	}
	if v > -smallLimit {
		return strconv.FormatInt(int64(v), 10)
	}
	return vs.texts[int(v-internedTag)-1]
}

// listText prints a list of vals as [a b c], eliding the middle of long
// ones.
func (vs *values) listText(l []val) string {
	const max = 12
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range l {
		if len(l) > max && i >= max/2 && i < len(l)-max/2 {
			if i == max/2 {
				b.WriteString(" …")
			}
			continue
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vs.text(v))
	}
	b.WriteByte(']')
	return b.String()
}

// hashStep extends a list hash by one element. Reads are compared with the
// longest read of their key by (length, hash of the prefix) instead of
// element by element: it saves keeping every read's list. A collision
// (2^-64 per comparison) could only hide an incompatible order, never
// invent one, since a difference found is confirmed on the lists.
func hashStep(h uint64, v val) uint64 {
	x := uint64(v) * 0x9E3779B97F4A7C15
	x ^= x >> 29
	return (h ^ x) * 0x100000001B3
}
