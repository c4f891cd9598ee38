package history

import "testing"

func TestScanIntTakesJSONIntegersOnly(t *testing.T) {
	cases := []struct {
		in   string
		n    int64
		end  int
		want bool
	}{
		{"0", 0, 1, true},
		{"-0", 0, 2, true},
		{"7,", 7, 1, true},
		{"-12}", -12, 3, true},
		{"123456789012345678", 123456789012345678, 18, true},
		{"1234567890123456789", 0, 0, false}, // 19 digits: strconv's business
		{"01", 0, 0, false},
		{"1.5", 0, 0, false},
		{"1e5", 0, 0, false},
		{"2E1", 0, 0, false},
		{"-", 0, 0, false},
		{"+1", 0, 0, false},
		{"x", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, c := range cases {
		n, end, ok := scanInt([]byte(c.in), 0)
		if ok != c.want || ok && (n != c.n || end != c.end) {
			t.Errorf("scanInt(%q) = %d, %d, %v; want %d, %d, %v", c.in, n, end, ok, c.n, c.end, c.want)
		}
	}
}
