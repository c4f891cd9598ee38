package workload

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
)

func TestByNameGivesEachWorkloadItsCheckersAndFinalOps(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     Options
		checkers []string
		final    []string
	}{
		{"register", Options{}, []string{"linearizable", "stats"}, nil},
		{"register-per-node", Options{}, []string{"linearizable", "stats"}, nil},
		{"set", Options{}, []string{"set", "stats"}, []string{"read-all"}},
		{"bank", Options{}, []string{"bank", "txid", "stats"}, []string{"read-balances", "final-read"}},
		{"retry", Options{Target: "twopc"}, []string{"bank", "txid", "stats"}, []string{"read-balances", "final-read"}},
		{"retry", Options{Target: "raft"}, []string{"txid", "stats"}, []string{"final-read"}},
	} {
		t.Run(tc.name+"-"+tc.opts.Target, func(t *testing.T) {
			w, err := ByName(tc.name, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if w.Name() != tc.name {
				t.Fatalf("Name() = %q", w.Name())
			}
			var names, final []string
			for _, c := range w.Checkers(t.TempDir()) {
				names = append(names, c.Name())
			}
			for _, op := range w.FinalOps() {
				final = append(final, op.F)
			}
			if !reflect.DeepEqual(names, tc.checkers) || !reflect.DeepEqual(final, tc.final) {
				t.Fatalf("checkers %v final ops %v, want %v and %v", names, final, tc.checkers, tc.final)
			}
			// Generator(seed) is deterministic through the workload too.
			a, b := take(w.Generator(3), 200), take(w.Generator(3), 200)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("Generator(3) yields two sequences")
			}
		})
	}
	for _, bad := range []struct {
		name string
		opts Options
		err  string
	}{
		{"queue", Options{}, "unknown workload"},
		{"bank", Options{Accounts: 1}, "at least 2"},
	} {
		if _, err := ByName(bad.name, bad.opts); err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("ByName(%q, %+v) error %v, want one containing %q", bad.name, bad.opts, err, bad.err)
		}
	}
}

func TestBankAccountsSpreadOverParticipants(t *testing.T) {
	want := []string{"p1/a1", "p2/a1", "p1/a2", "p2/a2", "p1/a3", "p2/a3", "p1/a4", "p2/a4"}
	if got := BankAccounts(Options{}); !reflect.DeepEqual(got, want) {
		t.Fatalf("BankAccounts = %v, want %v", got, want)
	}
}

func TestFinalReadsRetryUntilOKAsFreshProcesses(t *testing.T) {
	calls := 0
	w := &fakeWorkload{invoke: func(ctx context.Context, op history.Op) history.Op {
		calls++
		switch calls {
		case 1:
			op.Type, op.Error = history.Info, "timeout"
		case 2:
			op.Type, op.Error = history.Fail, "no leader"
		default:
			op.Type, op.Value = history.OK, []any{int64(1)}
		}
		return op
	}}
	rec := newMemRecorder()
	if _, err := FinalReads(context.Background(), w.FinalOps(), w, rec, 7, time.Second); err != nil {
		t.Fatal(err)
	}
	h := rec.History()
	checkWellFormed(t, h)
	// info ends process 7; the fail keeps process 8, which then reads ok.
	var procs []int64
	for _, op := range h {
		if op.Type == history.Invoke {
			procs = append(procs, op.Process)
		}
	}
	if !reflect.DeepEqual(procs, []int64{7, 8, 8}) || h[len(h)-1].Type != history.OK {
		t.Fatalf("final reads as processes %v, ending %+v; want 7, 8, 8 ending ok", procs, h[len(h)-1])
	}
}

func TestFinalReadsGiveUpWhenCtxEnds(t *testing.T) {
	w := &fakeWorkload{invoke: func(ctx context.Context, op history.Op) history.Op {
		op.Type, op.Error = history.Fail, "unavailable"
		return op
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := FinalReads(ctx, w.FinalOps(), w, newMemRecorder(), 0, time.Second)
	if err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("FinalReads = %v, want an error naming the last attempt", err)
	}
}
