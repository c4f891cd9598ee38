package history

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// NormalValue returns v in the shapes a reader gives values back (see
// Op): nil, bool, json.Number, string, []any, map[string]any. It is the
// one value shape: readers produce these shapes, and the Recorder keeps
// what it records in them, so a run's own check and `analyze` of its
// history file see the same values. Which values are equal is ValueKey's
// rule, not a shape's.
func NormalValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, json.Number:
		return v, nil
	case string:
		if utf8.ValidString(x) {
			return v, nil
		}
	case int:
		return json.Number(strconv.Itoa(x)), nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}
