package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
)

// maxAnomaliesShown caps the anomalies printed per checker; results.json
// has them all.
const maxAnomaliesShown = 10

// printAnalysis writes the human summary of an analysis.
func printAnalysis(w io.Writer, a analysis, outDir string) {
	fmt.Fprintf(w, "%s: %d ops\n", a.File, a.Ops)
	for _, r := range a.Results {
		fmt.Fprintf(w, "  %-13s %s\n", r.Checker, strings.ToUpper(r.Valid.String()))
		for i, an := range r.Anomalies {
			if i == maxAnomaliesShown {
				fmt.Fprintf(w, "      … and %d more anomalies\n", len(r.Anomalies)-i)
				break
			}
			fmt.Fprintf(w, "      %s", an.Kind)
			if an.Key != "" {
				fmt.Fprintf(w, " %s", an.Key)
			}
			if len(an.Ops) > 0 {
				fmt.Fprintf(w, " ops %s", opList(an.Ops))
			}
			if an.Detail != "" {
				fmt.Fprintf(w, ": %s", an.Detail)
			}
			fmt.Fprintln(w)
		}
		if len(r.Counts) > 0 {
			fmt.Fprintf(w, "      counts: %s\n", formatCounts(r.Counts))
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "      note: %s\n", n)
		}
		for _, f := range r.Files {
			fmt.Fprintf(w, "      wrote %s\n", filepath.Join(outDir, f))
		}
	}
	fmt.Fprintf(w, "verdict: %s\n", strings.ToUpper(a.Valid.String()))
}

// opList prints op indexes, capped so a huge anomaly stays one line.
func opList(ops []int64) string {
	const max = 12
	var b strings.Builder
	for i, o := range ops {
		if i == max {
			fmt.Fprintf(&b, " …+%d", len(ops)-max)
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, o)
	}
	return b.String()
}

func formatCounts(c map[string]int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, c[k])
	}
	return strings.Join(parts, " ")
}
