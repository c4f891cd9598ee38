package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// NormalValue returns v in the shapes a reader gives values back (see
// Op): nil, bool, json.Number, string, []any, map[string]any. It is the
// one value rule: readers produce these shapes, and the Recorder keeps
// what it records in them, so a run's own check and `analyze` of its
// history file see the same values (an int64 3 and a json.Number "3" are
// the same number to every checker only if they arrive as one shape).
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

// Int reads an integer operand in any shape a value arrives in: int64 or
// int from a generator, json.Number from a history read back, a float64
// that holds an integer exactly (a JSON decoder without UseNumber).
func Int(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case json.Number:
		return x.Int64()
	case float64:
		if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
			return int64(x), nil
		}
	}
	return 0, fmt.Errorf("%v (%T) is not an integer", v, v)
}
