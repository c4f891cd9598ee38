package twopc

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestInspectParticipantReadsWhatTheStoreWrote(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if _, err := st.initAccounts(ctx, map[string]int64{"a1": 100, "a2": 50}); err != nil {
		t.Fatal(err)
	}
	if err := st.apply(ctx, txRow{XID: "t1", TxID: "t1", Ops: []Op{{Account: "a1", Delta: -10}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.setState(ctx, txRow{XID: "t2", TxID: "t2", State: "prepared", Ops: []Op{{Account: "a2", Delta: 5}}}); err != nil {
		t.Fatal(err)
	}
	want := ParticipantState{
		Balances: map[string]int64{"a1": 90, "a2": 50},
		Effects:  map[string]int{"t1": 1},
		Txs:      []TxRecord{{TxID: "t1", XID: "t1", State: "committed"}, {TxID: "t2", XID: "t2", State: "prepared"}},
	}
	// While the store is open (its WAL in use), then after it closed.
	got, err := InspectParticipant(ctx, dir)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("open store: InspectParticipant = %+v, %v; want %+v", got, err, want)
	}
	st.close()
	before, _ := os.ReadFile(filepath.Join(dir, ParticipantDB))
	got, err = InspectParticipant(ctx, dir)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("closed store: InspectParticipant = %+v, %v; want %+v", got, err, want)
	}
	after, _ := os.ReadFile(filepath.Join(dir, ParticipantDB))
	if string(before) != string(after) {
		t.Error("InspectParticipant changed the database file")
	}
	if _, err := os.Stat(filepath.Join(dir, ParticipantDB+"-wal")); err == nil {
		t.Error("InspectParticipant left a -wal file beside a cleanly closed database")
	}

	empty := t.TempDir()
	if _, err := InspectParticipant(ctx, empty); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dir without a database: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(empty, ParticipantDB)); err == nil {
		t.Error("InspectParticipant created a database")
	}
}

func TestReadDecisionLogListsEveryRecord(t *testing.T) {
	dir := t.TempDir()
	l, err := openDecisionLog(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	recs := []record{
		{TxID: "t1", XID: "t1", State: Committed, Done: true, Ops: map[string][]Op{"p2": {{Account: "a1", Delta: 5}}, "p1": {{Account: "a1", Delta: -5}}}},
		{TxID: "t2", XID: "t2", State: Aborted, Ops: map[string][]Op{"p1": {{Account: "a2", Delta: 1}}}},
	}
	for _, r := range recs {
		if err := l.put(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDecisionLog(dir)
	want := []DecisionRecord{
		{TxID: "t1", XID: "t1", State: Committed, Participants: []string{"p1", "p2"}, Done: true},
		{TxID: "t2", XID: "t2", State: Aborted, Participants: []string{"p1"}},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ReadDecisionLog = %+v, %v; want %+v", got, err, want)
	}
}
