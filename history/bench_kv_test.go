package history_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/kvgen"
)

// writeKV1M writes the 1M-operation kv history into dir and returns its
// path, its size and its number of ops.
func writeKV1M(b *testing.B) (string, int64, int) {
	path := filepath.Join(b.TempDir(), "history.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	h := kvgen.Linearizable(1, 10, 100, 1_000_000)
	if err := history.WriteJSONL(f, h); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size(), len(h)
}

// BenchmarkStreamKV1M streams the same history (history.Stream): decoded
// on every core, validated, handed out op by op and not held.
func BenchmarkStreamKV1M(b *testing.B) {
	path, size, n := writeKV1M(b)
	b.SetBytes(size)
	for b.Loop() {
		got, err := history.Stream(path, func(*history.Op) error { return nil })
		if err != nil || got != n {
			b.Fatalf("streamed %d ops: %v", got, err)
		}
	}
}

// BenchmarkReadKV1M reads the 1M-operation kv history (2M ops, about
// 190 MB of JSONL) that internal/bench/analyzevsporcupine measures
// analyze on, from a real file.
func BenchmarkReadKV1M(b *testing.B) {
	path, size, n := writeKV1M(b)
	b.SetBytes(size)
	for b.Loop() {
		h, _, err := history.ReadFile(path)
		if err != nil || len(h) != n {
			b.Fatalf("read %d ops: %v", len(h), err)
		}
	}
}

// BenchmarkReadEDNKV100k reads a 100k-operation kv history written as
// Jepsen writes history.edn: one op map per line.
func BenchmarkReadEDNKV100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "history.edn")
	var buf bytes.Buffer
	h := kvgen.Linearizable(1, 10, 100, 100_000)
	for _, op := range h {
		fmt.Fprintf(&buf, "{:index %d, :time %d, :type :%s, :process %d, :f :%s, :key %q", op.Index, op.Time, op.Type, op.Process, op.F, op.Key)
		switch v := op.Value.(type) {
		case nil:
		case []any:
			fmt.Fprintf(&buf, ", :value [%v %v]", v[0], v[1])
		default:
			fmt.Fprintf(&buf, ", :value %v", v)
		}
		buf.WriteString("}\n")
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		got, _, err := history.ReadFile(path)
		if err != nil || len(got) != len(h) {
			b.Fatalf("read %d ops: %v", len(got), err)
		}
	}
}
