package checker

import (
	"context"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
)

// transfer is a transaction invocation's value touching participants ps.
func transfer(ps ...string) map[string]any {
	list := make([]any, len(ps))
	for i, p := range ps {
		list[i] = p
	}
	return map[string]any{"from": "x", "to": "y", "amount": num(1), "participants": list}
}

// effects builds a final-read value: participant → tx_id → count, from
// "participant", "tx", count triples.
func effects(parts []string, triples ...any) map[string]any {
	m := map[string]any{}
	for _, p := range parts {
		m[p] = map[string]any{}
	}
	for i := 0; i+2 < len(triples); i += 3 {
		m[triples[i].(string)].(map[string]any)[triples[i+1].(string)] = num(int64(triples[i+2].(int)))
	}
	return m
}

var p12 = []string{"p1", "p2"}

func TestTxIDCheckerJudgesEachTxAgainstTheFinalRead(t *testing.T) {
	cases := []struct {
		name   string
		build  func(b *histBuilder) []wantAnomaly
		valid  Validity
		counts map[string]int
	}{
		{
			name: "ok tx applied once on every participant is valid",
			build: func(b *histBuilder) []wantAnomaly {
				b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				b.complete(0, history.OK, nil)
				b.txInvoke(0, "transfer", "t2", transfer("p1", "p2"))
				b.complete(0, history.Fail, nil)
				b.call(9, "final-read", nil, history.OK, effects(p12, "p1", "t1", 1, "p2", "t1", 1))
				return nil
			},
			valid:  Valid,
			counts: map[string]int{"tx_ids": 2, "ok": 1, "fail": 1, "applied-once": 1},
		},
		{
			name: "legal retry: info then ok by another process, applied once",
			build: func(b *histBuilder) []wantAnomaly {
				b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				b.complete(0, history.Info, nil)
				b.txInvoke(10, "transfer", "t1", transfer("p1", "p2"))
				b.complete(10, history.OK, nil)
				b.call(9, "final-read", nil, history.OK, effects(p12, "p1", "t1", 1, "p2", "t1", 1))
				return nil
			},
			valid:  Valid,
			counts: map[string]int{"tx_ids": 1, "ok": 1, "applied-once": 1},
		},
		{
			name: "concurrent duplicate attempts that applied once are valid",
			build: func(b *histBuilder) []wantAnomaly {
				b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				b.txInvoke(1, "transfer", "t1", transfer("p1", "p2"))
				b.txInvoke(2, "transfer", "t1", transfer("p1", "p2"))
				b.complete(1, history.OK, nil)
				b.complete(0, history.OK, nil)
				b.complete(2, history.Info, nil)
				b.call(9, "final-read", nil, history.OK, effects(p12, "p1", "t1", 1, "p2", "t1", 1))
				return nil
			},
			valid:  Valid,
			counts: map[string]int{"applied-once": 1},
		},
		{
			name: "indeterminate tx applied everywhere or nowhere is valid",
			build: func(b *histBuilder) []wantAnomaly {
				b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				b.complete(0, history.Info, nil)
				b.txInvoke(1, "transfer", "t2", transfer("p1", "p2"))
				b.txInvoke(2, "transfer", "t3", transfer("p1", "p2")) // unfinished
				b.complete(1, history.Info, nil)
				b.call(9, "final-read", nil, history.OK, effects(p12, "p1", "t1", 1, "p2", "t1", 1, "p1", "t3", 1, "p2", "t3", 1))
				return nil
			},
			valid:  Valid,
			counts: map[string]int{"indeterminate": 3, "applied-once": 2},
		},
		{
			name: "reports duplicated: applied twice on a participant",
			build: func(b *histBuilder) []wantAnomaly {
				i0 := b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				c0 := b.complete(0, history.Info, nil)
				i1 := b.txInvoke(10, "transfer", "t1", transfer("p1", "p2"))
				c1 := b.complete(10, history.OK, nil)
				_, r := b.call(9, "final-read", nil, history.OK, effects(p12, "p1", "t1", 2, "p2", "t1", 1))
				return []wantAnomaly{{"duplicated", "t1", []int64{i0, c0, i1, c1, r}}}
			},
			valid:  Invalid,
			counts: map[string]int{"duplicated": 1, "applied-once": 0},
		},
		{
			name: "reports lost: ok but absent on a listed participant",
			build: func(b *histBuilder) []wantAnomaly {
				i := b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				c := b.complete(0, history.OK, nil)
				_, r := b.call(9, "final-read", nil, history.OK, effects(p12, "p1", "t1", 1))
				return []wantAnomaly{{"lost", "t1", []int64{i, c, r}}}
			},
			valid:  Invalid,
			counts: map[string]int{"lost": 1},
		},
		{
			name: "reports lost: ok without participants and applied nowhere",
			build: func(b *histBuilder) []wantAnomaly {
				i := b.txInvoke(0, "txn", "t1", nil)
				c := b.complete(0, history.OK, nil)
				_, r := b.call(9, "final-read", nil, history.OK, effects(p12))
				return []wantAnomaly{{"lost", "t1", []int64{i, c, r}}}
			},
			valid: Invalid,
		},
		{
			name: "reports failed-applied",
			build: func(b *histBuilder) []wantAnomaly {
				i0 := b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				c0 := b.complete(0, history.Fail, nil)
				i1 := b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				c1 := b.complete(0, history.Fail, nil)
				_, r := b.call(9, "final-read", nil, history.OK, effects(p12, "p2", "t1", 1))
				return []wantAnomaly{{"failed-applied", "t1", []int64{i0, c0, i1, c1, r}}}
			},
			valid:  Invalid,
			counts: map[string]int{"failed-applied": 1, "fail": 1},
		},
		{
			name: "reports never-invoked",
			build: func(b *histBuilder) []wantAnomaly {
				b.txInvoke(0, "transfer", "t1", transfer("p1"))
				b.complete(0, history.OK, nil)
				_, r := b.call(9, "final-read", nil, history.OK, effects(p12, "p1", "t1", 1, "p2", "ghost", 1, "p1", "zero", 0))
				return []wantAnomaly{{"never-invoked", "ghost", []int64{r}}}
			},
			valid:  Invalid,
			counts: map[string]int{"never-invoked": 1},
		},
		{
			name: "reports partial: indeterminate tx applied on some participants",
			build: func(b *histBuilder) []wantAnomaly {
				i := b.txInvoke(0, "transfer", "t1", transfer("p1", "p2", "p3"))
				c := b.complete(0, history.Info, nil)
				_, r := b.call(9, "final-read", nil, history.OK, effects([]string{"p1", "p2", "p3"}, "p1", "t1", 1, "p3", "t1", 1))
				return []wantAnomaly{{"partial", "t1", []int64{i, c, r}}}
			},
			valid:  Invalid,
			counts: map[string]int{"partial": 1},
		},
		{
			name: "reports conflicting-outcomes: a retry answered aborted after ok",
			build: func(b *histBuilder) []wantAnomaly {
				i0 := b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				c0 := b.complete(0, history.OK, nil)
				i1 := b.txInvoke(1, "transfer", "t1", transfer("p1", "p2"))
				c1 := b.completeErr(1, history.Fail, "aborted: coordinator has no record")
				b.call(9, "final-read", nil, history.OK, effects(p12, "p1", "t1", 1, "p2", "t1", 1))
				return []wantAnomaly{{"conflicting-outcomes", "t1", []int64{i0, c0, i1, c1}}}
			},
			valid:  Invalid,
			counts: map[string]int{"conflicting-outcomes": 1, "ok": 1},
		},
		{
			// The correct SUT under a fault proxy: the retry never reached
			// the system, so it did nothing, as exactly-once wants.
			name: "a retry that failed to reach the system after ok is no conflict",
			build: func(b *histBuilder) []wantAnomaly {
				b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				b.complete(0, history.OK, nil)
				b.txInvoke(1, "transfer", "t1", transfer("p1", "p2"))
				b.completeErr(1, history.Fail, "502 Bad Gateway: proxy: refused the connection; request not delivered")
				b.call(9, "final-read", nil, history.OK, effects(p12, "p1", "t1", 1, "p2", "t1", 1))
				return nil
			},
			valid:  Valid,
			counts: map[string]int{"ok": 1},
		},
		{
			name: "a final-read with a tx_id is the judge, not a transaction",
			build: func(b *histBuilder) []wantAnomaly {
				b.txInvoke(0, "transfer", "t1", transfer("p1"))
				b.complete(0, history.OK, nil)
				b.txInvoke(9, "final-read", "fr", nil)
				b.complete(9, history.OK, effects([]string{"p1"}, "p1", "t1", 1))
				return nil
			},
			valid:  Valid,
			counts: map[string]int{"tx_ids": 1},
		},
		{
			name: "no final-read is unknown",
			build: func(b *histBuilder) []wantAnomaly {
				b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				b.complete(0, history.OK, nil)
				b.call(9, "final-read", nil, history.Info, nil)
				return nil
			},
			valid: Unknown,
		},
		{
			name: "the last ok final-read is the judge",
			build: func(b *histBuilder) []wantAnomaly {
				i := b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				c := b.complete(0, history.OK, nil)
				b.call(9, "final-read", nil, history.OK, effects(p12, "p1", "t1", 1, "p2", "t1", 1))
				_, r := b.call(9, "final-read", nil, history.OK, effects(p12, "p1", "t1", 1))
				return []wantAnomaly{{"lost", "t1", []int64{i, c, r}}}
			},
			valid: Invalid,
		},
		{
			name: "a participant the final read lacks is unknown, not lost",
			build: func(b *histBuilder) []wantAnomaly {
				b.txInvoke(0, "transfer", "t1", transfer("p1", "p2"))
				b.complete(0, history.OK, nil)
				b.call(9, "final-read", nil, history.OK, effects([]string{"p1"}, "p1", "t1", 1))
				return nil
			},
			valid: Unknown,
		},
		{
			name: "malformed participants and final-read values are named, never valid",
			build: func(b *histBuilder) []wantAnomaly {
				i := b.txInvoke(0, "transfer", "t1", map[string]any{"participants": "p1"})
				b.complete(0, history.OK, nil)
				b.txInvoke(1, "transfer", "t2", transfer("p1", "p2"))
				b.complete(1, history.OK, nil)
				_, r := b.call(9, "final-read", nil, history.OK, map[string]any{
					"p1": map[string]any{"t1": num(1), "t2": "one"},
					"p2": []any{"t2"},
				})
				return []wantAnomaly{{"malformed", "", []int64{i}}, {"malformed", "", []int64{r}}, {"malformed", "", []int64{r}}}
			},
			valid: Unknown,
		},
		{
			name: "a final-read that is not a map is malformed",
			build: func(b *histBuilder) []wantAnomaly {
				b.txInvoke(2, "txn", "t3", nil) // any participant: must not be judged lost
				b.complete(2, history.OK, nil)
				_, r := b.call(9, "final-read", nil, history.OK, "p1:t3")
				return []wantAnomaly{{"malformed", "", []int64{r}}}
			},
			valid: Unknown,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &histBuilder{}
			want := tc.build(b)
			r := NewTxID().Check(context.Background(), b.h)
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

func TestTxIDCheckerPassesGeneratedHistory(t *testing.T) {
	h := genTxIDHistory(20_000, 3)
	r := NewTxID().Check(context.Background(), h)
	checkResult(t, h, r, Valid, nil)
	if r.Counts["indeterminate"] == 0 || r.Counts["fail"] == 0 || r.Counts["tx_ids"] >= 10_000 {
		t.Errorf("generator should exercise retries, fails and infos: counts %v", r.Counts)
	}
}

func TestTxIDCheckerIsUnknownWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := NewTxID().Check(ctx, genTxIDHistory(1000, 7)); r.Valid != Unknown {
		t.Fatalf("cancelled check: %v, want unknown (notes %q)", r.Valid, r.Notes)
	}
}
