package raftsql

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestInspectMatchesContentHash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	m := openSM(t, path, Options{})
	applyInserts(t, m, 20, true)
	if err := m.ApplyNoop(22); err != nil {
		t.Fatal(err)
	}
	want, err := m.ContentHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// While the state machine is open (its WAL in use), and after Close.
	for _, stage := range []string{"open", "closed"} {
		if stage == "closed" {
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		}
		got, err := InspectStateMachine(ctx, path)
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		if got.ContentHash != want || got.AppliedIndex != 22 {
			t.Errorf("%s: InspectStateMachine = %+v, want applied 22 and ContentHash %s", stage, got, want)
		}
	}
}

func TestInspectDoesNotWrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	m := openSM(t, path, Options{})
	applyInserts(t, m, 5, false)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := InspectStateMachine(ctx, path); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("InspectStateMachine changed the database file")
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Error("InspectStateMachine left a -wal file beside a cleanly closed database")
	}

	missing := filepath.Join(dir, "missing.db")
	if _, err := InspectStateMachine(ctx, missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("InspectStateMachine created a missing database")
	}
	other := filepath.Join(dir, "other.db")
	if err := os.WriteFile(other, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := InspectStateMachine(ctx, other); err == nil {
		t.Error("a file that is not a state machine was accepted")
	}
}

// An inspection while entries are being applied pairs each applied index
// with the content of exactly that index.
func TestInspectIsOneSnapshotWhileApplying(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	m := openSM(t, path, Options{})
	mustApply(t, m, 1, command(t, "", sqlStmt(createAcks)))
	hashes := map[uint64]string{}
	record := func(i uint64) {
		h, err := m.ContentHash(ctx)
		if err != nil {
			t.Error(err)
		}
		hashes[i] = h
	}
	record(1)
	var mu sync.Mutex
	var seen []Inspection
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			in, err := InspectStateMachine(ctx, path)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen = append(seen, in)
			mu.Unlock()
		}
	})
	for i := uint64(2); i <= 150; i++ {
		mustApply(t, m, i, command(t, "", sqlStmt(`INSERT INTO acks (tx_id) VALUES (?)`, fmt.Sprintf("t%d", i))))
		record(i)
	}
	close(done)
	wg.Wait()
	if len(seen) == 0 {
		t.Fatal("no inspection finished")
	}
	for _, in := range seen {
		if want := hashes[in.AppliedIndex]; in.ContentHash != want {
			t.Fatalf("inspection at applied index %d has hash %s, the state at that index has %s", in.AppliedIndex, in.ContentHash, want)
		}
	}
	t.Logf("%d inspections during 149 applies", len(seen))
}
