package process

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/target"
)

// A node that serves /health and answers /leader with the contents of a
// file all nodes share, so the test decides who leads. With FAIL_AT_START
// set it exits at once, as a node with a bad flag would.
const leaderNode = `
import http.server, os, sys
name, port, lead = sys.argv[1], int(sys.argv[2]), sys.argv[3]
open("pid", "w").write(str(os.getpid()))  # in its node directory
if os.environ.get("FAIL_AT_START") == name:
    sys.stderr.write("cannot open data dir\n"); sys.exit(4)
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = b"ok"
        if self.path == "/leader":
            body = open(lead, "rb").read()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
`

func leaderConfig(t *testing.T, leader bool) (path, leadFile string) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "node.py"), []byte(leaderNode), 0o644); err != nil {
		t.Fatal(err)
	}
	leadFile = filepath.Join(dir, "leader")
	cfg := `nodes = 3
ports = ["http"]
[node]
command = ["python3", "{config_dir}/node.py", "{node}", "{port:http}", "{config_dir}/leader"]
start_timeout = "10s"
[health]
tcp = "{addr:http}"
[client]
command = ["true"]
workloads = ["register"]
`
	if leader {
		cfg += "[leader]\nhttp_get = \"http://{addr:http}/leader\"\n"
	}
	path = filepath.Join(dir, "sys.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, leadFile
}

func bootTarget(t *testing.T, path string) target.System {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Target{}.Boot(ctx, target.Env{Dir: t.TempDir(), Workload: "register", Options: target.Options{ConfigFlag: path}})
	if err != nil {
		t.Fatalf("boot: %v", err)
	}
	t.Cleanup(func() { s.Stop(true) })
	return s
}

func TestLeaderIsTheNodeAMajorityNamesAndThatNamesItself(t *testing.T) {
	path, leadFile := leaderConfig(t, true)
	os.WriteFile(leadFile, []byte("n2\n"), 0o644)
	s := bootTarget(t, path)
	l, ok := s.(target.Leader)
	if !ok {
		t.Fatal("a config with [leader] boots a system that does not implement target.Leader")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got, err := l.Leader(ctx); err != nil || got != "n2" {
		t.Fatalf("Leader = %q, %v; want n2", got, err)
	}
	// n2 down: the others still name it, but it cannot confirm: no leader.
	if err := s.Kill("n2"); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if got, err := l.Leader(short); err == nil {
		t.Fatalf("Leader = %q with the named leader killed, want an error", got)
	}
	os.WriteFile(leadFile, []byte("n3"), 0o644)
	if got, err := l.Leader(ctx); err != nil || got != "n3" {
		t.Fatalf("Leader = %q, %v; want n3", got, err)
	}
	if err := s.Start(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitHealthy(ctx, 10*time.Second); err != nil {
		t.Fatalf("WaitHealthy after restart: %v", err)
	}
}

func TestSystemProcessControl(t *testing.T) {
	path, _ := leaderConfig(t, false)
	s := bootTarget(t, path)
	if _, ok := s.(target.Leader); ok {
		t.Error("a config without [leader] boots a system that claims target.Leader")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Pause("n1"); err != nil {
		t.Fatal(err)
	}
	if !s.Running("n1") {
		t.Error("a paused node counts as running")
	}
	if err := s.WaitHealthy(ctx, 300*time.Millisecond); err == nil {
		t.Error("WaitHealthy passed with n1 paused")
	}
	if err := s.Resume("n1"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitHealthy(ctx, 10*time.Second); err != nil {
		t.Fatalf("WaitHealthy after resume: %v", err)
	}
	if err := s.Kill("n3"); err != nil || s.Running("n3") {
		t.Fatalf("Kill: %v, running %v", err, s.Running("n3"))
	}
	if err := s.Start(ctx, "n3"); err != nil || !s.Running("n3") {
		t.Fatalf("Start: %v", err)
	}
	if err := s.Kill("n9"); err == nil || !strings.Contains(err.Error(), `no node "n9"`) {
		t.Errorf("Kill of an unknown node: %v", err)
	}
	if err := s.Stop(false); err != nil {
		t.Fatal(err)
	}
	for _, n := range s.Nodes() {
		if s.Running(n) {
			t.Errorf("%s running after Stop", n)
		}
	}
}

func TestBootReportsANodeThatExitsWithItsLog(t *testing.T) {
	path, _ := leaderConfig(t, false)
	t.Setenv("FAIL_AT_START", "n2")
	dir := t.TempDir()
	_, err := Target{}.Boot(context.Background(), target.Env{Dir: dir, Workload: "register", Options: target.Options{ConfigFlag: path}})
	if err == nil || !strings.Contains(err.Error(), "node n2 exited while starting") || !strings.Contains(err.Error(), "cannot open data dir") {
		t.Fatalf("boot error %v, want node n2's exit with its log", err)
	}
	// Nothing left running: the nodes that did start are gone.
	for _, n := range []string{"n1", "n3"} {
		b, err := os.ReadFile(filepath.Join(dir, n, "pid"))
		if err != nil {
			t.Fatalf("%s never started: %v", n, err)
		}
		pid, _ := strconv.Atoi(string(b))
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still there after a failed boot: %v", n, pid, err)
		}
	}
}

func TestBootRefusesAWorkloadTheClientDoesNotList(t *testing.T) {
	path, _ := leaderConfig(t, false)
	_, err := Target{}.Boot(context.Background(), target.Env{Dir: t.TempDir(), Workload: "set", Options: target.Options{ConfigFlag: path}})
	if ce := (*target.ConfigError)(nil); !errors.As(err, &ce) || !strings.Contains(err.Error(), `client.workloads: does not list workload "set"`) {
		t.Fatalf("error %v, want a *target.ConfigError naming the workload", err)
	}
	_, err = Target{}.Boot(context.Background(), target.Env{Dir: t.TempDir(), Workload: "register"})
	var ce *target.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "--config is required") {
		t.Fatalf("boot without --config: %v, want a *target.ConfigError", err)
	}
}
