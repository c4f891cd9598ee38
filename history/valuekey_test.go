package history

import (
	"encoding/json"
	"testing"
)

// TestValueKeyOneRuleForNumbers: the cases the value rule decides, each
// pair either one value or two.
func TestValueKeyOneRuleForNumbers(t *testing.T) {
	n := func(s string) json.Number { return json.Number(s) }
	cases := []struct {
		name string
		a, b any
		same bool
	}{
		{"a string is not the number it spells", n("3"), "3", false},
		{"a string is not an int", 3, "3", false},
		{"a string with a plus sign is not a number", n("3"), "+3", false},
		{"a list of strings is not a list of numbers", []any{n("1")}, []any{"1"}, false},
		{"a map value string is not a number", map[string]any{"a": n("1")}, map[string]any{"a": "1"}, false},
		{"int and json.Number", 3, n("3"), true},
		{"int64 and json.Number", int64(-3), n("-3"), true},
		{"integral fraction", n("3"), n("3.0"), true},
		{"exponent", n("3"), n("3e0"), true},
		{"negative exponent", n("3"), n("30e-1"), true},
		{"float64 from a decoder without UseNumber", 3.0, n("3"), true},
		{"leading zeros (EDN, hand-written)", n("3"), n("003"), true},
		{"negative zero is zero", n("0"), n("-0.0"), true},
		{"trailing zero of a fraction", n("0.1"), n("0.10"), true},
		{"a fraction is its double", 0.1, n("0.1"), true},
		{"big integers keep every digit", n("9223372036854775808"), n("9223372036854775809"), false},
		{"big integer with leading zeros", n("9223372036854775808"), n("09223372036854775808"), true},
		{"an integer beyond 2^53 is not the double it rounds to", n("9007199254740993"), n("9007199254740993.0"), false},
		{"an integral double is its exact integer", n("1e17"), n("100000000000000000"), true},
		{"an integral double beyond int64 is its exact integer", n("1e23"), n("99999999999999991611392"), true},
		{"different numbers", n("3"), n("4"), false},
		{"different fractions", n("1.5"), n("1.25"), false},
		{"nil is not the string nil", nil, "nil", false},
		{"nil is not false", nil, false, false},
		{"true is not the string true", true, "true", false},
		{"lists element by element", []any{n("1"), n("2.0")}, []any{1, 2}, true},
		{"list order matters", []any{n("1"), n("2")}, []any{n("2"), n("1")}, false},
		{"maps key by key", map[string]any{"b": n("2"), "a": n("1.0")}, map[string]any{"a": 1, "b": 2}, true},
		{"a quote inside a string is not a boundary", []any{"a\" \"b"}, []any{"a", "b"}, false},
	}
	for _, tc := range cases {
		ka, err := ValueKey(tc.a)
		if err != nil {
			t.Fatalf("%s: ValueKey(%#v): %v", tc.name, tc.a, err)
		}
		kb, err := ValueKey(tc.b)
		if err != nil {
			t.Fatalf("%s: ValueKey(%#v): %v", tc.name, tc.b, err)
		}
		if (ka == kb) != tc.same {
			t.Errorf("%s: keys %s and %s, want same=%v", tc.name, ka, kb, tc.same)
		}
	}
}

func TestValueKeyReadsAsAPersonWritesIt(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{json.Number("3.0"), "3"}, {json.Number("-007"), "-7"}, {json.Number("1.50"), "1.5"},
		{"x", `"x"`}, {nil, "nil"}, {true, "true"},
		{[]any{json.Number("1"), "a", nil}, `[1 "a" nil]`},
		{map[string]any{"k": json.Number("1"), "a": []any{}}, `{"a" [], "k" 1}`},
	} {
		if got, err := ValueKey(tc.v); err != nil || got != tc.want {
			t.Errorf("ValueKey(%#v) = %s, %v; want %s", tc.v, got, err, tc.want)
		}
	}
}

func TestValueKeyRefusesWhatItCannotCompare(t *testing.T) {
	for _, v := range []any{json.Number("1e999"), json.Number("x"), json.Number(""), json.Number("NaN"),
		json.Number("inf"), []any{json.Number("1e999")}, struct{}{}, []int{1}} {
		if k, err := ValueKey(v); err == nil {
			t.Errorf("ValueKey(%#v) = %s, want an error", v, k)
		}
	}
}

func TestIntReadsEveryShapeOfAnInteger(t *testing.T) {
	for _, v := range []any{int64(7), 7, json.Number("7"), float64(7), json.Number("7.0"), json.Number("0.7e1")} {
		if n, err := Int(v); err != nil || n != 7 {
			t.Errorf("Int(%v %T) = %d, %v; want 7", v, v, n, err)
		}
	}
	for _, v := range []any{nil, "7", true, 7.5, json.Number("7.5"), json.Number("9223372036854775808"),
		float64(1 << 63), []any{json.Number("7")}} {
		if n, err := Int(v); err == nil {
			t.Errorf("Int(%v %T) = %d, want an error", v, v, n)
		}
	}
}
