package process

import (
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The placeholder language. A placeholder is {name} or {name:arg…}; text
// that does not have that shape (JSON braces, shell ${VAR}) is left alone.
// Each node gets its own view: {peers:P} lists the other nodes' port P as
// this node must dial them, through the partition layer when there is one,
// so a grudge against one link cuts exactly that link.
//
// Node scope (node.command, node.env, health, leader):
//
//	{node}            this node's name
//	{nodes}           every node's name, comma-separated
//	{data_dir}        this node's data directory (created before start)
//	{node_dir}        this node's directory (node.log lives there)
//	{config_dir}      the config file's directory
//	{port:P}          this node's port P
//	{addr:P}          127.0.0.1:{port:P}
//	{peers:P}         name=host:port for every other node, comma-separated
//	{peer_addrs:P}    host:port only, same order
//	{peer:NODE:P}     one peer's address as this node dials it
//
// Client scope (client.command, client.env): {config_dir}, {nodes}, and
// {addrs:P}, name=host:port for every node (clients are not partitioned).
//
// Commit-window scope (commit_window.hold, held, release): {config_dir},
// {nodes}, {participant}, {hold_ms}, {tx_id}, and {addr:NODE:P} or
// {port:NODE:P} for any node. commit_window.observe is in each
// participant's node scope.
var placeholderRE = regexp.MustCompile(`\{([a-z_]+(?::[A-Za-z0-9_-]+)*)\}`)

// layout is where one boot's nodes live and listen.
type layout struct {
	names []string
	root  string                    // Env.Dir: node X lives in root/X
	ports map[string]map[string]int // node → port name → port
	vias  map[[3]string]string      // memoized Net.Via answers
}

// layout assigns ports in order from free (nil: stand-ins, for
// validation).
func (c *Config) layout(names []string, free []int) *layout {
	l := &layout{names: names, root: "<run>/nodes", ports: map[string]map[string]int{}, vias: map[[3]string]string{}}
	i := 0
	for _, n := range names {
		l.ports[n] = map[string]int{}
		for _, p := range c.Ports {
			port := 10000 + i
			if free != nil {
				port = free[i]
			}
			l.ports[n][p] = port
			i++
		}
	}
	return l
}

func (l *layout) addr(node, port string) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(l.ports[node][port]))
}

func (l *layout) nodeDir(node string) string { return filepath.Join(l.root, node) }
func (l *layout) dataDir(node string) string { return filepath.Join(l.root, node, "data") }

// viaFunc is target.Net.Via, or the identity when there is no partition
// layer.
type viaFunc func(from, to, addr string) (string, error)

func identityNet(_, _, addr string) (string, error) { return addr, nil }

// scope expands placeholders for one node (node != ""), for the client,
// or for the commit window (vars != nil: {participant}, {hold_ms},
// {tx_id}, and any node's address as {addr:NODE:P}).
type scope struct {
	c    *Config
	l    *layout
	node string
	via  viaFunc
	vars map[string]string
}

// expand replaces every placeholder in text, the value of config key key.
func (s scope) expand(key, text string) (string, error) {
	var err error
	out := placeholderRE.ReplaceAllStringFunc(text, func(m string) string {
		if err != nil {
			return m
		}
		var v string
		v, err = s.value(strings.Split(m[1:len(m)-1], ":"))
		if err != nil {
			err = s.c.errorf(key, "%s: %v", m, err)
		}
		return v
	})
	return out, err
}

func (s scope) value(p []string) (string, error) {
	name, args := p[0], p[1:]
	want := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("takes %d argument(s), got %d", n, len(args))
		}
		return nil
	}
	port := func(i int) (string, error) {
		if !slices.Contains(s.c.Ports, args[i]) {
			return "", fmt.Errorf("no port %q (ports = %q)", args[i], s.c.Ports)
		}
		return args[i], nil
	}
	// onePort reads the arguments :P; nodePort reads :NODE:P.
	onePort := func() (string, error) {
		if err := want(1); err != nil {
			return "", err
		}
		return port(0)
	}
	nodePort := func() (string, string, error) {
		if err := want(2); err != nil {
			return "", "", err
		}
		if !slices.Contains(s.l.names, args[0]) {
			return "", "", fmt.Errorf("no node %q (nodes: %s)", args[0], strings.Join(s.l.names, ", "))
		}
		p, err := port(1)
		return args[0], p, err
	}
	// portOrAddr is node's port p as {port…} or {addr…} asks for it.
	portOrAddr := func(node, p string) string {
		if name == "port" {
			return strconv.Itoa(s.l.ports[node][p])
		}
		return s.l.addr(node, p)
	}
	switch name {
	case "config_dir":
		return s.c.Dir, want(0)
	case "nodes":
		return strings.Join(s.l.names, ","), want(0)
	case "addrs":
		if s.node != "" {
			return "", fmt.Errorf("client scope only; a node names its peers with {peers:P}")
		}
		p, err := onePort()
		if err != nil {
			return "", err
		}
		var parts []string
		for _, n := range s.l.names {
			parts = append(parts, n+"="+s.l.addr(n, p))
		}
		return strings.Join(parts, ","), nil
	}
	if s.vars != nil {
		if v, ok := s.vars[name]; ok {
			return v, want(0)
		}
		if name == "addr" || name == "port" {
			node, p, err := nodePort()
			if err != nil {
				return "", err
			}
			return portOrAddr(node, p), nil
		}
		return "", fmt.Errorf("unknown in the commit window's scope ({participant}, {hold_ms}, {tx_id}, {addr:NODE:P}, {port:NODE:P}, {config_dir}, {nodes})")
	}
	if s.node == "" {
		return "", fmt.Errorf("unknown in the client's scope ({config_dir}, {nodes}, {addrs:P})")
	}
	switch name {
	case "node":
		return s.node, want(0)
	case "data_dir":
		return s.l.dataDir(s.node), want(0)
	case "node_dir":
		return s.l.nodeDir(s.node), want(0)
	case "port", "addr":
		p, err := onePort()
		if err != nil {
			return "", err
		}
		return portOrAddr(s.node, p), nil
	case "peers", "peer_addrs":
		p, err := onePort()
		if err != nil {
			return "", err
		}
		var parts []string
		for _, n := range s.l.names {
			if n == s.node {
				continue
			}
			a, err := s.peerAddr(n, p)
			if err != nil {
				return "", err
			}
			if name == "peers" {
				a = n + "=" + a
			}
			parts = append(parts, a)
		}
		return strings.Join(parts, ","), nil
	case "peer":
		node, p, err := nodePort()
		if err != nil {
			return "", err
		}
		return s.peerAddr(node, p)
	}
	return "", fmt.Errorf("unknown placeholder (see docs/own-system.md)")
}

// peerAddr is how s.node dials node to's port p: through the partition
// layer, once per link.
func (s scope) peerAddr(to, p string) (string, error) {
	direct := s.l.addr(to, p)
	k := [3]string{s.node, to, direct}
	if a, ok := s.l.vias[k]; ok {
		return a, nil
	}
	a, err := s.via(s.node, to, direct)
	if err != nil {
		return "", fmt.Errorf("partition layer: link %s→%s: %w", s.node, to, err)
	}
	s.l.vias[k] = a
	return a, nil
}

// nodeSpec is one node's expanded command, environment and probes.
type nodeSpec struct {
	argv   []string
	env    []string
	health Probe
	leader *Probe
}

func (c *Config) expandNode(l *layout, node string, via viaFunc) error {
	_, err := c.nodeSpec(l, node, via)
	return err
}

func (c *Config) nodeSpec(l *layout, node string, via viaFunc) (nodeSpec, error) {
	s := scope{c: c, l: l, node: node, via: via}
	var ns nodeSpec
	var err error
	if ns.argv, err = s.expandAll("node.command", c.Node.Command); err != nil {
		return ns, err
	}
	if ns.env, err = s.expandEnv("node.env", c.Node.Env); err != nil {
		return ns, err
	}
	if ns.health, err = s.expandProbe("health", c.Health); err != nil {
		return ns, err
	}
	if c.Leader != nil {
		p, err := s.expandProbe("leader", *c.Leader)
		if err != nil {
			return ns, err
		}
		ns.leader = &p
	}
	return ns, nil
}

// expandClient returns the client program's argv and extra environment.
func (c *Config) expandClient(l *layout) (argv, env []string, err error) {
	s := scope{c: c, l: l}
	if argv, err = s.expandAll("client.command", c.Client.Command); err != nil {
		return nil, nil, err
	}
	env, err = s.expandEnv("client.env", c.Client.Env)
	return argv, env, err
}

func (s scope) expandAll(key string, in []string) ([]string, error) {
	out := make([]string, len(in))
	for i, a := range in {
		var err error
		if out[i], err = s.expand(key, a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s scope) expandEnv(key string, env map[string]string) ([]string, error) {
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		v, err := s.expand(key, env[k])
		if err != nil {
			return nil, err
		}
		out = append(out, k+"="+v)
	}
	return out, nil
}

func (s scope) expandProbe(key string, p Probe) (Probe, error) {
	var err error
	if p.HTTPGet, err = s.expand(key+".http_get", p.HTTPGet); err != nil {
		return p, err
	}
	if p.TCP, err = s.expand(key+".tcp", p.TCP); err != nil {
		return p, err
	}
	p.Command, err = s.expandAll(key+".command", p.Command)
	return p, err
}
