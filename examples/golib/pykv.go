package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// pykv is a chaoscheck target written in Go for a system with an HTTP
// API: the pykv store of examples/pykv (three Python nodes). It is the
// whole of what a Go user writes to test their own system: boot the
// nodes, control their processes, and turn ops into HTTP requests.
type pykv struct{}

func init() { target.Register(pykv{}, false) }

func (pykv) Name() string        { return "pykv-go" }
func (pykv) Doc() string         { return "the pykv example store, driven from Go" }
func (pykv) Workloads() []string { return []string{"register"} }
func (pykv) Bugs() []string      { return nil }

func (pykv) Features(target.Options) []target.Feature {
	return []target.Feature{target.Kill, target.Pause, target.Partition}
}

func (pykv) Flags() []target.Flag {
	return []target.Flag{{Name: "pykv-dir", Default: "../pykv", Usage: "directory holding pykv's node.py"}}
}

// system is three pykv nodes on loopback ports chosen at boot.
type system struct {
	names []string
	api   map[string]string // node → its HTTP address, for clients and health
	procs map[string]*cluster.Proc
	opTO  time.Duration
}

func (pykv) Boot(ctx context.Context, env target.Env) (target.System, error) {
	n := env.Nodes
	if n == 0 {
		n = 3
	}
	script, err := filepath.Abs(filepath.Join(env.Options.Get("pykv-dir", "../pykv"), "node.py"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(script); err != nil {
		return nil, &target.ConfigError{Err: fmt.Errorf("pykv-go: %w (set --pykv-dir)", err)}
	}
	ports, err := cluster.FreePorts(n)
	if err != nil {
		return nil, err
	}
	s := &system{api: map[string]string{}, procs: map[string]*cluster.Proc{},
		opTO: env.WorkloadOptions.WithDefaults().OpTimeout}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		s.names = append(s.names, name)
		s.api[name] = fmt.Sprintf("127.0.0.1:%d", ports[i])
	}
	for _, name := range s.names {
		var peers []string
		for _, p := range s.names {
			if p == name {
				continue
			}
			addr := s.api[p]
			if env.Net != nil { // node-to-node links go through the partition layer
				if addr, err = env.Net.Via(name, p, addr); err != nil {
					return nil, err
				}
			}
			peers = append(peers, p+"="+addr)
		}
		dir := filepath.Join(env.Dir, name)
		s.procs[name] = cluster.NewProc(cluster.ProcSpec{Name: name, Bin: "python3", Dir: dir, Args: []string{
			script, "--name", name, "--nodes", strings.Join(s.names, ","), "--port", strings.TrimPrefix(s.api[name], "127.0.0.1:"),
			"--data", filepath.Join(dir, "data"), "--peers", strings.Join(peers, ","),
		}})
	}
	for _, name := range s.names {
		if err := s.Start(ctx, name); err != nil {
			s.Stop(true)
			return nil, err
		}
	}
	return s, nil
}

func (s *system) Nodes() []string          { return s.names }
func (s *system) Running(node string) bool { return s.procs[node].Running() }
func (s *system) Kill(node string) error   { return s.procs[node].Kill() }
func (s *system) Pause(node string) error  { return s.procs[node].Pause() }
func (s *system) Resume(node string) error { return s.procs[node].Resume() }
func (s *system) Driver() workload.Driver  { return driver{s} }
func (s *system) healthy(node string) bool { return get(s.api[node]+"/health") == nil }
func (s *system) Start(ctx context.Context, node string) error {
	if err := s.procs[node].Start(); err != nil {
		return err
	}
	return cluster.WaitFor(ctx, 20*time.Second, 50*time.Millisecond, func(context.Context) (bool, error) {
		return s.healthy(node), nil
	})
}

func (s *system) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	return cluster.WaitFor(ctx, timeout, 100*time.Millisecond, func(context.Context) (bool, error) {
		for _, n := range s.names {
			if !s.procs[n].Running() || s.procs[n].Paused() || !s.healthy(n) {
				return false, fmt.Errorf("node %s not serving", n)
			}
		}
		return true, nil
	})
}

func (s *system) Stop(kill bool) error {
	var errs []error
	for _, p := range s.procs {
		if kill {
			errs = append(errs, p.Kill())
		} else {
			errs = append(errs, p.Stop(5*time.Second))
		}
	}
	return errors.Join(errs...)
}

var httpc = &http.Client{}

func get(url string) error {
	resp, err := httpc.Get("http://" + url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// driver: every key starts at 0 in pykv, so setup only waits until a
// quorum read succeeds.
type driver struct{ s *system }

func (d driver) Setup(ctx context.Context) error {
	c := client{d.s}
	return cluster.WaitFor(ctx, time.Minute, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		done := c.Invoke(ctx, history.Op{F: "read", Key: "k0"})
		return done.Type == history.OK, errors.New(done.Error)
	})
}

func (d driver) NewClient(int64) (workload.Client, error) { return client{d.s}, nil }

type client struct{ s *system }

func (client) Close() error { return nil }

// Invoke sends the op to a node, the next after each definite fail.
// ok: chosen; fail: certainly not (refused, no quorum, a cas whose
// compare did not hold, or a read without an answer); info: the rest.
func (c client) Invoke(ctx context.Context, op history.Op) history.Op {
	body := map[string]any{"f": op.F, "key": op.Key, "value": op.Value}
	if op.F == "cas" {
		ft, _ := op.Value.([]any)
		if len(ft) != 2 {
			op.Type, op.Error = history.Fail, "cas value is not [from, to]"
			return op
		}
		body = map[string]any{"f": "cas", "key": op.Key, "from": ft[0], "to": ft[1]}
	}
	first := rand.Intn(len(c.s.names)) // spread ops over the nodes
	for i := range c.s.names {
		node := c.s.names[(first+i)%len(c.s.names)]
		if dl, ok := ctx.Deadline(); ok {
			body["timeout_ms"] = time.Until(dl).Milliseconds() * 6 / 10
		}
		done := c.attempt(ctx, op, node, body)
		if done.Type != history.Fail || done.Error == "cas: value differs" || ctx.Err() != nil {
			return done
		}
	}
	op.Type, op.Error = history.Fail, "no node could serve"
	return op
}

func (c client) attempt(ctx context.Context, op history.Op, node string, body map[string]any) history.Op {
	op.Node = node
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.s.api[node]+"/op", bytes.NewReader(b))
	resp, err := httpc.Do(req)
	if err != nil {
		op.Type, op.Error = history.Info, err.Error()
		if op.F == "read" || strings.Contains(err.Error(), "connection refused") {
			op.Type = history.Fail // a read changes nothing; refused never reached the node
		}
		return op
	}
	defer resp.Body.Close()
	var r struct {
		Outcome, Reason string
		Value           any
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
		op.Type, op.Error = history.Info, fmt.Sprintf("HTTP %d: %v", resp.StatusCode, err)
		return op
	}
	switch {
	case r.Outcome == "ok":
		op.Type = history.OK
		if op.F == "read" {
			op.Value = r.Value
		}
	case r.Outcome == "fail" && r.Reason == "refused":
		op.Type, op.Error = history.Fail, "cas: value differs"
	case r.Outcome == "fail" || op.F == "read":
		op.Type, op.Error = history.Fail, "no quorum"
	default:
		op.Type, op.Error = history.Info, "outcome unknown"
	}
	return op
}
