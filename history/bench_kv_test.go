package history_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/kvgen"
)

// BenchmarkReadKV1M reads the 1M-operation kv history (2M ops, about
// 190 MB of JSONL) that internal/bench/analyzevsporcupine measures
// analyze on, from a real file.
func BenchmarkReadKV1M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "history.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	want := kvgen.Linearizable(1, 10, 100, 1_000_000)
	if err := history.WriteJSONL(f, want); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	n := len(want)
	want = nil
	for b.Loop() {
		h, _, err := history.ReadFile(path)
		if err != nil || len(h) != n {
			b.Fatalf("read %d ops: %v", len(h), err)
		}
	}
}
