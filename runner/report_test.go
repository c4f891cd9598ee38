package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/report"
	"github.com/chaoscheck/chaoscheck/store"
)

func TestRunWritesReportHTMLLinkingTheRunFiles(t *testing.T) {
	for _, v := range []checker.Validity{checker.Valid, checker.Invalid} {
		cfg := fakeConfig(t)
		out, err := runFake(context.Background(), cfg, &fakeWorkload{verdict: v})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(out.Dir, report.HTMLFile))
		if err != nil {
			t.Fatalf("%s run: %v", v, err)
		}
		page := string(b)
		for _, want := range []string{
			`class="verdict ` + v.String() + `"`,
			`href="` + store.ResultsFile + `"`,
			`href="` + store.HistoryFile + `"`,
			`id="timeline"`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("%s run: report.html lacks %s", v, want)
			}
		}
		if n := strings.Count(page, `class="op `); n < out.Results.Ops/2 {
			t.Errorf("%s run: report.html draws %d ops of a %d-op history", v, n, out.Results.Ops)
		}
	}
}
