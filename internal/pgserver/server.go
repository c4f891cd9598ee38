package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chaoscheck/chaoscheck/sut/cluster"
)

// Config says how to boot one server.
type Config struct {
	Name string // node name, e.g. "n1" or "p2"
	// Dir is the node directory: data in Dir/data, the server's log in
	// Dir/node.log.
	Dir string
	// BinDir holds initdb and postgres; "" finds them (FindBinDir).
	BinDir string
	// MaxPreparedTransactions is max_prepared_transactions; 0: 64.
	MaxPreparedTransactions int
	// MaxConnections is max_connections; 0: 100.
	MaxConnections int
	// StartTimeout bounds each start, crash recovery included; 0: 60s.
	StartTimeout time.Duration
	Log          *slog.Logger
}

// Server is one PostgreSQL server that chaoscheck started.
type Server struct {
	cfg  Config
	port int
	proc *cluster.Proc
	log  *slog.Logger
}

// User is the database superuser initdb creates; connections need no
// password (trust on 127.0.0.1 only).
const User = "postgres"

// Boot initializes the data directory (when it has none) and starts the
// server, returning once it accepts connections. On error nothing is left
// running.
func Boot(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Name == "" || cfg.Dir == "" {
		return nil, errors.New("pgserver: Name and Dir are required")
	}
	if cfg.MaxPreparedTransactions <= 0 {
		cfg.MaxPreparedTransactions = 64
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 100
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.Name)
	bin, err := FindBinDir(cfg.BinDir)
	if err != nil {
		return nil, err
	}
	cfg.BinDir = bin
	cred, err := serverUser(log, cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", cfg.Name, err)
	}
	if err := initdb(ctx, cfg, cred, log); err != nil {
		return nil, fmt.Errorf("postgres %s: %w", cfg.Name, err)
	}
	// A free port can be taken between FreePorts and the server's bind;
	// try another one then.
	var last error
	for try := 0; try < 3; try++ {
		ports, err := cluster.FreePorts(1)
		if err != nil {
			return nil, err
		}
		s := &Server{cfg: cfg, port: ports[0], log: log}
		s.proc = cluster.NewProc(cluster.ProcSpec{
			Name: cfg.Name, Bin: filepath.Join(bin, "postgres"), Dir: cfg.Dir,
			Args: s.args(), Credential: cred,
		})
		if last = s.Start(ctx); last == nil {
			log.Info("postgres up", "addr", s.Addr(), "data", s.DataDir(), "bin", bin)
			return s, nil
		}
		s.Kill()
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// args are the postmaster's arguments. Settings go on the command line so
// that ps and node.log show them.
func (s *Server) args() []string {
	set := []string{
		"listen_addresses=127.0.0.1",
		"port=" + strconv.Itoa(s.port),
		"unix_socket_directories=",
		"fsync=on",
		"synchronous_commit=on",
		"full_page_writes=on",
		"max_prepared_transactions=" + strconv.Itoa(s.cfg.MaxPreparedTransactions),
		"max_connections=" + strconv.Itoa(s.cfg.MaxConnections),
		"shared_buffers=32MB",
		// Deadlocks are definite fails; finding them sooner than the 1s
		// default keeps transactions short under contention.
		"deadlock_timeout=100ms",
		"log_line_prefix=%m [%p] ",
	}
	args := []string{"-D", s.DataDir()}
	for _, kv := range set {
		args = append(args, "-c", kv)
	}
	return args
}

// initdb creates the cluster in Dir/data unless it exists already.
func initdb(ctx context.Context, cfg Config, cred *syscall.Credential, log *slog.Logger) error {
	data := filepath.Join(cfg.Dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err == nil {
		return nil
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	if cred != nil {
		if err := os.Chown(data, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(filepath.Join(cfg.Dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	// --no-sync: initdb's own files are not flushed; the faults here kill
	// processes, not the machine, and the server fsyncs everything it
	// writes from then on.
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.BinDir, "initdb"), "-D", data, "-U", User,
		"--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	cmd.Dir = cfg.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", data, err, tail(filepath.Join(cfg.Dir, "node.log"), 15))
	}
	log.Info("initdb done", "data", data, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// Name is the node name.
func (s *Server) Name() string { return s.cfg.Name }

// Addr is host:port of the server.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// DataDir is the server's data directory.
func (s *Server) DataDir() string { return filepath.Join(s.cfg.Dir, "data") }

// LogPath is the server's log file.
func (s *Server) LogPath() string { return s.proc.Spec().LogPath }

// DSN is a connection string for database db as the superuser.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable&connect_timeout=5", User, s.Addr(), db)
}

// Running says whether the postmaster is alive (paused counts).
func (s *Server) Running() bool { return s.proc.Running() }

// Start starts a server that is not running on its data directory and
// waits until it accepts connections (after crash recovery, if the last
// run was killed).
func (s *Server) Start(ctx context.Context) error {
	if err := s.proc.Start(); err != nil {
		return err
	}
	return s.WaitReady(ctx, s.cfg.StartTimeout)
}

// WaitReady waits until the server answers a query. It fails early, with
// the end of node.log, when the postmaster exits.
func (s *Server) WaitReady(ctx context.Context, timeout time.Duration) error {
	err := cluster.WaitFor(ctx, timeout, 25*time.Millisecond, func(ctx context.Context) (bool, error) {
		if !s.proc.Running() {
			return false, errExited
		}
		return Ping(ctx, s.DSN("postgres")) == nil, nil
	})
	if err == nil {
		return nil
	}
	if !s.proc.Running() {
		err = errExited
	}
	return fmt.Errorf("postgres %s not ready: %w\n%s", s.cfg.Name, err, tail(s.LogPath(), 20))
}

var errExited = errors.New("postmaster exited")

// Ping connects to dsn and runs one query, within a second.
func Ping(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// Kill is SIGKILL for the whole server: the postmaster is stopped first
// so it forks no new child, then every child and the postmaster are
// killed, and Kill returns once all of them are gone. Killing a server
// that is not running is a no-op.
func (s *Server) Kill() error {
	pid := s.proc.Pid()
	if pid == 0 {
		return nil
	}
	kids := s.stopAndList(pid)
	for _, k := range kids {
		syscall.Kill(k, syscall.SIGKILL)
	}
	if err := s.proc.Kill(); err != nil {
		return err
	}
	return cluster.WaitFor(context.Background(), 10*time.Second, 5*time.Millisecond, func(context.Context) (bool, error) {
		for _, k := range kids {
			if alive(k) {
				return false, fmt.Errorf("backend %d of postgres %s still alive", k, s.cfg.Name)
			}
		}
		return true, nil
	})
}

// stopAndList stops the postmaster with SIGSTOP, waits until it is
// stopped (a fork in progress completes first), and lists its children.
func (s *Server) stopAndList(pid int) []int {
	syscall.Kill(pid, syscall.SIGSTOP)
	_ = cluster.WaitFor(context.Background(), 2*time.Second, time.Millisecond, func(context.Context) (bool, error) {
		st, _, ok := procStat(pid)
		return !ok || st == 'T' || st == 't' || st == 'Z', nil
	})
	return children(pid)
}

// Pause stops the postmaster and every backend with SIGSTOP: the server
// keeps its sockets and answers nothing.
func (s *Server) Pause() error {
	pid := s.proc.Pid()
	if pid == 0 {
		return fmt.Errorf("postgres %s: not running", s.cfg.Name)
	}
	if err := s.proc.Pause(); err != nil {
		return err
	}
	for _, k := range s.stopAndList(pid) {
		syscall.Kill(k, syscall.SIGSTOP)
	}
	return nil
}

// Resume continues a paused server: the children first, then the
// postmaster, so that it finds them running.
func (s *Server) Resume() error {
	pid := s.proc.Pid()
	if pid == 0 {
		return fmt.Errorf("postgres %s: not running", s.cfg.Name)
	}
	for _, k := range children(pid) {
		syscall.Kill(k, syscall.SIGCONT)
	}
	return s.proc.Resume()
}

// Stop ends the server: a fast shutdown (SIGINT: sessions are ended,
// transactions rolled back, a checkpoint written), or Kill when kill is
// true or the shutdown takes longer than 15s.
func (s *Server) Stop(kill bool) error {
	pid := s.proc.Pid()
	if pid == 0 {
		return nil
	}
	if kill {
		return s.Kill()
	}
	for _, k := range children(pid) {
		syscall.Kill(k, syscall.SIGCONT)
	}
	s.proc.Resume()
	syscall.Kill(pid, syscall.SIGINT)
	done, _ := s.proc.Exited()
	select {
	case <-done:
		return nil
	case <-time.After(15 * time.Second):
		s.log.Warn("fast shutdown took longer than 15s; killing")
		return s.Kill()
	}
}

// Leftovers lists live processes whose working directory is the data
// directory (every PostgreSQL process chdirs there): after Stop or Kill
// there must be none.
func (s *Server) Leftovers() []int {
	want, err := filepath.EvalSymlinks(s.DataDir())
	if err != nil {
		return nil
	}
	var pids []int
	for _, pid := range allPids() {
		if cwd, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "cwd")); err == nil && cwd == want && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// FindBinDir returns the directory holding initdb and postgres: dir when
// given, else the one holding postgres on PATH, else the newest
// /usr/lib/postgresql/<version>/bin (Debian's layout).
func FindBinDir(dir string) (string, error) {
	has := func(d string) bool {
		for _, b := range []string{"postgres", "initdb"} {
			if fi, err := os.Stat(filepath.Join(d, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir != "" {
		if !has(dir) {
			return "", fmt.Errorf("--pg-bin %s: no postgres and initdb there", dir)
		}
		return dir, nil
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	cands, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(cands, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	for _, c := range cands {
		if has(c) {
			return c, nil
		}
	}
	return "", errors.New("PostgreSQL not found: no postgres on PATH nor in /usr/lib/postgresql/<version>/bin; " +
		"install it (Debian: apt-get install postgresql) or pass --pg-bin DIR")
}

// pgVersion is the major version in /usr/lib/postgresql/<version>/bin.
func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}
