package etcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// member is one etcd member as chaoscheck knows it.
type member struct {
	name      string
	clientURL string        // http://127.0.0.1:port, where clients dial
	peerAddr  string        // 127.0.0.1:port, where the member listens for peers
	proc      *cluster.Proc // nil when attached
	client    *clientv3.Client
}

// system is a booted (or attached) etcd cluster.
type system struct {
	members  []*member
	byName   map[string]*member
	attached bool
	set      settings
	env      target.Env
	doors    *frontDoors // nil unless Env.Net is set
	driver   workload.Driver

	mu  sync.Mutex
	ids map[uint64]string // member ID → name, learned from Status headers
}

const (
	bootTimeout  = 90 * time.Second
	startTimeout = 60 * time.Second
	stopGrace    = 10 * time.Second
)

// boot starts n members on fresh ports. A member that exits before
// serving (a port taken between FreePorts and its bind) makes the whole
// boot retry on new ports.
func boot(ctx context.Context, env target.Env, set settings, n int) (target.System, error) {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := bootOnce(ctx, env, set, n)
		if err == nil {
			return s, nil
		}
		last = err
		if ctx.Err() != nil || !errors.Is(err, errExited) {
			break
		}
		env.Logger().Warn("etcd boot failed, retrying on new ports", "err", err)
	}
	return nil, last
}

var errExited = errors.New("member exited")

func bootOnce(ctx context.Context, env target.Env, set settings, n int) (*system, error) {
	ports, err := cluster.FreePorts(2 * n)
	if err != nil {
		return nil, err
	}
	s := &system{set: set, env: env, byName: map[string]*member{}, ids: map[uint64]string{}}
	for i := range n {
		m := &member{
			name:      fmt.Sprintf("n%d", i+1),
			clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			peerAddr:  fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]),
		}
		s.members = append(s.members, m)
		s.byName[m.name] = m
	}
	// advertised is the peer URL every other member dials for m: m's own
	// listener, or its front door when the partition layer is in use.
	advertised := map[string]string{}
	if env.Net != nil {
		if s.doors, err = newFrontDoors(s.members, env.Net); err != nil {
			return nil, err
		}
		for _, m := range s.members {
			advertised[m.name] = "http://" + s.doors.addr(m.name)
		}
	} else {
		for _, m := range s.members {
			advertised[m.name] = "http://" + m.peerAddr
		}
	}
	var initial []string
	for _, m := range s.members {
		initial = append(initial, m.name+"="+advertised[m.name])
	}
	token := fmt.Sprintf("chaoscheck-%d", time.Now().UnixNano())
	for _, m := range s.members {
		dir := filepath.Join(env.Dir, m.name)
		// A data dir left by a boot attempt that failed belongs to a
		// cluster that never formed; this attempt starts a new one.
		if err := os.RemoveAll(filepath.Join(dir, "data")); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			s.Stop(true)
			return nil, err
		}
		args := []string{
			"--name", m.name,
			"--data-dir", filepath.Join(dir, "data"),
			"--listen-client-urls", m.clientURL,
			"--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", "http://" + m.peerAddr,
			"--initial-advertise-peer-urls", advertised[m.name],
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", token,
		}
		args = append(args, set.extraArgs...)
		m.proc = cluster.NewProc(cluster.ProcSpec{Name: m.name, Bin: set.bin, Args: args, Dir: dir})
		env.Logger().Info("etcd member", "node", m.name, "client", m.clientURL, "peer", m.peerAddr, "advertised-peer", advertised[m.name])
	}
	if err := s.openClients(); err != nil {
		s.Stop(true)
		return nil, err
	}
	for _, m := range s.members {
		if err := m.proc.Start(); err != nil {
			s.Stop(true)
			return nil, err
		}
	}
	bctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	for _, m := range s.members {
		if err := s.waitServing(bctx, m, false); err != nil {
			s.Stop(true)
			return nil, fmt.Errorf("etcd target: boot: %w", err)
		}
	}
	s.driver, err = newDriver(s, env.Workload, env.WorkloadOptions)
	if err != nil {
		s.Stop(true)
		return nil, err
	}
	return s, nil
}

// attach drives a running cluster at set.endpoints; its members are n1 …
// in the order given.
func attach(ctx context.Context, env target.Env, set settings) (target.System, error) {
	s := &system{set: set, env: env, attached: true, byName: map[string]*member{}, ids: map[uint64]string{}}
	for i, e := range set.endpoints {
		m := &member{name: fmt.Sprintf("n%d", i+1), clientURL: e}
		s.members = append(s.members, m)
		s.byName[m.name] = m
	}
	if err := s.openClients(); err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, m := range s.members {
		if err := s.waitServing(actx, m, false); err != nil {
			s.closeClients()
			// The user named endpoints that do not answer: bad input.
			return nil, &target.ConfigError{Err: fmt.Errorf("etcd target: --endpoints: %s does not answer: %w", m.clientURL, err)}
		}
	}
	var err error
	if s.driver, err = newDriver(s, env.Workload, env.WorkloadOptions); err != nil {
		s.closeClients()
		return nil, err
	}
	return s, nil
}

// openClients makes one client per member, dialing only that member, so
// each op's node is known. clientv3 dials lazily: a member that is down
// costs nothing until an op is sent to it.
func (s *system) openClients() error {
	for _, m := range s.members {
		c, err := newClient([]string{m.clientURL})
		if err != nil {
			s.closeClients()
			return err
		}
		m.client = c
	}
	return nil
}

func newClient(endpoints []string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints,
		Logger:    zap.NewNop(),
		// Keepalives find a paused or partitioned member's connection
		// dead instead of waiting on it forever.
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return c, nil
}

func (s *system) closeClients() {
	for _, m := range s.members {
		if m.client != nil {
			m.client.Close()
			m.client = nil
		}
	}
}

func (s *system) Nodes() []string {
	names := make([]string, len(s.members))
	for i, m := range s.members {
		names[i] = m.name
	}
	return names
}

func (s *system) member(node string) (*member, error) {
	m, ok := s.byName[node]
	if !ok {
		return nil, fmt.Errorf("etcd target: no node %q (have %s)", node, strings.Join(s.Nodes(), ", "))
	}
	return m, nil
}

func (s *system) Running(node string) bool {
	m, err := s.member(node)
	if err != nil {
		return false
	}
	if s.attached {
		return true // not ours to know; the maintenance API says whether it answers
	}
	return m.proc.Running()
}

// procOf returns node's process, or ErrNoProcessControl when attached.
func (s *system) procOf(node string) (*cluster.Proc, error) {
	if s.attached {
		return nil, target.ErrNoProcessControl
	}
	m, err := s.member(node)
	if err != nil {
		return nil, err
	}
	return m.proc, nil
}

func (s *system) Kill(node string) error {
	p, err := s.procOf(node)
	if err != nil {
		return err
	}
	return p.Kill()
}

func (s *system) Pause(node string) error {
	p, err := s.procOf(node)
	if err != nil {
		return err
	}
	return p.Pause()
}

func (s *system) Resume(node string) error {
	p, err := s.procOf(node)
	if err != nil {
		return err
	}
	return p.Resume()
}

// Start restarts node on its data dir and waits until it serves. A
// member serves clients only once it has published itself through Raft,
// which needs a quorum; when fewer than a quorum of members run (a
// kill-all being undone one node at a time), Start waits only until the
// member listens for its peers, and WaitHealthy waits for the rest.
func (s *system) Start(ctx context.Context, node string) error {
	p, err := s.procOf(node)
	if err != nil {
		return err
	}
	if err := p.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return s.waitServing(ctx, s.byName[node], true)
}

// quorumRunning says whether a majority of the members' processes run.
func (s *system) quorumRunning() bool {
	up := 0
	for _, m := range s.members {
		if m.proc.Running() {
			up++
		}
	}
	return up > len(s.members)/2
}

// waitServing waits until m answers Status. With alone, it settles for m
// listening on its peer port while no quorum runs. A member whose process
// has exited fails at once, with errExited (boot retries on new ports).
func (s *system) waitServing(ctx context.Context, m *member, alone bool) error {
	var last error
	for {
		if m.proc != nil && !m.proc.Running() {
			_, exit := m.proc.Exited()
			return fmt.Errorf("%w: %s: %v; log: %s", errExited, m.name, exit(), logTail(m))
		}
		ok, err := s.serving(ctx, m, alone)
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not serving: %w (last: %v)", m.name, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *system) serving(ctx context.Context, m *member, alone bool) (bool, error) {
	_, err := s.status(ctx, m)
	if err == nil {
		return true, nil
	}
	if !alone || s.quorumRunning() {
		return false, err
	}
	c, err := net.DialTimeout("tcp", m.peerAddr, time.Second)
	if err != nil {
		return false, err
	}
	c.Close()
	return true, nil
}

// logTail is the end of m's node.log, for errors that say why it died.
func logTail(m *member) string {
	if m.proc == nil {
		return ""
	}
	b, err := os.ReadFile(m.proc.Spec().LogPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return strings.TrimSpace(string(b))
}

// status asks m for its Status with a short deadline, and learns its ID.
func (s *system) status(ctx context.Context, m *member) (*clientv3.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := m.client.Status(ctx, m.clientURL)
	if err != nil {
		return nil, fmt.Errorf("%s status: %w", m.name, err)
	}
	s.mu.Lock()
	s.ids[st.Header.MemberId] = m.name
	s.mu.Unlock()
	return st, nil
}

func (s *system) nameOf(id uint64) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.ids[id]
	return n, ok
}

// Leader returns the member every answering member names as leader.
func (s *system) Leader(ctx context.Context) (string, error) {
	var name string
	err := cluster.WaitFor(ctx, time.Hour, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		var lead uint64
		for _, m := range s.members {
			st, err := s.status(ctx, m)
			if err != nil {
				continue
			}
			if st.Leader == 0 {
				return false, fmt.Errorf("%s knows no leader", m.name)
			}
			if lead != 0 && st.Leader != lead {
				return false, fmt.Errorf("members disagree on the leader (%x, %x)", lead, st.Leader)
			}
			lead = st.Leader
		}
		if lead == 0 {
			return false, errors.New("no member answers Status")
		}
		n, ok := s.nameOf(lead)
		if !ok {
			return false, fmt.Errorf("leader %x has not answered Status yet", lead)
		}
		name = n
		return true, nil
	})
	if err != nil {
		return "", fmt.Errorf("etcd target: leader: %w", err)
	}
	return name, nil
}

// WaitHealthy waits until every member answers Status, all name the same
// leader, and every member has applied what the leader had committed when
// asked (the raft index caught up).
func (s *system) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	err := cluster.WaitFor(ctx, timeout, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		sts := make([]*clientv3.StatusResponse, len(s.members))
		for i, m := range s.members {
			st, err := s.status(ctx, m)
			if err != nil {
				return false, err
			}
			sts[i] = st
		}
		lead := sts[0].Leader
		var committed uint64
		for i, st := range sts {
			if st.Leader == 0 || st.Leader != lead {
				return false, fmt.Errorf("%s names leader %x, %s names %x", s.members[0].name, lead, s.members[i].name, st.Leader)
			}
			if st.Header.MemberId == lead {
				committed = st.RaftIndex
			}
		}
		if committed == 0 {
			return false, fmt.Errorf("leader %x is not a member we know", lead)
		}
		for i, st := range sts {
			if st.RaftAppliedIndex < committed {
				return false, fmt.Errorf("%s applied %d of %d", s.members[i].name, st.RaftAppliedIndex, committed)
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("etcd target: not healthy: %w", err)
	}
	return nil
}

func (s *system) Driver() workload.Driver { return s.driver }

// Stop ends every member (SIGKILL when kill, SIGTERM with a grace period
// otherwise) and the front doors; an attached cluster is left running.
func (s *system) Stop(kill bool) error {
	s.closeClients()
	var errs []error
	for _, m := range s.members {
		if m.proc == nil {
			continue
		}
		if kill {
			errs = append(errs, m.proc.Kill())
		} else {
			errs = append(errs, m.proc.Stop(stopGrace))
		}
	}
	if s.doors != nil {
		s.doors.Close()
	}
	return errors.Join(errs...)
}

var (
	_ target.System = (*system)(nil)
	_ target.Leader = (*system)(nil)
)
