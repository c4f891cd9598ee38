package twopc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// newTestParticipant opens a participant on dir without serving it.
func newTestParticipant(t *testing.T, dir string, accounts map[string]int64) *participant {
	t.Helper()
	st, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.close() })
	if _, err := st.initAccounts(context.Background(), accounts); err != nil {
		t.Fatal(err)
	}
	p := &participant{
		cfg: ParticipantConfig{ID: "p1"}, log: slog.New(slog.DiscardHandler), st: st,
		inDoubt: map[string]*doubt{}, locks: map[string]string{},
		reads: map[string]*readLock{}, counts: map[string]int{},
	}
	if err := p.load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestParticipantStateMachine walks one participant through the protocol's
// transitions; each step depends on the ones before it.
func TestParticipantStateMachine(t *testing.T) {
	ctx := context.Background()
	p := newTestParticipant(t, t.TempDir(), map[string]int64{"a1": 100, "a2": 50})
	debit := []Op{{Account: "a1", Delta: -30}}
	vote := func(txID string, ops []Op) PrepareResponse {
		t.Helper()
		r, _, err := p.prepare(ctx, txID, PrepareRequest{TxID: txID, Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	steps := []struct {
		name string
		run  func() string // "" when the step holds, else what is wrong
	}{
		{"prepare votes yes", func() string {
			return want(vote("t1", debit), VoteYes, "")
		}},
		{"repeat prepare votes yes again", func() string {
			return want(vote("t1", debit), VoteYes, "already prepared")
		}},
		{"same tx_id with other ops votes no", func() string {
			return want(vote("t1", []Op{{Account: "a1", Delta: -1}}), VoteNo, "other ops")
		}},
		{"no-wait lock: another tx on a1 votes no", func() string {
			return want(vote("t2", []Op{{Account: "a1", Delta: 1}}), VoteNo, "locked by prepared tx t1")
		}},
		{"insufficient funds votes no", func() string {
			return want(vote("t3", []Op{{Account: "a2", Delta: -51}}), VoteNo, "insufficient funds")
		}},
		{"unknown account votes no", func() string {
			return want(vote("t4", []Op{{Account: "zz", Delta: 1}}), VoteNo, "no account")
		}},
		{"commit applies once", func() string {
			ack, _, err := p.commit(ctx, "t1", "t1", nil)
			if err != nil || !ack.Changed {
				return "commit: " + errText(err)
			}
			return balanceAndEffects(t, p, "a1", 70, "t1", 1)
		}},
		{"second commit is a no-op", func() string {
			ack, _, err := p.commit(ctx, "t1", "t1", nil)
			if err != nil || ack.Changed {
				return "repeat commit changed state or failed: " + errText(err)
			}
			return balanceAndEffects(t, p, "a1", 70, "t1", 1)
		}},
		{"prepare of a committed tx votes yes", func() string {
			return want(vote("t1", debit), VoteYes, "already committed")
		}},
		{"abort of a committed tx is refused", func() string {
			if _, status, err := p.abort(ctx, "t1", "t1"); err == nil || status != http.StatusConflict {
				return "abort of committed t1 accepted"
			}
			return ""
		}},
		{"abort of an unknown tx is recorded; a late prepare votes no", func() string {
			if _, _, err := p.abort(ctx, "t5", "t5"); err != nil {
				return errText(err)
			}
			return want(vote("t5", []Op{{Account: "a2", Delta: 1}}), VoteNo, "aborted")
		}},
		{"commit of a tx never prepared is refused", func() string {
			if _, status, err := p.commit(ctx, "t6", "t6", nil); err == nil || status != http.StatusConflict {
				return "commit of unprepared t6 accepted"
			}
			return ""
		}},
		{"commit with ops of a tx never prepared applies it (one-phase)", func() string {
			if _, _, err := p.commit(ctx, "t7", "t7", []Op{{Account: "a2", Delta: 5}}); err != nil {
				return errText(err)
			}
			return balanceAndEffects(t, p, "a2", 55, "t7", 1)
		}},
		{"abort releases the lock", func() string {
			if r := vote("t8", []Op{{Account: "a2", Delta: -5}}); r.Vote != VoteYes {
				return "prepare t8: " + r.Reason
			}
			if _, _, err := p.abort(ctx, "t8", "t8"); err != nil {
				return errText(err)
			}
			if r := vote("t9", []Op{{Account: "a2", Delta: -5}}); r.Vote != VoteYes {
				return "a2 still locked after t8 aborted: " + r.Reason
			}
			return balanceAndEffects(t, p, "a2", 55, "t8", 0)
		}},
	}
	for _, s := range steps {
		if msg := s.run(); msg != "" {
			t.Fatalf("%s: %s", s.name, msg)
		}
	}
}

func want(r PrepareResponse, vote, reason string) string {
	if r.Vote != vote || !strings.Contains(r.Reason, reason) {
		return "got " + r.Vote + " (" + r.Reason + "), want " + vote + " (" + reason + ")"
	}
	return ""
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func balanceAndEffects(t *testing.T, p *participant, account string, bal int64, txID string, n int) string {
	t.Helper()
	bals, err := p.st.balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	eff, err := p.st.effects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if bals[account] != bal || eff[txID] != n {
		return fmt.Sprintf("balance %s=%d, effects[%s]=%d; want %d and %d", account, bals[account], txID, eff[txID], bal, n)
	}
	return ""
}

// TestParticipantReopenKeepsPreparedAndLocks: what a restart finds on
// disk: the prepared tx, in doubt, with its lock; balances untouched.
func TestParticipantReopenKeepsPreparedAndLocks(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	p := newTestParticipant(t, dir, map[string]int64{"a1": 100})
	if r, _, err := p.prepare(ctx, "t1", PrepareRequest{TxID: "t1", Ops: []Op{{Account: "a1", Delta: -10}}}); err != nil || r.Vote != VoteYes {
		t.Fatalf("prepare: %+v %v", r, err)
	}
	p.st.close()

	q := newTestParticipant(t, dir, map[string]int64{"a1": 999}) // accounts are created on the first start only
	if got := q.inDoubtLocked(); len(got) != 1 || got[0] != "t1" {
		t.Fatalf("in doubt after reopen = %v, want [t1]", got)
	}
	if r, _, _ := q.prepare(ctx, "t2", PrepareRequest{TxID: "t2", Ops: []Op{{Account: "a1", Delta: 1}}}); r.Vote != VoteNo {
		t.Fatalf("prepare on a1 while t1 is in doubt after reopen voted %+v", r)
	}
	if msg := balanceAndEffects(t, q, "a1", 100, "t1", 0); msg != "" {
		t.Fatal(msg)
	}
	if _, _, err := q.commit(ctx, "t1", "t1", nil); err != nil {
		t.Fatal(err)
	}
	if msg := balanceAndEffects(t, q, "a1", 90, "t1", 1); msg != "" {
		t.Fatal(msg)
	}
}

// TestReadLockKeepsPreparesOut: a read's shared lock refuses prepares
// until released, a prepared tx refuses reads, and a lease that ran out
// reports the lock lost at release.
func TestReadLockKeepsPreparesOut(t *testing.T) {
	ctx := context.Background()
	p := newTestParticipant(t, t.TempDir(), map[string]int64{"a1": 100})
	h := p.routes()
	read := func(id string, leaseMS int) int {
		return serveJSON(t, h, "/read", ReadRequest{ReadID: id, LeaseMS: leaseMS}, nil)
	}
	release := func(id string) bool {
		var rr ReleaseResponse
		serveJSON(t, h, "/release", ReleaseRequest{ReadID: id}, &rr)
		return rr.Held
	}
	if code := read("r1", 0); code != http.StatusOK {
		t.Fatalf("read r1: %d", code)
	}
	if r, _, _ := p.prepare(ctx, "t1", PrepareRequest{TxID: "t1", Ops: []Op{{Account: "a1", Delta: 1}}}); r.Vote != VoteNo || !strings.Contains(r.Reason, "read r1") {
		t.Fatalf("prepare under read lock voted %+v, want no (locked by read r1)", r)
	}
	if !release("r1") {
		t.Fatalf("release r1: lock reported lost")
	}
	if r, _, _ := p.prepare(ctx, "t1", PrepareRequest{TxID: "t1", Ops: []Op{{Account: "a1", Delta: 1}}}); r.Vote != VoteYes {
		t.Fatalf("prepare after release voted %+v", r)
	}
	if code := read("r2", 0); code != http.StatusConflict {
		t.Fatalf("read while t1 is prepared: %d, want 409", code)
	}
	if _, _, err := p.abort(ctx, "t1", "t1"); err != nil {
		t.Fatal(err)
	}
	if code := read("r3", 0); code != http.StatusOK {
		t.Fatalf("read r3: %d", code)
	}
	p.mu.Lock()
	p.reads["r3"].expires = time.Now().Add(-time.Millisecond) // the lease ran out
	p.mu.Unlock()
	if r, _, _ := p.prepare(ctx, "t2", PrepareRequest{TxID: "t2", Ops: []Op{{Account: "a1", Delta: 1}}}); r.Vote != VoteYes {
		t.Fatalf("prepare after the read's lease ran out voted %+v", r)
	}
	if release("r3") {
		t.Fatalf("release after the lease ran out reported the lock held")
	}
}

func serveJSON(t *testing.T, h http.Handler, path string, in, out any) int {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b)))
	if out != nil && rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatal(err)
		}
	}
	return rec.Code
}
