// Command golib tests the pykv example store from Go: a target of its own
// (pykv.go, registered as "pykv-go") run by chaoscheck's runner under a
// nemesis, exactly as `chaoscheck run` runs a built-in target.
//
//	go run . -nemesis kill
//	PYKV_BUG=local-read go run . -nemesis partition-one
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/runner"
)

func main() {
	nemesis := flag.String("nemesis", "kill", "nemesis (kill, pause, partition when the runner has it, …)")
	d := flag.Duration("time", 12*time.Second, "load duration")
	storeDir := flag.String("store", "store", "where runs are stored")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := check(ctx, *nemesis, *d, *storeDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(255)
	}
	fmt.Println("verdict:", res)
	if res != checker.Valid {
		os.Exit(1)
	}
}

// check runs the register workload on pykv-go under nemesis and returns
// the verdict.
//
// A stale read shows only when reads reach a cut-off node while the
// majority writes; a write sent there blocks its client until the op times
// out, so short op timeouts and ten clients keep clients moving (with the
// runner's defaults the seeded local-read bug went unseen). Info'd writes
// can keep the search busy for minutes: 20 s, then unknown.
func check(ctx context.Context, nemesis string, d time.Duration, storeDir string) (checker.Validity, error) {
	cfg := runner.Defaults()
	cfg.Target, cfg.Workload, cfg.Nemesis = "pykv-go", "register", nemesis
	cfg.TimeLimit, cfg.NemesisInterval, cfg.Keys, cfg.Store = d, 2*time.Second, 2, storeDir
	cfg.OpTimeout, cfg.Concurrency, cfg.CheckTimeout = 500*time.Millisecond, 10, 20*time.Second
	out, err := runner.Run(ctx, cfg)
	if err != nil {
		return checker.Unknown, err
	}
	return out.Results.Valid, nil
}
