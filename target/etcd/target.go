package etcd

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/chaoscheck/chaoscheck/target"
)

func init() { target.Register(etcdTarget{}, false) }

// Workload names this target has drivers for; the first is the default.
const (
	Register   = "register"
	Set        = "set"
	ListAppend = "list-append"
)

// Flag names (they become --etcd-bin … on `chaoscheck run`).
const (
	FlagBin          = "etcd-bin"
	FlagEndpoints    = "endpoints"
	FlagSerializable = "serializable-reads"
	FlagArgs         = "etcd-args"
	FlagGuardedAdds  = "guarded-adds"
)

type etcdTarget struct{}

func (etcdTarget) Name() string { return "etcd" }
func (etcdTarget) Doc() string {
	return "real etcd members started from --etcd-bin, or a running cluster (--endpoints)"
}
func (etcdTarget) Workloads() []string { return []string{Register, Set, ListAppend} }
func (etcdTarget) Bugs() []string      { return nil }

// Features: with --endpoints chaoscheck has no processes to kill or
// pause, only the maintenance API, so only the leader is known.
func (etcdTarget) Features(opts target.Options) []target.Feature {
	if opts.Get(FlagEndpoints, "") != "" {
		return []target.Feature{target.LeaderFeature}
	}
	return []target.Feature{target.Kill, target.Pause, target.LeaderFeature, target.Partition}
}

func (etcdTarget) Flags() []target.Flag {
	return []target.Flag{
		{Name: FlagBin, Default: "etcd", Usage: "etcd binary (>= 3.5) to start the members from"},
		{Name: FlagEndpoints, Usage: "comma-separated client URLs of a running etcd cluster to drive instead of starting one (no process faults)"},
		{Name: FlagSerializable, Default: "false", Usage: "register reads are serializable (served by any member, may be stale) instead of linearizable"},
		{Name: FlagArgs, Usage: "extra flags for every etcd member, space-separated (e.g. \"--snapshot-count 100\")"},
		{Name: FlagGuardedAdds, Default: "false", Usage: "set: each add is a Txn guarded by a compare over the whole set's key range (a heavy apply that widens etcd #13766's window)"},
	}
}

// settings are the target's flags, parsed.
type settings struct {
	bin          string
	endpoints    []string
	serializable bool
	guardedAdds  bool
	extraArgs    []string
}

func parseSettings(o target.Options) (settings, error) {
	var s settings
	ser, err := strconv.ParseBool(o.Get(FlagSerializable, "false"))
	if err != nil {
		return s, fmt.Errorf("--%s: %q is not a boolean", FlagSerializable, o[FlagSerializable])
	}
	s.serializable = ser
	if s.guardedAdds, err = strconv.ParseBool(o.Get(FlagGuardedAdds, "false")); err != nil {
		return s, fmt.Errorf("--%s: %q is not a boolean", FlagGuardedAdds, o[FlagGuardedAdds])
	}
	s.extraArgs = strings.Fields(o.Get(FlagArgs, ""))
	for _, e := range strings.Split(o.Get(FlagEndpoints, ""), ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if !strings.Contains(e, "://") {
			e = "http://" + e
		}
		s.endpoints = append(s.endpoints, e)
	}
	if len(s.endpoints) > 0 {
		return s, nil
	}
	bin := o.Get(FlagBin, "etcd")
	path, err := exec.LookPath(bin)
	if err != nil {
		return s, fmt.Errorf("--%s %s: not found (%v); build one with `go build -C tools/etcd/v3.7.3 -o \"$PWD/bin/etcd\" .` and pass --%s bin/etcd", FlagBin, bin, err, FlagBin)
	}
	// Absolute: members run with their node directory as working dir, so
	// a relative --etcd-bin (./bin/etcd) would not resolve there.
	if path, err = filepath.Abs(path); err != nil {
		return s, fmt.Errorf("--%s %s: %w", FlagBin, bin, err)
	}
	s.bin = path
	if err := checkVersion(path); err != nil {
		return s, err
	}
	return s, nil
}

var versionLine = regexp.MustCompile(`etcd Version: (\d+)\.(\d+)\.`)

// checkVersion refuses an etcd older than 3.5: the flags and the
// maintenance fields the target relies on (RaftAppliedIndex, HashKV's
// hash_revision) are those of 3.5 and later.
func checkVersion(bin string) error {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("--%s %s: %s --version: %v", FlagBin, bin, bin, err)
	}
	m := versionLine.FindStringSubmatch(string(out))
	if m == nil {
		return fmt.Errorf("--%s %s: not an etcd binary (--version printed %q)", FlagBin, bin, strings.TrimSpace(string(out)))
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < 3 || (major == 3 && minor < 5) {
		return fmt.Errorf("--%s %s: etcd %s.%s is older than 3.5, which this target needs", FlagBin, bin, m[1], m[2])
	}
	return nil
}

// CheckOptions judges the flags, the binary and the cluster size before
// the run starts (target.OptionChecker), as Boot does.
func (etcdTarget) CheckOptions(opts target.Options, nodes int, workload string, _ []string) error {
	_, _, err := checkOptions(opts, nodes, workload)
	return err
}

// checkOptions parses the flags and checks the workload and the cluster
// size (0: 3 members; ignored when attached).
func checkOptions(opts target.Options, nodes int, workload string) (settings, int, error) {
	s, err := parseSettings(opts)
	if err != nil {
		return s, 0, err
	}
	if workload != "" && !target.Supports(etcdTarget{}, workload) {
		return s, 0, fmt.Errorf("etcd target: no driver for workload %q (have register, set, list-append)", workload)
	}
	if nodes == 0 {
		nodes = 3
	}
	if len(s.endpoints) == 0 && nodes != 1 && nodes != 3 && nodes != 5 {
		return s, 0, fmt.Errorf("etcd target: --nodes %d: want 1, 3 or 5", nodes)
	}
	return s, nodes, nil
}

// Boot starts the members (or attaches to --endpoints) and returns once
// every member serves. A bad flag or size is a *target.ConfigError.
func (etcdTarget) Boot(ctx context.Context, env target.Env) (target.System, error) {
	s, n, err := checkOptions(env.Options, env.Nodes, env.Workload)
	if err != nil {
		return nil, &target.ConfigError{Err: err}
	}
	if len(s.endpoints) > 0 {
		return attach(ctx, env, s)
	}
	return boot(ctx, env, s, n)
}
