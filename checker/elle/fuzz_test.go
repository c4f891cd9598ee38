package elle

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

// FuzzCheck feeds any readable history to both workloads: the checker
// must not panic, and must never call a history valid while reporting an
// anomaly or notes of skipped input.
func FuzzCheck(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", dir, "*"))
		for _, file := range files {
			if filepath.Ext(file) == ".args" {
				continue
			}
			if b, err := os.ReadFile(file); err == nil && len(b) < 1<<16 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, _, err := history.Read(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		for _, w := range Workloads() {
			c, err := NewChecker(Options{Workload: w, Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			r := c.Check(context.Background(), h)
			if r.Valid == checker.Valid && len(r.Anomalies) > 0 {
				t.Fatalf("%s: valid with anomalies %v", w, r.Anomalies)
			}
		}
	})
}
