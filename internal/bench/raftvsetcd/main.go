// Command raftvsetcd measures the embedded Raft store's write throughput
// against etcd's, side by side on this machine, and prints both and their
// ratio.
//
// Both systems are booted through chaoscheck's own targets (target/raft,
// target/etcd), three nodes on loopback each, and driven by the same load:
// -clients client processes of the register workload's driver, each doing
// back-to-back writes (an etcd Put; a raftsql /exec of one upsert with a
// request id) to -keys keys for -duration, no rate limit, no faults. Only
// acknowledged writes count; the mean latency of an acknowledged write
// (as its client saw it) is printed too. With -rounds > 1 the systems alternate (raft,
// etcd, raft, …) so that both see the same machine load, and the ratio is
// of the sums.
//
// etcd's clients are bound to the members in turn, as in Jepsen and in
// chaoscheck's own etcd runs, so two puts in three reach a follower, which
// forwards them to the leader inside raft; raftsql.Client goes to the node
// that answered its last request, the leader. -etcd-on-leader adds a
// third system to each round, etcd with every client bound to its leader,
// and prints the ratio against it too: the stricter comparison.
//
// etcd is the pinned release built from tools/etcd/v3.7.3 (internal/etcdbin;
// $CHAOSCHECK_ETCD_BIN names a prebuilt one); the raft nodes run from the
// chaoscheck binary this program builds from the source tree (or -bin).
//
// Usage, from the module root:
//
//	go run ./internal/bench/raftvsetcd                      # 8 clients, 10s, 1 round
//	go run ./internal/bench/raftvsetcd -duration 20s -rounds 3
//	go run ./internal/bench/raftvsetcd -duration 10s -rounds 3 -etcd-on-leader
//	go run ./internal/bench/raftvsetcd -only raft -cpuprofile clients.prof
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/etcdbin"
	"github.com/chaoscheck/chaoscheck/internal/testbin"
	"github.com/chaoscheck/chaoscheck/target"
	_ "github.com/chaoscheck/chaoscheck/target/all"
	"github.com/chaoscheck/chaoscheck/target/raft"
	"github.com/chaoscheck/chaoscheck/workload"
)

func main() {
	clients := flag.Int("clients", 8, "concurrent client processes per system")
	keys := flag.Int("keys", 8, "register keys written")
	duration := flag.Duration("duration", 10*time.Second, "load time per system and round")
	rounds := flag.Int("rounds", 1, "rounds; each runs raft then etcd")
	bin := flag.String("bin", "", "chaoscheck binary for the raft nodes (default: build ./cmd/chaoscheck)")
	only := flag.String("only", "", "measure one system only: raft or etcd")
	snapshots := flag.String("raft-snapshot-interval", "10000", "the raft target's --snapshot-interval (etcd's --snapshot-count defaults to 10000)")
	cpuprofile := flag.String("cpuprofile", "", "write this process's CPU profile (the clients) to this file")
	onLeader := flag.Bool("etcd-on-leader", false, "also measure etcd with every client bound to its leader, and print that ratio too")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "raftvsetcd:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*clients, *keys, *duration, *rounds, *bin, *only, *snapshots, *onLeader); err != nil {
		fmt.Fprintln(os.Stderr, "raftvsetcd:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(clients, keys int, d time.Duration, rounds int, bin, only, snapshots string, onLeader bool) error {
	if bin == "" && only != "etcd" {
		b, cleanup, err := testbin.Build()
		if err != nil {
			return err
		}
		defer cleanup()
		bin = b
	}
	os.Setenv("CHAOSCHECK_BIN", bin)
	etcd := ""
	if only != "raft" {
		var err error
		if etcd, err = etcdbin.Path(etcdbin.Default); err != nil {
			return err
		}
	}
	systems := []struct {
		name, target string
		opts         target.Options
		onLeader     bool
	}{
		{"raft", "raft", target.Options{raft.FlagSnapshotInterval: snapshots}, false},
		{"etcd", "etcd", target.Options{"etcd-bin": etcd}, false},
	}
	if onLeader {
		systems = append(systems, systems[1])
		systems[2].name, systems[2].onLeader = "etcd-leader", true
	}
	total := map[string]float64{}
	fmt.Printf("%d clients, %d keys, %v per run, raft snapshot interval %s, writes/s (acknowledged)\n", clients, keys, d, snapshots)
	for r := 1; r <= rounds; r++ {
		for _, s := range systems {
			if only != "" && s.target != only {
				continue
			}
			ok, mean, err := measure(s.target, s.opts, clients, keys, d, s.onLeader)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			rate := float64(ok) / d.Seconds()
			total[s.name] += rate
			fmt.Printf("round %d  %-11s %8.0f writes/s  mean latency %.2f ms\n", r, s.name, rate, float64(mean)/float64(time.Millisecond))
		}
	}
	if only == "" {
		fmt.Printf("raft/etcd writes/s ratio: %.2f\n", total["raft"]/total["etcd"])
		if onLeader {
			fmt.Printf("raft/etcd-leader writes/s ratio: %.2f (etcd's clients all on its leader)\n", total["raft"]/total["etcd-leader"])
		}
	}
	return nil
}

// measure boots a 3-node system, sets the register workload up, and counts
// the writes acknowledged by clients writing back to back for d, and
// their mean latency. onLeader keeps only clients the target binds to the
// leader.
func measure(name string, opts target.Options, clients, keys int, d time.Duration, onLeader bool) (int64, time.Duration, error) {
	t, err := target.ByName(name)
	if err != nil {
		return 0, 0, err
	}
	dir, err := os.MkdirTemp("", "raftvsetcd-"+name+"-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	wopts := workload.Options{Keys: keys, OpTimeout: 5 * time.Second}.WithDefaults()
	sys, err := t.Boot(ctx, target.Env{Dir: dir, Nodes: 3, Workload: "register", WorkloadOptions: wopts, Options: opts,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, 0, err
	}
	defer sys.Stop(true)
	drv := sys.Driver()
	if err := drv.Setup(ctx); err != nil {
		return 0, 0, err
	}
	procs, err := clientProcesses(ctx, sys, drv, clients, onLeader)
	if err != nil {
		return 0, 0, err
	}
	var ok, failed, busy atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for _, p := range procs {
		c, err := drv.NewClient(p)
		if err != nil {
			return 0, 0, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for i := int64(0); time.Now().Before(deadline); i++ {
				op := history.Op{Type: history.Invoke, Process: p, F: "write",
					Key: workload.RegisterKey(int(i) % keys), Value: p<<32 | i}
				start := time.Now()
				if done := c.Invoke(ctx, op); done.Type == history.OK && time.Now().Before(deadline) {
					ok.Add(1)
					busy.Add(int64(time.Since(start)))
				} else if done.Type != history.OK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		fmt.Fprintf(os.Stderr, "%s: %d writes not acknowledged\n", name, f)
	}
	var mean time.Duration
	if n := ok.Load(); n > 0 {
		mean = time.Duration(busy.Load()) / time.Duration(n)
	}
	return ok.Load(), mean, nil
}

// clientProcesses picks the process numbers of the clients: 0, 1, … or,
// with onLeader, the first ones whose client a probe write shows bound to
// the leader (the target decides the binding; a client's op names its
// node).
func clientProcesses(ctx context.Context, sys target.System, drv workload.Driver, clients int, onLeader bool) ([]int64, error) {
	var procs []int64
	if !onLeader {
		for p := range clients {
			procs = append(procs, int64(p))
		}
		return procs, nil
	}
	l, ok := sys.(target.Leader)
	if !ok {
		return nil, fmt.Errorf("the target cannot name its leader")
	}
	leader, err := l.Leader(ctx)
	if err != nil {
		return nil, err
	}
	for p := int64(1000); len(procs) < clients && p < 1000+int64(100*clients); p++ {
		c, err := drv.NewClient(p)
		if err != nil {
			return nil, err
		}
		done := c.Invoke(ctx, history.Op{Type: history.Invoke, Process: p, F: "write", Key: workload.RegisterKey(0), Value: -p})
		c.Close()
		if done.Type != history.OK {
			return nil, fmt.Errorf("probe write of process %d: %s %v", p, done.Type, done.Error)
		}
		if done.Node == leader {
			procs = append(procs, p)
		}
	}
	if len(procs) < clients {
		return nil, fmt.Errorf("only %d of the first %d clients are bound to the leader %s", len(procs), 100*clients, leader)
	}
	return procs, nil
}
