package raftsql

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
)

const createLA = `CREATE TABLE la (k INTEGER PRIMARY KEY, v TEXT)`

func appendStmt(k, v int) Stmt {
	return sqlStmt(`INSERT INTO la (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = v || ',' || excluded.v`, k, v)
}

func readStmt(k int) Stmt { return sqlStmt(`SELECT v FROM la WHERE k = ?`, k) }

// A transaction's reads come back in its result, read at its point of the
// log: after its own earlier appends, before its later ones.
func TestStateMachineExecReturnsRowsOfReadStatements(t *testing.T) {
	m := openSM(t, filepath.Join(t.TempDir(), "sm.db"), Options{})
	mustApply(t, m, 1, command(t, "", sqlStmt(createLA)))
	mustApply(t, m, 2, command(t, "a", appendStmt(1, 1)))
	res := mustApply(t, m, 3, command(t, "b", readStmt(1), appendStmt(1, 2), readStmt(1), readStmt(2), appendStmt(2, 7)))
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	got := make([]any, len(res.Results))
	for i, r := range res.Results {
		got[i] = r.Rows
	}
	want := []any{[][]any{{"1"}}, [][]any(nil), [][]any{{"1,2"}}, [][]any{}, [][]any(nil)}
	if fmt.Sprint(got) != fmt.Sprint(want) || res.Results[1].RowsAffected != 1 {
		t.Fatalf("rows = %v, want %v (results %+v)", got, want, res.Results)
	}
	if cols := res.Results[0].Columns; !reflect.DeepEqual(cols, []string{"v"}) {
		t.Errorf("columns = %v, want [v]", cols)
	}

	// A retry gets the first answer's rows back, integers as integers.
	mustApply(t, m, 4, command(t, "c", sqlStmt(`CREATE TABLE n (x INTEGER)`), sqlStmt(`INSERT INTO n VALUES (9007199254740993)`), sqlStmt(`SELECT x FROM n`)))
	m.Close()
	m = openSM(t, filepath.Join(filepath.Dir(m.path), "sm.db"), Options{})
	dup := mustApply(t, m, 5, command(t, "c", sqlStmt(`CREATE TABLE n (x INTEGER)`), sqlStmt(`INSERT INTO n VALUES (9007199254740993)`), sqlStmt(`SELECT x FROM n`)))
	b, _ := json.Marshal(dup.Results[2].Rows)
	if !dup.Duplicate || string(b) != `[[9007199254740993]]` {
		t.Errorf("retry = %+v rows %s, want the duplicate with [[9007199254740993]]", dup, b)
	}
}

// Batching is invisible in the results: one transaction for many entries
// gives every entry the result it gets alone, failures and INSERT OR
// ROLLBACK (which ends SQLite's whole transaction) included, both the
// results ApplyBatchDecided hands over before COMMIT and those it returns.
func TestStateMachineApplyBatchGivesTheResultsOfOneByOne(t *testing.T) {
	ents := [][]byte{
		command(t, "", sqlStmt(createAcks)),
		command(t, "r1", sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (1, 'a')`)),
		command(t, "r2", sqlStmt(`INSERT INTO acks (tx_id) VALUES ('b')`), sqlStmt(`SELECT count(*) FROM acks`)),
		nil, // a new leader's empty entry
		command(t, "r3", sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (5, 'c')`), sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (1, 'dup')`)),
		command(t, "r1", sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (1, 'a')`)), // a retry
		command(t, "r4", sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (6, 'd')`), sqlStmt(`INSERT OR ROLLBACK INTO acks (id, tx_id) VALUES (2, 'dup')`)),
		command(t, "r5", sqlStmt(`INSERT INTO acks (tx_id) VALUES ('e')`)),
		[]byte(`{"stmts": 1}`),
		command(t, "r6", sqlStmt(`UPDATE acks SET tx_id = 'f' WHERE id = 3`), sqlStmt(`SELECT id, tx_id FROM acks ORDER BY id`)),
	}
	entries := make([]Entry, len(ents))
	for i, d := range ents {
		entries[i] = Entry{Index: uint64(i + 1), Data: d}
	}
	one := openSM(t, filepath.Join(t.TempDir(), "one.db"), Options{})
	var want []ExecResult
	for _, e := range entries {
		r, err := one.ApplyBatch([]Entry{e})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r...)
	}
	// open: every batch is left open (ApplyBatchOpen, a busy leader) and
	// committed at the end; with {3, 7} and {6, 4} entry 7's INSERT OR
	// ROLLBACK undoes the earlier batches' open entries too.
	for _, c := range []struct {
		split []int
		open  bool
	}{{[]int{10}, false}, {[]int{3, 7}, false}, {[]int{6, 4}, false}, {[]int{1, 1, 8}, false},
		{[]int{3, 7}, true}, {[]int{6, 4}, true}, {[]int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, true}, {[]int{2, 8}, true}} {
		split := c.split
		t.Run(fmt.Sprint(split, " open=", c.open), func(t *testing.T) {
			m := openSM(t, filepath.Join(t.TempDir(), "sm.db"), Options{})
			apply := m.ApplyBatchDecided
			if c.open {
				apply = m.ApplyBatchOpen
			}
			var got []ExecResult
			// Each entry's result is also handed over once, before its
			// transaction commits (the applied index has not moved).
			decided := map[uint64]ExecResult{}
			at := 0
			for _, n := range split {
				batch := entries[at : at+n]
				r, err := apply(batch, func(first int, res []ExecResult) {
					// What readers see is the last committed state.
					last := batch[first+len(res)-1].Index
					q, err := m.Query(context.Background(), `SELECT idx FROM _chaoscheck_applied`)
					if err != nil {
						t.Fatal(err)
					}
					if fmt.Sprint(q.Rows) == fmt.Sprintf("[[%d]]", last) || m.AppliedIndex() >= last {
						t.Errorf("entries up to %d decided after their commit (committed %v, applied %d)", last, q.Rows, m.AppliedIndex())
					}
					for k, r := range res {
						idx := batch[first+k].Index
						if _, dup := decided[idx]; dup {
							t.Errorf("entry %d decided twice", idx)
						}
						decided[idx] = r
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, r...)
				at += n
			}
			if c.open {
				// The last batch is applied but neither committed nor
				// visible until CommitOpen.
				last := uint64(len(entries))
				if m.OpenEntries() == 0 || m.AppliedIndex() >= last || queryInt(t, m, `SELECT idx FROM _chaoscheck_applied`) >= int64(last) {
					t.Fatalf("after the open batches: %d open entries, applied %d, want the last batch open", m.OpenEntries(), m.AppliedIndex())
				}
				if applied, err := m.CommitOpen(); err != nil || applied != last {
					t.Fatalf("CommitOpen = %d, %v; want %d", applied, err, last)
				}
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) {
				t.Errorf("batched results\n%s\none by one\n%s", gb, wb)
			}
			for i, w := range want {
				db, _ := json.Marshal(decided[uint64(i+1)])
				if ww, _ := json.Marshal(w); string(db) != string(ww) {
					t.Errorf("entry %d decided %s, want %s", i+1, db, ww)
				}
			}
			if m.AppliedIndex() != uint64(len(entries)) {
				t.Errorf("AppliedIndex = %d, want %d", m.AppliedIndex(), len(entries))
			}
			assertSameContent(t, m, one)
			// Re-delivery of the whole log applies nothing and answers
			// from the request table.
			again, err := m.ApplyBatch(entries)
			if err != nil {
				t.Fatal(err)
			}
			if again[1].Index != 2 || again[1].Error != "" || again[4].Error != want[4].Error {
				t.Errorf("re-delivered results %+v", again)
			}
			assertSameContent(t, m, one)
		})
	}
}

// split-txn, the seeded bug: an entry's statements commit one by one, so a
// failing later statement no longer undoes the earlier ones (and readers
// could see them in between). The correct store keeps the entry atomic.
func TestStateMachineSplitTxnBreaksAtomicity(t *testing.T) {
	for _, split := range []bool{false, true} {
		t.Run(fmt.Sprintf("split=%v", split), func(t *testing.T) {
			m := openSM(t, filepath.Join(t.TempDir(), "sm.db"), Options{SplitTxn: split})
			mustApply(t, m, 1, command(t, "", sqlStmt(createAcks), sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (1, 'x')`)))
			res := mustApply(t, m, 2, command(t, "r", sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (2, 'a')`), sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (1, 'dup')`)))
			if res.Error == "" {
				t.Fatalf("result %+v, want the constraint failure", res)
			}
			want := int64(1)
			if split {
				want = 2
			}
			if got := queryInt(t, m, `SELECT count(*) FROM acks`); got != want {
				t.Errorf("rows after the failed entry = %d, want %d", got, want)
			}
		})
	}
}

// A read-only transaction's statements read one committed state.
func TestStateMachineQueryTxnReadsOneState(t *testing.T) {
	m := openSM(t, filepath.Join(t.TempDir(), "sm.db"), Options{})
	mustApply(t, m, 1, command(t, "", sqlStmt(createLA), appendStmt(1, 1), appendStmt(2, 1)))
	res, err := m.QueryTxn(context.Background(), []Stmt{readStmt(1), readStmt(2), readStmt(3)})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res[0].Rows, res[1].Rows, res[2].Rows); got != "[[1]] [[1]] []" {
		t.Errorf("rows = %s", got)
	}
	if _, err := m.QueryTxn(context.Background(), []Stmt{readStmt(1), appendStmt(1, 2)}); err == nil {
		t.Error("QueryTxn ran a write")
	}
}

// The request table's rows of a batch are written together before its
// COMMIT, more than one INSERT's worth included: a retry later in the
// same batch is a duplicate, and after a reopen every id of the batch is.
func TestStateMachineRecordsEveryRequestOfALargeBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sm.db")
	m := openSM(t, path, Options{})
	mustApply(t, m, 1, command(t, "", sqlStmt(createAcks)))
	n := 2*dedupChunk + 3
	var batch []Entry
	for i := range n {
		batch = append(batch, Entry{Index: uint64(2 + i), Data: command(t, fmt.Sprint("r", i), sqlStmt(`INSERT INTO acks (tx_id) VALUES (?)`, fmt.Sprint("t", i)))})
	}
	batch = append(batch, Entry{Index: uint64(2 + n), Data: command(t, "r3", sqlStmt(`INSERT INTO acks (tx_id) VALUES ('t3')`))})
	res, err := m.ApplyBatch(batch)
	if err != nil {
		t.Fatal(err)
	}
	if last := res[n]; !last.Duplicate || last.Index != 5 {
		t.Errorf("retry of r3 in the same batch = %+v, want a duplicate of index 5", last)
	}
	m.Close()
	m = openSM(t, path, Options{})
	for i := range n {
		r := mustApply(t, m, uint64(3+n+i), command(t, fmt.Sprint("r", i), sqlStmt(`INSERT INTO acks (tx_id) VALUES ('again')`)))
		if !r.Duplicate || r.Index != uint64(2+i) {
			t.Fatalf("retry of r%d after a reopen = %+v, want a duplicate of index %d", i, r, 2+i)
		}
	}
	if got := queryInt(t, m, `SELECT count(*) FROM acks`); got != int64(n) {
		t.Errorf("acks holds %d rows, want %d", got, n)
	}
}

// A command of one statement runs without a savepoint unless FAIL or
// ROLLBACK is in play; either way a statement that fails leaves nothing
// of itself behind, and one that ends the transaction is handled too.
func TestStateMachineFailedLoneStatementLeavesNothing(t *testing.T) {
	m := openSM(t, filepath.Join(t.TempDir(), "sm.db"), Options{})
	idx := uint64(0)
	apply := func(id string, s Stmt) ExecResult {
		idx++
		return mustApply(t, m, idx, command(t, id, s))
	}
	apply("", sqlStmt(createAcks))
	apply("a1", sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (2, 'x')`))
	// Rows 1 and 3 would go in before the conflict on 2.
	for _, tc := range []struct{ name, sql string }{
		{"abort", `INSERT INTO acks (id, tx_id) VALUES (1, 'y'), (2, 'y'), (3, 'y')`},
		{"or fail", `INSERT OR FAIL INTO acks (id, tx_id) VALUES (1, 'y'), (2, 'y'), (3, 'y')`},
	} {
		if r := apply("t-"+tc.name, sqlStmt(tc.sql)); r.Error == "" {
			t.Errorf("%s: applied %+v, want a constraint error", tc.name, r)
		}
		if n := queryInt(t, m, `SELECT count(*) FROM acks`); n != 1 {
			t.Errorf("%s: acks holds %d rows after the failed statement, want 1", tc.name, n)
		}
	}
	// A table whose key fails with FAIL: no statement names it.
	apply("", sqlStmt(`CREATE TABLE f (id INTEGER PRIMARY KEY ON CONFLICT FAIL, v TEXT)`))
	apply("f1", sqlStmt(`INSERT INTO f (id, v) VALUES (2, 'x')`))
	if r := apply("f2", sqlStmt(`INSERT INTO f (id, v) VALUES (1, 'y'), (2, 'y'), (3, 'y')`)); r.Error == "" {
		t.Errorf("insert into f: applied %+v, want a constraint error", r)
	}
	if n := queryInt(t, m, `SELECT count(*) FROM f`); n != 1 {
		t.Errorf("f holds %d rows after the failed statement, want 1 (ON CONFLICT FAIL kept a half-done insert)", n)
	}
	// INSERT OR ROLLBACK ends SQLite's transaction; the entry's
	// bookkeeping survives and later entries apply.
	if r := apply("r1", sqlStmt(`INSERT OR ROLLBACK INTO acks (id, tx_id) VALUES (2, 'z')`)); r.Error == "" {
		t.Errorf("insert or rollback: applied %+v, want a constraint error", r)
	}
	if r := apply("r2", sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (4, 'w')`)); r.Error != "" {
		t.Fatal(r.Error)
	}
	if n := queryInt(t, m, `SELECT count(*) FROM acks`); n != 2 || m.AppliedIndex() != idx {
		t.Errorf("acks holds %d rows, applied %d; want 2 rows, applied %d", n, m.AppliedIndex(), idx)
	}
}
