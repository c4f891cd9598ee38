package report

import (
	"io"
	"testing"
)

// BenchmarkWriteHTML renders the report of a 200k-op history: the caps
// keep the page small and the time linear in the history.
func BenchmarkWriteHTML(b *testing.B) {
	h := genHistory(200_000, 10, 1)
	r := invalidResults(h)
	b.ResetTimer()
	for b.Loop() {
		if err := WriteHTML(io.Discard, r, h); err != nil {
			b.Fatal(err)
		}
	}
}
