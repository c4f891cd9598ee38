package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is a system described by a TOML file (docs/own-system.md has
// the reference). Every string that names a command, a URL or an address
// may hold placeholders (placeholder.go), expanded per node at boot.
type Config struct {
	// Path is the file the config was read from (absolute); Dir its
	// directory, the {config_dir} placeholder and the client's working
	// directory.
	Path string `toml:"-"`
	Dir  string `toml:"-"`

	Nodes int      `toml:"nodes"` // cluster size when --nodes is not given; names n1 … nN
	Names []string `toml:"names"` // explicit node names instead (then the size is fixed)
	Ports []string `toml:"ports"` // named ports every node gets, e.g. ["http", "peer"]

	Node   NodeConfig    `toml:"node"`
	Health Probe         `toml:"health"`
	Leader *Probe        `toml:"leader"`
	Client ClientConfig  `toml:"client"`
	Window *WindowConfig `toml:"commit_window"`

	src []byte // the file's text, for line numbers in errors
}

// NodeConfig says how to start one node.
type NodeConfig struct {
	Command      []string          `toml:"command"` // argv; node placeholders
	Env          map[string]string `toml:"env"`     // added to chaoscheck's environment; node placeholders
	StartTimeout Duration          `toml:"start_timeout"`
	StopGrace    Duration          `toml:"stop_grace"`
}

// Probe is a question put to one node: exactly one of its fields is set.
// As a health check: HTTPGet answers 200, TCP accepts a connection,
// Command exits 0. As the leader question: HTTPGet's body (trimmed) names
// the node that node believes leads; empty means it knows none.
type Probe struct {
	HTTPGet string   `toml:"http_get"`
	TCP     string   `toml:"tcp"`
	Command []string `toml:"command"`
}

// ClientConfig is the user's client program (protocol.go).
type ClientConfig struct {
	Command      []string          `toml:"command"` // argv; client placeholders
	Env          map[string]string `toml:"env"`
	Workloads    []string          `toml:"workloads"` // the workloads whose ops it understands
	StartTimeout Duration          `toml:"start_timeout"`
}

// Duration is a TOML string such as "30s" or "500ms".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("duration %q must be positive", b)
	}
	d.Duration = v
	return nil
}

// Defaults for the durations a config leaves out.
const (
	defaultNodes        = 3
	defaultStartTimeout = 30 * time.Second
	defaultStopGrace    = 5 * time.Second
	defaultClientStart  = 10 * time.Second
)

// LoadConfig reads and validates the config at path. Errors name the file,
// the line where it is known, the key and the problem.
func LoadConfig(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return ParseConfig(abs, src)
}

// ParseConfig parses src as the config file at path (absolute).
func ParseConfig(path string, src []byte) (*Config, error) {
	c := &Config{Path: path, Dir: filepath.Dir(path), src: src}
	md, err := toml.Decode(string(src), c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("config %s line %d: %s", path, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("config %s: %v", path, err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		return nil, c.errorf(u[0].String(), "unknown key (see docs/own-system.md for the keys a config may hold)")
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// errorf is an error about key (dotted, e.g. "health.http_get") naming the
// file and, when it can be found, the line.
func (c *Config) errorf(key, format string, args ...any) error {
	where := "config " + c.Path
	if line := lineOf(c.src, key); line > 0 {
		where += fmt.Sprintf(" line %d", line)
	}
	return fmt.Errorf("%s: %s: %s", where, key, fmt.Sprintf(format, args...))
}

func (c *Config) validate() error {
	switch {
	case len(c.Names) > 0 && c.Nodes != 0 && c.Nodes != len(c.Names):
		return c.errorf("nodes", "%d, but names lists %d nodes", c.Nodes, len(c.Names))
	case c.Nodes < 0:
		return c.errorf("nodes", "must be at least 1")
	}
	seen := map[string]bool{}
	for _, n := range c.Names {
		if !validName(n) || seen[n] {
			return c.errorf("names", "%q is not a distinct name of letters, digits, '-' and '_'", n)
		}
		seen[n] = true
	}
	for i, p := range c.Ports {
		if !validName(p) || slices.Index(c.Ports, p) != i {
			return c.errorf("ports", "%q is not a distinct name of letters, digits, '-' and '_'", p)
		}
	}
	if len(c.Node.Command) == 0 {
		return c.errorf("node.command", "missing: the argv that starts one node")
	}
	if n := c.Health.count(); n != 1 {
		return c.errorf("health", "set exactly one of http_get, tcp, command (found %d)", n)
	}
	if c.Leader != nil && (c.Leader.HTTPGet == "" || c.Leader.count() != 1) {
		return c.errorf("leader", "set http_get (a URL whose body names the leader) and nothing else")
	}
	if len(c.Client.Command) == 0 {
		return c.errorf("client.command", "missing: the argv of the client program")
	}
	if len(c.Client.Workloads) == 0 {
		return c.errorf("client.workloads", "missing: the workloads whose ops the client understands (%s)", strings.Join(supported, ", "))
	}
	for _, w := range c.Client.Workloads {
		if !slices.Contains(supported, w) {
			return c.errorf("client.workloads", "%q is not a workload the process target carries (%s)", w, strings.Join(supported, ", "))
		}
	}
	if err := c.validateWindow(); err != nil {
		return err
	}
	// Expand every placeholder once with stand-in ports, so a typo is an
	// error now rather than a node that fails to start.
	l := c.layout(c.NodeNames(0), nil)
	for _, n := range l.names {
		if err := c.expandNode(l, n, identityNet); err != nil {
			return err
		}
	}
	if _, _, err := c.expandClient(l); err != nil {
		return err
	}
	return c.checkWindowPlaceholders(l)
}

func (p Probe) count() int {
	n := 0
	for _, set := range []bool{p.HTTPGet != "", p.TCP != "", len(p.Command) > 0} {
		if set {
			n++
		}
	}
	return n
}

// NodeNames returns the node names for a cluster of size asked (0: the
// config's size): names when the config lists them, else n1 … nN.
func (c *Config) NodeNames(asked int) []string {
	if len(c.Names) > 0 {
		return c.Names
	}
	n := c.Nodes
	if asked > 0 {
		n = asked
	}
	if n == 0 {
		n = defaultNodes
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	return names
}

func (c *Config) startTimeout() time.Duration {
	return orDefault(c.Node.StartTimeout, defaultStartTimeout)
}

func (c *Config) stopGrace() time.Duration { return orDefault(c.Node.StopGrace, defaultStopGrace) }

func (c *Config) clientStartTimeout() time.Duration {
	return orDefault(c.Client.StartTimeout, defaultClientStart)
}

func orDefault(d Duration, def time.Duration) time.Duration {
	if d.Duration > 0 {
		return d.Duration
	}
	return def
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// lineOf finds the line (from 1) where dotted key is set in a TOML
// source: the last part as a key under a [table] header made of the
// others. 0 when not found (the error then names the key only).
func lineOf(src []byte, key string) int {
	parts := strings.Split(key, ".")
	table, name := strings.Join(parts[:len(parts)-1], "."), parts[len(parts)-1]
	cur := ""
	for i, line := range bytes.Split(src, []byte("\n")) {
		t := strings.TrimSpace(string(line))
		if strings.HasPrefix(t, "[") {
			cur = strings.Trim(t, "[] ")
			if cur == key {
				return i + 1
			}
			continue
		}
		k, _, ok := strings.Cut(t, "=")
		if ok && cur == table && strings.Trim(strings.TrimSpace(k), `"`) == name {
			return i + 1
		}
	}
	return 0
}
