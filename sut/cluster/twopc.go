package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// TwoPCCoordinator is the coordinator's node name.
const TwoPCCoordinator = "coordinator"

// TwoPCConfig says how to boot a 2PC cluster: a coordinator and
// participants, each a `chaoscheck node …` process in Dir/<name> with its
// node.log there and its data in Dir/<name>/data.
type TwoPCConfig struct {
	Dir          string   // required
	Bin          string   // "": Binary()
	Participants []string // names; default p1, p2
	// Accounts, keyed "participant/account" (e.g. "p1/a3"), with their
	// initial balances. When empty, every participant gets accounts a1…aN
	// (N = AccountsPerParticipant, default 3) with InitialBalance (default
	// 100).
	Accounts               map[string]int64
	AccountsPerParticipant int
	InitialBalance         int64
	// ResolveAfter is how long a live participant leaves a prepared tx to
	// the coordinator before asking for its decision (0: the node's
	// default, 2s). Tests that inspect the commit window set it long.
	ResolveAfter time.Duration
	Env          []string      // extra environment for every node, e.g. GOFAIL_FAILPOINTS=…
	ExtraArgs    []string      // appended to every node's arguments, e.g. --sut-bug no-dedup
	StartTimeout time.Duration // per node, until /status answers; default 20s
	// Via, when set, routes every coordinator ↔ participant link, both
	// ways (prepares and commits; in-doubt participants asking for the
	// decision), through the address it returns, e.g. a faultnet proxy.
	// Nil: nodes dial each other directly.
	Via ViaFunc
}

// TwoPCCluster is a running 2PC cluster.
type TwoPCCluster struct {
	cfg    TwoPCConfig
	names  []string // participant names, sorted
	procs  map[string]*Proc
	apis   map[string]string // node name → API address
	client *twopc.Client
}

// StartTwoPC starts the participants and the coordinator on free ports and
// waits until each answers /status. On error nothing is left running.
func StartTwoPC(ctx context.Context, cfg TwoPCConfig) (*TwoPCCluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("2pc cluster: Dir is required")
	}
	if cfg.Bin == "" {
		bin, err := Binary()
		if err != nil {
			return nil, err
		}
		cfg.Bin = bin
	}
	if len(cfg.Participants) == 0 {
		cfg.Participants = []string{"p1", "p2"}
	}
	if cfg.AccountsPerParticipant <= 0 {
		cfg.AccountsPerParticipant = 3
	}
	if cfg.InitialBalance == 0 {
		cfg.InitialBalance = 100
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 20 * time.Second
	}
	accounts, err := twopcAccounts(cfg)
	if err != nil {
		return nil, err
	}
	ports, err := FreePorts(len(cfg.Participants) + 1)
	if err != nil {
		return nil, err
	}
	c := &TwoPCCluster{cfg: cfg, procs: map[string]*Proc{}, apis: map[string]string{}}
	c.names = append([]string(nil), cfg.Participants...)
	sort.Strings(c.names)
	c.apis[TwoPCCoordinator] = "127.0.0.1:" + strconv.Itoa(ports[0])
	var plist []string
	for i, name := range cfg.Participants {
		c.apis[name] = "127.0.0.1:" + strconv.Itoa(ports[i+1])
	}
	for _, name := range cfg.Participants {
		addr, err := cfg.Via.route(TwoPCCoordinator, name, c.apis[name])
		if err != nil {
			return nil, fmt.Errorf("2pc cluster: %w", err)
		}
		plist = append(plist, name+"="+addr)
	}
	for _, name := range cfg.Participants {
		coord, err := cfg.Via.route(name, TwoPCCoordinator, c.apis[TwoPCCoordinator])
		if err != nil {
			return nil, fmt.Errorf("2pc cluster: %w", err)
		}
		args := []string{"node", "participant", "--id", name, "--api", c.apis[name],
			"--data", filepath.Join(cfg.Dir, name, "data"), "--coordinator", coord}
		if a := accounts[name]; a != "" {
			args = append(args, "--accounts", a)
		}
		if cfg.ResolveAfter > 0 {
			args = append(args, "--resolve-after", cfg.ResolveAfter.String())
		}
		c.procs[name] = NewProc(ProcSpec{Name: name, Bin: cfg.Bin, Dir: filepath.Join(cfg.Dir, name),
			Args: append(args, cfg.ExtraArgs...), Env: cfg.Env})
	}
	c.procs[TwoPCCoordinator] = NewProc(ProcSpec{Name: TwoPCCoordinator, Bin: cfg.Bin, Dir: filepath.Join(cfg.Dir, TwoPCCoordinator),
		Args: append([]string{"node", "coordinator", "--api", c.apis[TwoPCCoordinator],
			"--data", filepath.Join(cfg.Dir, TwoPCCoordinator, "data"),
			"--participants", strings.Join(plist, ",")}, cfg.ExtraArgs...),
		Env: cfg.Env})
	c.client = twopc.NewClient(c.apis[TwoPCCoordinator], 5*time.Second)
	for _, name := range c.Nodes() {
		if err := c.procs[name].Start(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	for _, name := range c.Nodes() {
		if err := c.WaitUp(ctx, name, cfg.StartTimeout); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// twopcAccounts renders each participant's --accounts flag.
func twopcAccounts(cfg TwoPCConfig) (map[string]string, error) {
	per := map[string][]string{}
	if len(cfg.Accounts) == 0 {
		for _, p := range cfg.Participants {
			for i := 1; i <= cfg.AccountsPerParticipant; i++ {
				per[p] = append(per[p], fmt.Sprintf("a%d=%d", i, cfg.InitialBalance))
			}
		}
	}
	known := map[string]bool{}
	for _, p := range cfg.Participants {
		known[p] = true
	}
	for key, bal := range cfg.Accounts {
		p, a, ok := strings.Cut(key, "/")
		if !ok || !known[p] || a == "" {
			return nil, fmt.Errorf("2pc cluster: account %q is not participant/account with a known participant", key)
		}
		per[p] = append(per[p], a+"="+strconv.FormatInt(bal, 10))
	}
	out := map[string]string{}
	for p, l := range per {
		sort.Strings(l)
		out[p] = strings.Join(l, ",")
	}
	return out, nil
}

// Nodes lists every node name: the participants, sorted, then the
// coordinator.
func (c *TwoPCCluster) Nodes() []string {
	return append(append([]string(nil), c.names...), TwoPCCoordinator)
}

// ParticipantNames lists the participants, sorted.
func (c *TwoPCCluster) ParticipantNames() []string { return append([]string(nil), c.names...) }

// Coordinator is the coordinator's process.
func (c *TwoPCCluster) Coordinator() *Proc { return c.procs[TwoPCCoordinator] }

// CoordinatorAPI is the coordinator's API address.
func (c *TwoPCCluster) CoordinatorAPI() string { return c.apis[TwoPCCoordinator] }

// Participant is a participant's process, nil for an unknown name.
func (c *TwoPCCluster) Participant(name string) *Proc {
	if name == TwoPCCoordinator {
		return nil
	}
	return c.procs[name]
}

// Node is any node's process by name (a participant or "coordinator").
func (c *TwoPCCluster) Node(name string) *Proc { return c.procs[name] }

// API is a node's API address ("127.0.0.1:port"), "" for an unknown name.
func (c *TwoPCCluster) API(name string) string { return c.apis[name] }

// Dir is the cluster's directory.
func (c *TwoPCCluster) Dir() string { return c.cfg.Dir }

// ProcNodes controls the nodes' processes by name.
func (c *TwoPCCluster) ProcNodes() ProcNodes {
	return ProcNodes{lookup: func(node string) *Proc { return c.procs[node] }, names: c.Nodes}
}

// Client is a client of the coordinator with a 5s timeout.
func (c *TwoPCCluster) Client() *twopc.Client { return c.client }

func (c *TwoPCCluster) node(name string) (*Proc, error) {
	p := c.procs[name]
	if p == nil {
		return nil, fmt.Errorf("2pc cluster: no node %q (nodes: %v)", name, c.Nodes())
	}
	return p, nil
}

// Kill kills a node with SIGKILL and reaps it.
func (c *TwoPCCluster) Kill(name string) error { return c.ProcNodes().Kill(name) }

// Start starts a stopped node on its data dir and port; it does not wait
// for it (WaitUp does).
func (c *TwoPCCluster) Start(name string) error {
	p, err := c.node(name)
	if err != nil {
		return err
	}
	return p.Start()
}

// Restart kills a node (if running) and starts it again.
func (c *TwoPCCluster) Restart(name string) error {
	p, err := c.node(name)
	if err != nil {
		return err
	}
	return p.Restart()
}

// WaitUp waits until node name answers /status. It fails early, with the
// end of the node's log, when the process exits.
func (c *TwoPCCluster) WaitUp(ctx context.Context, name string, timeout time.Duration) error {
	p, err := c.node(name)
	if err != nil {
		return err
	}
	err = WaitFor(ctx, timeout, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		if !p.Running() {
			return false, errNodeExited
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if name == TwoPCCoordinator {
			_, err = c.client.Status(cctx)
		} else {
			_, err = c.client.ParticipantStatus(cctx, c.apis[name])
		}
		return err == nil, err
	})
	if err == nil {
		return nil
	}
	if !p.Running() {
		err = errNodeExited
	}
	return fmt.Errorf("2pc node %s not up: %w\n%s", name, err, c.LogTail(name, 20))
}

var errNodeExited = errors.New("process exited")

// WaitHealthy waits until every node runs and answers /status, the
// coordinator has no commit left to re-drive, and no participant has a tx
// in doubt.
func (c *TwoPCCluster) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	return WaitFor(ctx, timeout, 25*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, name := range c.Nodes() {
			if !c.procs[name].Running() {
				return false, fmt.Errorf("%s not running", name)
			}
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := c.client.Status(cctx)
		if err != nil {
			return false, err
		}
		if st.PendingCommits > 0 {
			return false, fmt.Errorf("coordinator has %d commits to re-drive", st.PendingCommits)
		}
		for _, name := range c.names {
			ps, err := c.client.ParticipantStatus(cctx, c.apis[name])
			if err != nil {
				return false, err
			}
			if len(ps.InDoubt) > 0 {
				return false, fmt.Errorf("%s has txs in doubt: %v", name, ps.InDoubt)
			}
		}
		return true, nil
	})
}

// Observe reads every participant's /observe: balances, effect rows per
// tx_id, in-doubt txs.
func (c *TwoPCCluster) Observe(ctx context.Context) (map[string]twopc.Observation, error) {
	out := map[string]twopc.Observation{}
	for _, name := range c.names {
		o, err := c.client.Observe(ctx, c.apis[name])
		if err != nil {
			return nil, fmt.Errorf("observe %s: %w", name, err)
		}
		out[name] = o
	}
	return out, nil
}

// Stop stops every node (SIGTERM, then SIGKILL after 5s) in parallel.
func (c *TwoPCCluster) Stop() error {
	var wg sync.WaitGroup
	errs := make([]error, 0, len(c.procs))
	var mu sync.Mutex
	for _, p := range c.procs {
		wg.Go(func() {
			if err := p.Stop(5 * time.Second); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// LogTail returns the last n lines of a node's node.log.
func (c *TwoPCCluster) LogTail(name string, n int) string {
	p := c.procs[name]
	if p == nil {
		return ""
	}
	b, err := os.ReadFile(p.Spec().LogPath)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Leftovers returns the pids of processes whose command line mentions the
// cluster's Dir: after Stop there must be none.
func (c *TwoPCCluster) Leftovers() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(c.cfg.Dir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
