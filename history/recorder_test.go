package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestRecorderUnderConcurrentClients(t *testing.T) {
	const clients, opsPerClient = 50, 40
	path := filepath.Join(t.TempDir(), "history.jsonl")
	r, err := CreateRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range opsPerClient / 2 {
				key := fmt.Sprintf("k%d", i%3)
				inv := r.Invoke(int64(c), "write", key, json.Number(fmt.Sprint(i)), fmt.Sprintf("t%d-%d", c, i))
				r.Complete(inv, OK, inv.Value, "n1", "")
			}
		})
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Err after a clean run: %v", err)
	}
	h := r.History()
	if len(h) != clients*opsPerClient || r.Len() != int64(len(h)) {
		t.Fatalf("recorded %d ops (Len %d), want %d", len(h), r.Len(), clients*opsPerClient)
	}
	for i, op := range h {
		if op.Index != int64(i) {
			t.Fatalf("op at position %d has index %d: indexes are not dense", i, op.Index)
		}
		if i > 0 && op.Time < h[i-1].Time {
			t.Fatalf("op %d at %dns comes before op %d at %dns", i, op.Time, i-1, h[i-1].Time)
		}
	}
	if err := Validate(h, nil, path); err != nil {
		t.Errorf("recorded history is not well formed: %v", err)
	}
	again, warnings, err := ReadFile(path)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("ReadFile(%s): warnings %v, error %v", path, warnings, err)
	}
	if !reflect.DeepEqual(again, h) {
		t.Errorf("file reads back differently from History()")
	}
}

func TestRecorderCrashLosesAtMostTheLineInProgress(t *testing.T) {
	var file bytes.Buffer
	r := NewRecorder(&file)
	for p := range int64(4) {
		inv := r.Invoke(p, "cas", "k", []any{json.Number("1"), json.Number("2")}, "")
		r.Complete(inv, Info, nil, "n2", "timeout")
		r.Record(Op{Type: Info, Process: NemesisProcess, F: "kill", Value: "n2"})
	}
	full, recorded := file.Bytes(), r.History()
	// Cut the file at every byte, as a crash mid-write could.
	for cut := 1; cut < len(full); cut++ {
		data := full[:cut]
		complete := bytes.Count(data, []byte("\n"))
		wholeOp := full[cut] == '\n' // only the newline is missing
		if wholeOp {
			complete++
		}
		h, warnings, err := Read(bytes.NewReader(data), "crash.jsonl")
		if complete == 0 {
			// The crash cut the first op: nothing to check, said at line 1.
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line != 1 || !strings.Contains(pe.Msg, "cut off") {
				t.Fatalf("cut at byte %d (%q): error %v, want line 1: last op is cut off", cut, data, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("cut at byte %d: %v", cut, err)
		}
		if !reflect.DeepEqual(h, recorded[:complete]) {
			t.Fatalf("cut at byte %d: read %d ops, want the %d complete lines", cut, len(h), complete)
		}
		midLine := full[cut-1] != '\n' && !wholeOp
		if midLine && (len(warnings) != 1 || warnings[0].Line != complete+1) {
			t.Fatalf("cut at byte %d, inside line %d: warnings %v", cut, complete+1, warnings)
		}
		if !midLine && len(warnings) != 0 {
			t.Fatalf("cut at byte %d, after a whole line: warnings %v", cut, warnings)
		}
	}
}

// writeLog records every Write call.
type writeLog struct {
	mu     sync.Mutex
	writes [][]byte
	fail   error
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return 0, w.fail
	}
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestRecorderWritesEachOpWithOneWrite(t *testing.T) {
	w := &writeLog{}
	r := NewRecorder(w)
	r.Invoke(0, "write", "k", "a\nb<c>", "")
	r.Record(Op{Type: Info, Process: NemesisProcess, F: "kill", Value: map[string]any{"node": "n1"}})
	if len(w.writes) != 2 {
		t.Fatalf("2 ops took %d writes", len(w.writes))
	}
	for i, line := range w.writes {
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Errorf("write %d is not exactly one line: %q", i, line)
		}
		if !bytes.HasPrefix(line, fmt.Appendf(nil, `{"index":%d,"time":`, i)) {
			t.Errorf("write %d does not start with its index: %q", i, line)
		}
	}
	if !bytes.Contains(w.writes[0], []byte(`"a\nb<c>"`)) {
		t.Errorf("value not written as escaped JSON without HTML escapes: %q", w.writes[0])
	}
}

func TestRecordAfterCloseReportsErrorWithoutPanic(t *testing.T) {
	w := &writeLog{}
	r := NewRecorder(w)
	r.Invoke(0, "read", "", nil, "")
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	got := r.Invoke(1, "read", "", nil, "")
	if got.Index != -1 || !errors.Is(r.Err(), ErrRecorderClosed) {
		t.Errorf("Record after Close = index %d, Err %v; want -1 and ErrRecorderClosed", got.Index, r.Err())
	}
	if len(w.writes) != 1 || len(r.History()) != 1 {
		t.Errorf("after Close: %d writes, %d ops in History; want 1", len(w.writes), len(r.History()))
	}
}

func TestRecorderStopsAtTheFirstFailure(t *testing.T) {
	tests := []struct {
		name   string
		breakW func(w *writeLog, r *Recorder)
		want   string
	}{
		{"write error", func(w *writeLog, r *Recorder) { w.fail = errors.New("disk full") }, "disk full"},
		{"value JSON cannot encode", func(w *writeLog, r *Recorder) {
			r.Invoke(9, "write", "", make(chan int), "")
		}, "unsupported type"},
		{"unknown type", func(w *writeLog, r *Recorder) {
			r.Record(Op{Type: "done", Process: 3, F: "read"})
		}, `unknown type "done"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &writeLog{}
			r := NewRecorder(w)
			r.Invoke(0, "read", "", nil, "")
			tt.breakW(w, r)
			got := r.Invoke(1, "read", "", nil, "")
			w.fail = nil
			after := r.Invoke(2, "read", "", nil, "")
			if got.Index != -1 || after.Index != -1 {
				t.Errorf("ops after the failure got indexes %d and %d; want -1", got.Index, after.Index)
			}
			if err := r.Err(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Err() = %v; want it to mention %q", err, tt.want)
			}
			if len(w.writes) != 1 || len(r.History()) != 1 || r.Len() != 1 {
				t.Errorf("%d writes, %d ops in History, Len %d; want only the op before the failure", len(w.writes), len(r.History()), r.Len())
			}
		})
	}
}

func TestRecorderWithoutRetentionKeepsNoOps(t *testing.T) {
	var buf bytes.Buffer
	r := NewRecorder(&buf, Retain(false))
	for i := range int64(3) {
		r.Invoke(i, "read", "", nil, "")
	}
	if h := r.History(); h != nil || r.Len() != 3 || bytes.Count(buf.Bytes(), []byte("\n")) != 3 {
		t.Errorf("History() = %v, Len %d, %d lines written; want nil, 3, 3", h, r.Len(), bytes.Count(buf.Bytes(), []byte("\n")))
	}
}

func TestCreateRecorderRefusesAnExistingHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(path, []byte(`{"index":0,"type":"invoke","process":0,"f":"read"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := CreateRecorder(path); err == nil {
		r.Close()
		t.Errorf("CreateRecorder(%s) over a history succeeded", path)
	}
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := CreateRecorder(empty)
	if err != nil {
		t.Fatalf("CreateRecorder(%s) on an empty file: %v", empty, err)
	}
	r.Close()
}

func TestWriteJSONLMatchesTheRecorderFormat(t *testing.T) {
	var recorded bytes.Buffer
	r := NewRecorder(&recorded)
	inv := r.Invoke(3, "transfer", "", map[string]any{"amount": json.Number("5"), "participants": []any{"p1", "p2"}}, "t3-1")
	r.Complete(inv, Fail, nil, "n1", "aborted")
	var written bytes.Buffer
	if err := WriteJSONL(&written, r.History()); err != nil {
		t.Fatal(err)
	}
	if written.String() != recorded.String() {
		t.Errorf("WriteJSONL wrote\n%s\nthe Recorder wrote\n%s", written.String(), recorded.String())
	}
}
