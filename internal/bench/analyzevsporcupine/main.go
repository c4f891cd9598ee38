// Command analyzevsporcupine measures `chaoscheck analyze` against
// porcupine called directly on the same kv history, side by side on this
// machine, and prints both and their ratios.
//
// It generates a linearizable kv history (internal/kvgen: 10 clients, 100
// keys, -ops operations, so 2×ops history ops) into a JSONL file, then, -runs
// times each and alternating so that both see the same machine load:
//
//   - porcupine v1.3.1: a child process of this program reads the same
//     file into porcupine operations the way a porcupine user would
//     (encoding/json; a kv model with a register per key, partitioned by
//     key, int states) and times porcupine.CheckOperations alone. Its peak
//     RSS is the child's, so the two are measured apart.
//   - chaoscheck: `chaoscheck analyze --workload kv --init 0 FILE` as a whole
//     process: reading and parsing 186 MB of JSON, validation, the
//     linearizable and stats checkers, the summary.
//
// Usage, from the module root:
//
//	go run ./internal/bench/analyzevsporcupine            # 1M ops, 3 runs each
//	go run ./internal/bench/analyzevsporcupine -ops 100000 -runs 1
//
// Figures are medians over the runs. Time ratio = analyze wall time over
// porcupine's check time; RSS ratio = analyze peak RSS over porcupine's.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/kvgen"
)

// The generated history: kvgen's simulation with this seed, these clients
// and keys. The porcupine child regenerates it from the same parameters.
const (
	seed    = 1
	clients = 10
	keys    = 100
)

func main() {
	ops := flag.Int("ops", 1_000_000, "operations in the generated history (the history holds twice as many ops: invocations and completions)")
	runs := flag.Int("runs", 3, "measurements of each side, alternating; medians are printed")
	bin := flag.String("chaoscheck", "", "chaoscheck binary to measure (default: build ./cmd/chaoscheck into a temporary directory)")
	dir := flag.String("dir", "", "directory for the history file and the binary (default: a temporary directory, removed after)")
	child := flag.String("porcupine-child", "", "internal: run porcupine on this history file and print its figures as JSON")
	writer := flag.String("write-history", "", "internal: write the generated history of -ops operations to this file")
	flag.Parse()
	if *writer != "" {
		if err := writeHistory(*writer, *ops); err != nil {
			fmt.Fprintln(os.Stderr, "write history:", err)
			os.Exit(1)
		}
		return
	}
	if *child != "" {
		if err := porcupineChild(*child); err != nil {
			fmt.Fprintln(os.Stderr, "porcupine child:", err)
			os.Exit(1)
		}
		return
	}
	if err := compare(*ops, *runs, *bin, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "analyzevsporcupine:", err)
		os.Exit(1)
	}
}

// measurement is one run of one side.
type measurement struct {
	Seconds float64 `json:"seconds"` // porcupine: the check alone; analyze: the whole process
	// CPU is user+system CPU seconds over the same span: on a machine
	// others share, the steadier figure of the two.
	CPU     float64 `json:"cpu"`
	PeakRSS int64   `json:"peak_rss"` // bytes, the whole process's high-water mark
	// porcupine only: RSS and high-water mark just before the check, to
	// show the peak is the check's and not the history's generation.
	RSSBefore int64 `json:"rss_before,omitempty"`
	HWMBefore int64 `json:"hwm_before,omitempty"`
	Ops       int   `json:"ops,omitempty"`
}

func compare(ops, runs int, bin, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "analyzevsporcupine-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if bin == "" {
		bin = filepath.Join(dir, "chaoscheck")
		fmt.Fprintln(os.Stderr, "building ./cmd/chaoscheck …")
		build := exec.Command("go", "build", "-o", bin, "./cmd/chaoscheck")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build chaoscheck (run from the module root): %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The history is generated in a child process: this one must stay
	// small, because Linux reports as a child's peak RSS at least this
	// process's own peak at the moment the child was started (the child
	// shares this process's memory until it execs).
	file := filepath.Join(dir, "history.jsonl")
	gen := exec.Command(self, "-write-history", file, "-ops", fmt.Sprint(ops))
	gen.Stdout, gen.Stderr = os.Stderr, os.Stderr
	if err := gen.Run(); err != nil {
		return fmt.Errorf("generate the history: %w", err)
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	fmt.Printf("history: %d operations, %d ops, %.0f MB JSONL (%s)\n", ops, 2*ops, float64(st.Size())/1e6, file)
	var pc, an []measurement
	for i := range runs {
		p, err := runPorcupine(self, file)
		if err != nil {
			return err
		}
		pc = append(pc, p)
		a, err := runAnalyze(bin, file)
		if err != nil {
			return err
		}
		an = append(an, a)
		fmt.Fprintf(os.Stderr, "run %d: porcupine %.2f s (%.2f s CPU) %s (before the check: RSS %s, high-water %s); analyze %.2f s (%.2f s CPU) %s\n",
			i+1, p.Seconds, p.CPU, mib(p.PeakRSS), mib(p.RSSBefore), mib(p.HWMBefore), a.Seconds, a.CPU, mib(a.PeakRSS))
	}
	p, a := median(pc), median(an)
	fmt.Printf("%-58s %10s %10s %12s\n", "", "time", "CPU", "peak RSS")
	fmt.Printf("%-58s %8.2f s %8.2f s %12s\n", "porcupine v1.3.1 CheckOperations (check only)", p.Seconds, p.CPU, mib(p.PeakRSS))
	fmt.Printf("%-58s %8.2f s %8.2f s %12s\n", "chaoscheck analyze --workload kv --init 0 (whole process)", a.Seconds, a.CPU, mib(a.PeakRSS))
	fmt.Printf("%-58s %9.2f× %9.2f× %11.2f×\n", "ratio analyze / porcupine (goal: time ≤ 0.5, RSS ≤ 0.3)",
		a.Seconds/p.Seconds, a.CPU/p.CPU, float64(a.PeakRSS)/float64(p.PeakRSS))
	fmt.Printf("medians of %d runs each; GOMAXPROCS as the environment sets it\n", runs)
	return nil
}

func writeHistory(path string, ops int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := history.WriteJSONL(f, kvgen.Linearizable(seed, clients, keys, ops)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runPorcupine(self, file string) (measurement, error) {
	cmd := exec.Command(self, "-porcupine-child", file)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return measurement{}, fmt.Errorf("porcupine child: %w", err)
	}
	var m measurement
	if err := json.Unmarshal(out, &m); err != nil {
		return m, fmt.Errorf("porcupine child printed %q: %w", out, err)
	}
	m.PeakRSS = peakRSS(cmd.ProcessState)
	return m, nil
}

func runAnalyze(bin, file string) (measurement, error) {
	cmd := exec.Command(bin, "analyze", "--workload", "kv", "--init", "0", file)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	m := measurement{Seconds: time.Since(start).Seconds()}
	if err != nil {
		return m, fmt.Errorf("chaoscheck analyze (the history is linearizable, want exit 0): %w\n%s", err, out.String())
	}
	m.PeakRSS = peakRSS(cmd.ProcessState)
	m.CPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return m, nil
}

// peakRSS is a finished child's high-water mark of resident memory.
func peakRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10 // Linux reports KiB
	}
	return 0
}

func median(ms []measurement) measurement {
	secs := make([]float64, len(ms))
	cpu := make([]float64, len(ms))
	rss := make([]int64, len(ms))
	for i, m := range ms {
		secs[i], cpu[i], rss[i] = m.Seconds, m.CPU, m.PeakRSS
	}
	slices.Sort(secs)
	slices.Sort(cpu)
	slices.Sort(rss)
	return measurement{Seconds: secs[len(secs)/2], CPU: cpu[len(cpu)/2], PeakRSS: rss[len(rss)/2]}
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
