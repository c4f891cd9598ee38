package checker

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
)

func TestSetCheckerJudgesTheFinalRead(t *testing.T) {
	cases := []struct {
		name   string
		build  func(b *histBuilder) []wantAnomaly
		valid  Validity
		counts map[string]int
	}{
		{
			name: "every acknowledged add read is valid",
			build: func(b *histBuilder) []wantAnomaly {
				b.call(0, "add", num(1), history.OK, num(1))
				b.call(1, "add", num(2), history.OK, num(2))
				b.call(2, "read-all", nil, history.OK, list(2, 1))
				return nil
			},
			valid:  Valid,
			counts: map[string]int{"attempted": 2, "acknowledged": 2},
		},
		{
			name: "reports lost ack",
			build: func(b *histBuilder) []wantAnomaly {
				i1, c1 := b.call(0, "add", num(1), history.OK, num(1))
				b.call(1, "add", num(2), history.OK, num(2))
				_, r := b.call(2, "read-all", nil, history.OK, list(2))
				return []wantAnomaly{{"lost", "1", []int64{i1, c1, r}}}
			},
			valid:  Invalid,
			counts: map[string]int{"lost": 1},
		},
		{
			name: "reports unexpected element never added",
			build: func(b *histBuilder) []wantAnomaly {
				b.call(0, "add", num(1), history.OK, num(1))
				_, r := b.call(2, "read-all", nil, history.OK, list(1, 9))
				return []wantAnomaly{{"unexpected", "9", []int64{r}}}
			},
			valid:  Invalid,
			counts: map[string]int{"unexpected": 1},
		},
		{
			name: "reports unexpected element whose add failed",
			build: func(b *histBuilder) []wantAnomaly {
				i, c := b.call(0, "add", num(4), history.Fail, nil)
				_, r := b.call(2, "read-all", nil, history.OK, list(4))
				return []wantAnomaly{{"unexpected", "4", []int64{i, c, r}}}
			},
			valid:  Invalid,
			counts: map[string]int{"unexpected": 1, "failed": 1},
		},
		{
			name: "reports unexpected element added only after the read",
			build: func(b *histBuilder) []wantAnomaly {
				_, r := b.call(2, "read-all", nil, history.OK, list(5))
				b.call(0, "add", num(5), history.OK, num(5))
				return []wantAnomaly{{"unexpected", "5", []int64{r}}}
			},
			valid: Invalid,
		},
		{
			name: "reports duplicated element",
			build: func(b *histBuilder) []wantAnomaly {
				i, c := b.call(0, "add", num(3), history.OK, num(3))
				_, r := b.call(2, "read-all", nil, history.OK, list(3, 3))
				return []wantAnomaly{{"duplicated", "3", []int64{i, c, r}}}
			},
			valid:  Invalid,
			counts: map[string]int{"duplicated": 1},
		},
		{
			name: "info add present is recovered, absent is info-lost, both legal",
			build: func(b *histBuilder) []wantAnomaly {
				b.call(0, "add", num(1), history.Info, nil)
				b.call(10, "add", num(2), history.Info, nil)
				b.invoke(20, "add", num(3)) // never completes: indeterminate too
				b.call(30, "read-all", nil, history.OK, list(1, 3))
				return nil
			},
			valid:  Valid,
			counts: map[string]int{"recovered": 2, "info-lost": 1},
		},
		{
			name: "ok add concurrent with the final read may be missing",
			build: func(b *histBuilder) []wantAnomaly {
				b.invoke(0, "add", num(1))
				b.invoke(1, "read-all", nil)
				b.complete(0, history.OK, num(1))
				b.complete(1, history.OK, list())
				return nil
			},
			valid:  Valid,
			counts: map[string]int{"never-read": 1},
		},
		{
			name: "the last ok read-all is the final read",
			build: func(b *histBuilder) []wantAnomaly {
				i, c := b.call(0, "add", num(1), history.OK, num(1))
				b.call(2, "read-all", nil, history.OK, list(1))
				_, r := b.call(2, "read-all", nil, history.OK, list())
				b.call(2, "read-all", nil, history.Fail, nil)
				return []wantAnomaly{{"lost", "1", []int64{i, c, r}}}
			},
			valid: Invalid,
		},
		{
			name: "numbers compare by value whatever their spelling",
			build: func(b *histBuilder) []wantAnomaly {
				b.call(0, "add", json.Number("3"), history.OK, nil)
				b.call(0, "add", "x", history.OK, nil)
				b.call(0, "add", json.Number("7"), history.OK, nil)
				b.call(2, "read-all", nil, history.OK, []any{3, "x", json.Number("7.0")})
				return nil
			},
			valid: Valid,
		},
		{
			name: "the string 7 is not the number 7",
			build: func(b *histBuilder) []wantAnomaly {
				b.call(0, "add", json.Number("3"), history.OK, nil)
				i, c := b.call(0, "add", json.Number("7"), history.OK, nil)
				_, r := b.call(2, "read-all", nil, history.OK, []any{3, "7"})
				return []wantAnomaly{{"lost", "7", []int64{i, c, r}}, {"unexpected", `"7"`, []int64{r}}}
			},
			valid: Invalid,
		},
		{
			name: "no read-all is unknown",
			build: func(b *histBuilder) []wantAnomaly {
				b.call(0, "add", num(1), history.OK, num(1))
				b.call(2, "read-all", nil, history.Info, nil)
				return nil
			},
			valid: Unknown,
		},
		{
			name: "malformed add value is named, never valid",
			build: func(b *histBuilder) []wantAnomaly {
				i, _ := b.call(0, "add", map[string]any{"x": 1}, history.OK, nil)
				b.call(2, "read-all", nil, history.OK, list())
				return []wantAnomaly{{"malformed", "", []int64{i}}}
			},
			valid: Unknown,
		},
		{
			name: "malformed read value is named, never valid",
			build: func(b *histBuilder) []wantAnomaly {
				b.call(0, "add", num(1), history.OK, nil)
				_, r := b.call(2, "read-all", nil, history.OK, "1,2")
				return []wantAnomaly{{"malformed", "", []int64{r}}}
			},
			valid: Unknown,
		},
		{
			name: "malformed element does not hide a lost ack",
			build: func(b *histBuilder) []wantAnomaly {
				i, c := b.call(0, "add", num(1), history.OK, nil)
				_, r := b.call(2, "read-all", nil, history.OK, []any{[]any{}, nil})
				return []wantAnomaly{{"malformed", "", []int64{r}}, {"malformed", "", []int64{r}}, {"lost", "1", []int64{i, c, r}}}
			},
			valid: Invalid,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &histBuilder{}
			want := tc.build(b)
			r := NewSet().Check(context.Background(), b.h)
			checkResult(t, b.h, r, tc.valid, want)
			for k, n := range tc.counts {
				if r.Counts[k] != n {
					t.Errorf("count %s = %d, want %d (counts %v)", k, r.Counts[k], n, r.Counts)
				}
			}
			if r.Valid == Unknown && len(r.Notes) == 0 {
				t.Errorf("unknown verdict without a note saying why")
			}
		})
	}
}

func TestSetCheckerIsUnknownWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h := genSetHistory(1000, 7)
	if r := NewSet().Check(ctx, h); r.Valid != Unknown {
		t.Fatalf("cancelled check: %v, want unknown (notes %q)", r.Valid, r.Notes)
	}
}

func TestSetCheckerPassesGeneratedHistory(t *testing.T) {
	h := genSetHistory(20_000, 3)
	r := NewSet().Check(context.Background(), h)
	checkResult(t, h, r, Valid, nil)
	if r.Counts["recovered"] == 0 || r.Counts["info-lost"] == 0 {
		t.Errorf("generator should exercise info adds both ways: counts %v", r.Counts)
	}
}

func TestSetElementsAreValueKeys(t *testing.T) {
	cases := []struct {
		in   any
		want string
		ok   bool
	}{
		{json.Number("3"), "3", true},
		{json.Number("3.0"), "3", true},
		{json.Number("1e2"), "100", true},
		{json.Number("9223372036854775808"), "9223372036854775808", true}, // beyond int64: every digit kept
		{"3", `"3"`, true},                                                // a string is never a number
		{"x", `"x"`, true},
		{3.0, "3", true},
		{true, "true", true},
		{json.Number("1e999"), "", false},
		{nil, "", false},
		{[]any{num(1)}, "", false},
		{map[string]any{}, "", false},
	}
	for _, tc := range cases {
		got, ok := elementText(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("elementText(%#v) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
