package checker

import (
	"context"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
)

// balances builds a read-balances value from account=balance pairs.
func balances(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case int:
			m[kv[i].(string)] = num(int64(v))
		default:
			m[kv[i].(string)] = v
		}
	}
	return m
}

func int64p(n int64) *int64 { return &n }

func TestBankCheckerJudgesEveryRead(t *testing.T) {
	cases := []struct {
		name  string
		opts  BankOptions
		build func(b *histBuilder) []wantAnomaly
		valid Validity
		note  string // a note that must be present
	}{
		{
			name: "concurrent transfers whose reads always sum right are valid",
			build: func(b *histBuilder) []wantAnomaly {
				b.call(9, "read-balances", nil, history.OK, balances("a", 50, "b", 50))
				b.invoke(0, "transfer", map[string]any{"from": "a", "to": "b", "amount": num(10)})
				b.invoke(1, "transfer", map[string]any{"from": "b", "to": "a", "amount": num(30)})
				b.call(2, "read-balances", nil, history.OK, balances("a", 40, "b", 60))
				b.complete(0, history.OK, nil)
				b.call(3, "read-balances", nil, history.OK, balances("a", 70, "b", 30))
				b.complete(1, history.Info, nil)
				b.call(2, "read-balances", nil, history.Fail, nil) // a failed read says nothing
				b.call(9, "read-balances", nil, history.OK, balances("a", 70, "b", 30))
				return nil
			},
			valid: Valid,
			note:  "inferred",
		},
		{
			name: "reports wrong total against the given total",
			opts: BankOptions{Total: int64p(100)},
			build: func(b *histBuilder) []wantAnomaly {
				_, r := b.call(9, "read-balances", nil, history.OK, balances("a", 50, "b", 40))
				b.call(9, "read-balances", nil, history.OK, balances("a", 60, "b", 40))
				return []wantAnomaly{{"wrong-total", "", []int64{r}}}
			},
			valid: Invalid,
		},
		{
			name: "reports wrong total against the inferred total",
			build: func(b *histBuilder) []wantAnomaly {
				b.call(9, "read-balances", nil, history.OK, balances("a", 50, "b", 50))
				_, r := b.call(9, "read-balances", nil, history.OK, balances("a", 40, "b", 50))
				return []wantAnomaly{{"wrong-total", "", []int64{r}}}
			},
			valid: Invalid,
			note:  "inferred",
		},
		{
			name: "reports negative balance",
			build: func(b *histBuilder) []wantAnomaly {
				_, r := b.call(9, "read-balances", nil, history.OK, balances("a", -10, "b", 110))
				return []wantAnomaly{{"negative-balance", "a", []int64{r}}}
			},
			valid: Invalid,
		},
		{
			name: "negative balance is legal when allowed",
			opts: BankOptions{AllowNegative: true},
			build: func(b *histBuilder) []wantAnomaly {
				b.call(9, "read-balances", nil, history.OK, balances("a", -10, "b", 110))
				return nil
			},
			valid: Valid,
		},
		{
			name: "reports unknown and missing accounts",
			opts: BankOptions{Accounts: []string{"a", "b", "c"}},
			build: func(b *histBuilder) []wantAnomaly {
				_, r := b.call(9, "read-balances", nil, history.OK, balances("a", 50, "b", 40, "z", 10))
				return []wantAnomaly{{"missing-account", "c", []int64{r}}, {"unknown-account", "z", []int64{r}}}
			},
			valid: Invalid,
		},
		{
			name: "accounts default to those of the first read",
			opts: BankOptions{Total: int64p(100)},
			build: func(b *histBuilder) []wantAnomaly {
				b.call(9, "read-balances", nil, history.OK, balances("a", 50, "b", 50))
				_, r := b.call(9, "read-balances", nil, history.OK, balances("a", 100))
				return []wantAnomaly{{"missing-account", "b", []int64{r}}}
			},
			valid: Invalid,
		},
		{
			name: "no ok read is unknown",
			build: func(b *histBuilder) []wantAnomaly {
				b.call(0, "transfer", map[string]any{"from": "a", "to": "b", "amount": num(1)}, history.OK, nil)
				b.call(9, "read-balances", nil, history.Info, nil)
				return nil
			},
			valid: Unknown,
			note:  "no ok read-balances",
		},
		{
			name: "malformed reads are named, never valid",
			build: func(b *histBuilder) []wantAnomaly {
				_, r1 := b.call(9, "read-balances", nil, history.OK, []any{num(1)})
				_, r2 := b.call(9, "read-balances", nil, history.OK, balances("a", "fifty", "b", 50))
				b.call(9, "read-balances", nil, history.OK, balances("a", 50, "b", 50))
				return []wantAnomaly{{"malformed", "", []int64{r1}}, {"malformed", "", []int64{r2}}}
			},
			valid: Unknown,
		},
		{
			// Jepsen's bank checker: a nil balance is an error (:nil-balance),
			// the account's row was not found; the read has no total to judge.
			name: "reports nil balance",
			build: func(b *histBuilder) []wantAnomaly {
				b.call(9, "read-balances", nil, history.OK, balances("a", 50, "b", 50))
				_, r := b.call(9, "read", nil, history.OK, balances("a", nil, "b", 100))
				return []wantAnomaly{{"nil-balance", "a", []int64{r}}}
			},
			valid: Invalid,
		},
		{
			name: "a sum beyond int64 is a wrong total, not a crash",
			opts: BankOptions{Total: int64p(0)},
			build: func(b *histBuilder) []wantAnomaly {
				_, r := b.call(9, "read-balances", nil, history.OK, balances("a", num(1<<62), "b", num(1<<62), "c", num(1<<62)))
				return []wantAnomaly{{"wrong-total", "", []int64{r}}}
			},
			valid: Invalid,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &histBuilder{}
			want := tc.build(b)
			r := NewBank(tc.opts).Check(context.Background(), b.h)
			checkResult(t, b.h, r, tc.valid, want)
			if tc.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tc.note) {
				t.Errorf("notes %q lack %q", r.Notes, tc.note)
			}
			if r.Valid == Unknown && len(r.Notes) == 0 {
				t.Errorf("unknown verdict without a note saying why")
			}
		})
	}
}

func TestBankCheckerCountsBadReads(t *testing.T) {
	b := &histBuilder{}
	b.call(9, "read-balances", nil, history.OK, balances("a", 50, "b", 50))
	b.call(9, "read-balances", nil, history.OK, balances("a", -1, "b", 90)) // two anomalies, one bad read
	b.call(9, "read-balances", nil, history.OK, balances("a", 50, "b", 50))
	r := NewBank(BankOptions{}).Check(context.Background(), b.h)
	if r.Counts["reads"] != 3 || r.Counts["bad-reads"] != 1 {
		t.Errorf("counts %v, want reads 3, bad-reads 1; anomalies %+v", r.Counts, r.Anomalies)
	}
}

func TestBankCheckerPassesGeneratedHistory(t *testing.T) {
	h := genBankHistory(20_000, 3)
	r := NewBank(BankOptions{Total: int64p(1000)}).Check(context.Background(), h)
	checkResult(t, h, r, Valid, nil)
}
