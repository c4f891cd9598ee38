package pgserver

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// boot starts a server in a temporary directory, stopped by t.Cleanup,
// which also asserts that no PostgreSQL process is left.
func boot(t *testing.T) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no real servers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Boot(ctx, Config{Name: "n1", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(false); err != nil {
			t.Error(err)
		}
		if left := s.Leftovers(); len(left) > 0 {
			t.Errorf("processes left after Stop: %v", left)
		}
	})
	return s
}

func connect(t *testing.T, s *Server) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestServerSettings(t *testing.T) {
	s := boot(t)
	c := connect(t, s)
	for name, want := range map[string]string{
		"fsync": "on", "synchronous_commit": "on", "listen_addresses": "127.0.0.1",
		"max_prepared_transactions": "64", "unix_socket_directories": "",
	} {
		var got string
		if err := c.QueryRow(context.Background(), "SELECT current_setting($1)", name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// TestKillReachesBackendsAndRecovers: a SIGKILL leaves no backend alive
// (they are not in the postmaster's process group), a committed row
// survives crash recovery, and a prepared transaction survives too.
func TestKillReachesBackendsAndRecovers(t *testing.T) {
	s := boot(t)
	ctx := context.Background()
	c := connect(t, s)
	for _, q := range []string{
		"CREATE TABLE t (v int)", "INSERT INTO t VALUES (1)",
		"BEGIN", "INSERT INTO t VALUES (2)", "PREPARE TRANSACTION 'tx-2'",
		"BEGIN", "INSERT INTO t VALUES (3)", // open, never committed
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	before := len(s.Leftovers())
	if before < 3 {
		t.Fatalf("only %d PostgreSQL processes before the kill", before)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if left := s.Leftovers(); len(left) > 0 {
		t.Fatalf("processes alive after Kill: %v", left)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c2 := connect(t, s)
	var sum int
	if err := c2.QueryRow(ctx, "SELECT coalesce(sum(v), 0) FROM t").Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != 1 {
		t.Errorf("sum after crash recovery = %d, want 1 (only the committed row)", sum)
	}
	var gid string
	if err := c2.QueryRow(ctx, "SELECT gid FROM pg_prepared_xacts").Scan(&gid); err != nil || gid != "tx-2" {
		t.Fatalf("prepared transaction after recovery: %q, %v; want tx-2", gid, err)
	}
	if _, err := c2.Exec(ctx, "COMMIT PREPARED 'tx-2'"); err != nil {
		t.Fatal(err)
	}
	if err := c2.QueryRow(ctx, "SELECT sum(v) FROM t").Scan(&sum); err != nil || sum != 3 {
		t.Errorf("sum after COMMIT PREPARED = %d, %v; want 3", sum, err)
	}
}

// TestPauseStopsEveryBackend: a paused server answers nothing until
// resumed.
func TestPauseStopsEveryBackend(t *testing.T) {
	s := boot(t)
	c := connect(t, s)
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := c.Exec(ctx, "SELECT 1")
	cancel()
	if err == nil {
		t.Fatal("a query on a paused server was answered")
	}
	for _, pid := range s.Leftovers() {
		if st, _, _ := procStat(pid); st != 'T' && st != 't' {
			t.Errorf("pid %d in state %c while paused, want stopped", pid, st)
		}
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitReady(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
}
