package history

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// ValueKey returns v's identity under the one value rule every checker
// compares values by: two values are the same value exactly when their
// keys are equal. The key is also how a person reads the value: 3, "x",
// nil, true, [1 "a"], {"k" 1}.
//
// The rule (docs/values.md gives the reasons):
//   - A number is never a string: the string "3" is not the number 3, as
//     in Clojure ((= 3 "3") is false) and in JSON's data model. A client
//     that reads back text for a number it wrote must convert it itself.
//   - Numbers compare by value, because JSON, the history format, has one
//     number type: 3, 3.0, 3e0 and 30e-1 are one number.
//   - A number spelled as an integer is exact at any size (Clojure's
//     BigInt); one spelled with a fraction or an exponent is read as an
//     IEEE 754 double, as Clojure's reader and JSON decoders read it, and
//     is that double's exact value. So 0.1 and 0.10 are one number, and
//     9007199254740993 is not 9007199254740993.0 (which reads as 2^53).
//   - Lists are equal element by element, maps key by key (JSON keys are
//     strings); nil, true and false are themselves.
//
// v must be in a shape a reader or the Recorder gives (see Op), or a Go
// integer or float64 (histories built in code). A number that is not a
// finite double (1e999) or any other shape is an error: a checker reports
// it as malformed rather than guess.
func ValueKey(v any) (string, error) {
	switch x := v.(type) {
	case json.Number:
		return numberKey(string(x))
	case string:
		return strconv.Quote(x), nil
	case nil:
		return "nil", nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return floatKey(x)
	case []any, map[string]any:
		var b strings.Builder
		if err := writeValueKey(&b, x); err != nil {
			return "", err
		}
		return b.String(), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	}
	return "", fmt.Errorf("unsupported value type %T", v)
}

// writeValueKey writes a list as [a b] and a map as {"k" v, …} with
// sorted keys, each element by ValueKey.
func writeValueKey(b *strings.Builder, v any) error {
	switch x := v.(type) {
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(' ')
			}
			if err := writeValueKey(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(k))
			b.WriteByte(' ')
			if err := writeValueKey(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	}
	k, err := ValueKey(v)
	if err != nil {
		return err
	}
	b.WriteString(k)
	return nil
}

// numberKey is a number's key from its text: integers lose leading zeros
// and a plus sign whatever their size; anything else goes through
// float64.
func numberKey(t string) (string, error) {
	if canonicalInt(t) {
		return t, nil // the common case, without an allocation
	}
	digits, neg := t, false
	if digits != "" && (digits[0] == '-' || digits[0] == '+') {
		digits, neg = digits[1:], digits[0] == '-'
	}
	if digits != "" && strings.Trim(digits, "0123456789") == "" {
		digits = strings.TrimLeft(digits, "0")
		switch {
		case digits == "":
			return "0", nil
		case neg:
			return "-" + digits, nil
		}
		return digits, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return "", fmt.Errorf("malformed number %q", t)
	}
	return floatKey(f)
}

// floatKey is a double's key: an integral double is the integer it
// equals, exactly; any other is its shortest round-trip text.
func floatKey(f float64) (string, error) {
	switch {
	case math.IsInf(f, 0) || math.IsNaN(f):
		return "", fmt.Errorf("number %v is not a finite double", f)
	case f != math.Trunc(f):
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	case f >= -(1<<63) && f < 1<<63:
		return strconv.FormatInt(int64(f), 10), nil
	}
	return new(big.Float).SetFloat64(f).Text('f', 0), nil
}

// canonicalInt reports whether s is an integer in its shortest decimal
// form: -?(0|[1-9][0-9]*), not -0.
func canonicalInt(s string) bool {
	d := strings.TrimPrefix(s, "-")
	if d == "" || (d[0] == '0' && len(d) > 1) || s == "-0" {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// Int reads an integer under ValueKey's rule: a number whose value is an
// integer that fits in int64, in any shape (int64 or int from a generator,
// json.Number from a history read back, "3.0", a float64 from a decoder
// without UseNumber). A string is not an integer, whatever it spells.
func Int(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n, nil
		}
	case string, bool, nil, []any, map[string]any:
		return 0, fmt.Errorf("%s is not an integer", valueText(v))
	}
	k, err := ValueKey(v)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(k, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer", k)
	}
	return n, nil
}

// valueText is v as ValueKey spells it, or Go's %v when it has no key.
func valueText(v any) string {
	if k, err := ValueKey(v); err == nil {
		return k
	}
	return fmt.Sprintf("%v (%T)", v, v)
}
