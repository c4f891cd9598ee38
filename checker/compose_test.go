package checker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
)

// fixed is a checker with a canned verdict, or one that panics.
type fixed struct {
	name  string
	valid Validity
	panic bool
}

func (f fixed) Name() string { return f.name }

func (f fixed) Check(ctx context.Context, _ history.History) Result {
	if f.panic {
		var m map[string]int
		m["boom"]++ // a real runtime panic: assignment to entry in nil map
	}
	return Result{Checker: f.name, Valid: f.valid}
}

func TestComposeMergesFalseOverUnknownOverTrue(t *testing.T) {
	cases := []struct {
		name string
		in   []Validity
		want Validity
	}{
		{"one valid", []Validity{Valid}, Valid},
		{"all valid", []Validity{Valid, Valid, Valid}, Valid},
		{"unknown beats valid", []Validity{Valid, Unknown, Valid}, Unknown},
		{"invalid beats valid", []Validity{Valid, Invalid}, Invalid},
		{"invalid beats unknown", []Validity{Unknown, Invalid, Valid}, Invalid},
		{"all unknown", []Validity{Unknown, Unknown}, Unknown},
		{"no checkers judged nothing", nil, Unknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cs []Checker
			for i, v := range tc.in {
				cs = append(cs, fixed{name: string(rune('a' + i)), valid: v})
			}
			r := Compose(cs...).Check(context.Background(), nil)
			if r.Valid != tc.want || r.Checker != "compose" || len(r.Anomalies) != 0 {
				t.Fatalf("compose of %v: %v (checker %q, anomalies %v), want %v", tc.in, r.Valid, r.Checker, r.Anomalies, tc.want)
			}
			subs := SubResults(r)
			if len(subs) != len(tc.in) {
				t.Fatalf("compose of %v: %d sub-results, want %d", tc.in, len(subs), len(tc.in))
			}
			for i, s := range subs {
				if s.Checker != string(rune('a'+i)) || s.Valid != tc.in[i] {
					t.Errorf("sub-result %d: %s %v, want %c %v (order given)", i, s.Checker, s.Valid, 'a'+i, tc.in[i])
				}
			}
		})
	}
}

func TestComposeTurnsAPanickingCheckerIntoUnknown(t *testing.T) {
	r := Compose(fixed{name: "ok", valid: Valid}, fixed{name: "buggy", panic: true}, nil).Check(context.Background(), nil)
	if r.Valid != Unknown {
		t.Fatalf("compose with a panicking checker: %v, want unknown", r.Valid)
	}
	subs := SubResults(r)
	if len(subs) != 3 || subs[0].Valid != Valid {
		t.Fatalf("sub-results %+v: want 3, the first valid", subs)
	}
	notes := strings.Join(subs[1].Notes, "\n")
	if subs[1].Checker != "buggy" || subs[1].Valid != Unknown ||
		!strings.Contains(notes, "internal error") || !strings.Contains(notes, "nil map") {
		t.Errorf("panicking checker's result: %s %v, notes %q; want buggy, unknown, an internal error naming the panic", subs[1].Checker, subs[1].Valid, notes)
	}
	if subs[2].Valid != Unknown || len(subs[2].Notes) == 0 {
		t.Errorf("nil checker's result: %+v, want unknown with a note", subs[2])
	}
}

func TestComposeRunsRealCheckersConcurrently(t *testing.T) {
	h := genBankHistory(5000, 11)
	r := Compose(NewBank(BankOptions{}), NewStats(), NewTxID(), NewSet()).Check(context.Background(), h)
	var got []string
	for _, s := range SubResults(r) {
		got = append(got, s.Checker+"="+s.Valid.String())
	}
	// The bank history has no final-read or read-all, so txid and set
	// cannot judge it: unknown.
	want := "bank=valid stats=valid txid=unknown set=unknown"
	if strings.Join(got, " ") != want || r.Valid != Unknown {
		t.Errorf("compose: %v %v, want %s and unknown", r.Valid, got, want)
	}
}

func TestSubResultsReadsDecodedResultsJSON(t *testing.T) {
	r := Compose(fixed{name: "a", valid: Valid}, fixed{name: "b", valid: Invalid}).Check(context.Background(), nil)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	subs := SubResults(back)
	if len(subs) != 2 || subs[0].Checker != "a" || subs[1].Valid != Invalid {
		t.Errorf("decoded sub-results %+v from %s", subs, b)
	}
	if SubResults(Result{Details: "x"}) != nil {
		t.Errorf("SubResults of a non-composed result should be nil")
	}
}

// TestCheckersNeverPanicOrPassOnMalformedValues puts values of the wrong
// shape where each checker needs a particular one, and calls the checkers
// directly (not through Compose, which would hide a panic).
func TestCheckersNeverPanicOrPassOnMalformedValues(t *testing.T) {
	odd := []any{nil, true, "x", num(-1), json.Number("1.5"), []any{nil}, []any{[]any{}}, map[string]any{"a": []any{}},
		map[string]any{"p1": map[string]any{"t1": nil}}, map[string]any{"participants": map[string]any{}}}
	roles := []struct {
		name    string
		checker Checker
		build   func(b *histBuilder, v any)
		legal   func(v any) bool // values of the right shape for this role
	}{
		{"set add value", NewSet(), func(b *histBuilder, v any) {
			b.call(0, "add", v, history.OK, v)
			b.call(1, "read-all", nil, history.OK, []any{v})
		}, func(v any) bool { _, ok := elementText(v); return ok }},
		{"set read-all value", NewSet(), func(b *histBuilder, v any) {
			b.call(1, "read-all", nil, history.OK, v)
		}, func(v any) bool { return false }},
		{"bank read-balances value", NewBank(BankOptions{}), func(b *histBuilder, v any) {
			b.call(1, "read-balances", nil, history.OK, v)
		}, func(v any) bool { return false }},
		{"txid invoke value", NewTxID(), func(b *histBuilder, v any) {
			b.txInvoke(0, "transfer", "t1", v)
			b.complete(0, history.OK, v)
			b.call(1, "final-read", nil, history.OK, map[string]any{"p1": map[string]any{"t1": num(1)}})
		}, func(v any) bool {
			m, _ := v.(map[string]any)
			_, err := newPartSets().of(v)
			return err == nil && m["participants"] == nil // any participant: p1 holds it
		}},
		{"txid final-read value", NewTxID(), func(b *histBuilder, v any) {
			b.txInvoke(0, "transfer", "t1", transfer("p1"))
			b.complete(0, history.OK, nil)
			b.call(1, "final-read", nil, history.OK, v)
		}, func(v any) bool { return false }},
		{"stats any value", NewStats(), func(b *histBuilder, v any) {
			b.call(0, "read", v, history.OK, v)
		}, func(v any) bool { return true }},
	}
	for _, role := range roles {
		for _, v := range odd {
			b := &histBuilder{}
			role.build(b, v)
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("%s %s: panic %v on history %+v", role.name, valueForDetail(v), p, b.h)
					}
				}()
				r := role.checker.Check(context.Background(), b.h)
				if r.Valid == Valid && !role.legal(v) {
					t.Errorf("%s %s: valid, though the value has the wrong shape; result %+v", role.name, valueForDetail(v), r)
				}
				if r.Valid == Unknown && len(r.Notes) == 0 {
					t.Errorf("%s %s: unknown without a note", role.name, valueForDetail(v))
				}
			}()
		}
	}
}
