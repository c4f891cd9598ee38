package history

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
)

// TestRecorderHistoryIsTheFileReadBack: the ops a run checks (History)
// equal the ops analyze reads from the run's file, value shapes included,
// for the Go values clients and nemeses record.
func TestRecorderHistoryIsTheFileReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	rec, err := CreateRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	values := []any{
		3, int64(-7), 2.5, "k\u00e9", true, nil, json.Number("12"),
		map[string]any{"from": "p1/a1", "amount": int64(5), "participants": []string{"p1", "p2"}},
		map[string]map[string]int{"p1": {"t1": 1}},
		[]any{[]any{"append", int64(3), int64(1)}, []any{"r", int64(4), nil}},
		map[string][]string{"n1": {"n2", "n3"}},
	}
	for i, v := range values {
		inv := rec.Invoke(int64(i), "write", "k", v, "")
		rec.Complete(inv, OK, v, "n1", "")
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	read, warns, err := ReadFile(path)
	if err != nil || len(warns) > 0 {
		t.Fatalf("read back: %v %v", err, warns)
	}
	kept := rec.History()
	if len(kept) != len(read) {
		t.Fatalf("History has %d ops, the file %d", len(kept), len(read))
	}
	for i := range kept {
		if !reflect.DeepEqual(kept[i], read[i]) {
			t.Errorf("op %d: History %#v\nfile    %#v", i, kept[i], read[i])
		}
	}
}
