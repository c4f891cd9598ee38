package history

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// registerHistory generates n ops of a register workload: 50 processes
// writing, reading and cas-ing 10 keys, every op completed.
func registerHistory(n int) History {
	h := make(History, 0, n)
	fs := []string{"write", "read", "cas"}
	for i := 0; len(h)+1 < n; i++ {
		p := int64(i % 50)
		f := fs[i%3]
		key := "k" + strconv.Itoa(i%10)
		var v any = json.Number(strconv.Itoa(i % 7))
		if f == "cas" {
			v = []any{json.Number(strconv.Itoa(i % 7)), json.Number(strconv.Itoa((i + 1) % 7))}
		}
		t := int64(len(h)) * 1000
		h = append(h,
			Op{Index: int64(len(h)), Time: t, Type: Invoke, Process: p, F: f, Key: key, Value: v},
			Op{Index: int64(len(h) + 1), Time: t + 500, Type: OK, Process: p, F: f, Key: key, Value: v, Node: "n1"})
	}
	return h
}

// BenchmarkReadJSONL reads a 1M-op JSONL history from disk.
func BenchmarkReadJSONL(b *testing.B) {
	const ops = 1_000_000
	path := filepath.Join(b.TempDir(), "history.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := WriteJSONL(f, registerHistory(ops)); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	reads := 0
	for b.Loop() {
		reads++
		h, _, err := ReadFile(path)
		if err != nil || len(h) != ops {
			b.Fatalf("read %d ops: %v", len(h), err)
		}
	}
	b.ReportMetric(float64(ops*reads)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkRecord measures the Recorder under parallel clients writing to
// a real file.
func BenchmarkRecord(b *testing.B) {
	r, err := CreateRecorder(filepath.Join(b.TempDir(), "history.jsonl"), Retain(false))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Invoke(int64(i%50), "write", fmt.Sprintf("k%d", i%10), json.Number("3"), "")
			i++
		}
	})
	if err := r.Err(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRecordRetainedTransfer measures what a run's Recorder does per
// bank op: a map value, kept for the run's own check (as NormalValue's
// shapes, the same the file reads back as).
func BenchmarkRecordRetainedTransfer(b *testing.B) {
	r, err := CreateRecorder(filepath.Join(b.TempDir(), "history.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	v := map[string]any{"from": "p1/a3", "to": "p2/a1", "amount": int64(5), "participants": []string{"p1", "p2"}}
	for i := 0; b.Loop(); i++ {
		r.Invoke(int64(i%50), "transfer", "", v, "t1")
	}
	if err := r.Err(); err != nil {
		b.Fatal(err)
	}
}
