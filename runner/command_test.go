package runner

import (
	"testing"
	"time"
)

func TestCommandNamesOnlyWhatDiffersFromThePreset(t *testing.T) {
	sc, err := NewConfig("leader-restart")
	if err != nil {
		t.Fatal(err)
	}
	sc.Seed = 9
	sc.TimeLimit = 5 * time.Second
	sc.SUTBugs = []string{"raft/stale-read"}
	plain := Defaults()
	plain.Workload, plain.Nemesis, plain.Seed, plain.Keys = "register", "kill", 3, 2
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"scenario with an override and a bug", sc, "chaoscheck run --scenario leader-restart --time-limit 5s --seed 9 --sut-bug raft/stale-read"},
		{"workload and nemesis", plain, "chaoscheck run --workload register --nemesis kill --keys 2 --seed 3"},
	} {
		if got := tc.cfg.Command(); got != tc.want {
			t.Errorf("%s: Command() = %q\nwant %q", tc.name, got, tc.want)
		}
		// A resolved config reruns the same way: the target and interval
		// the resolver filled in are what the rerun resolves to anyway.
		r, err := tc.cfg.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		if r.Scenario == "" {
			tc.want = "chaoscheck run --workload register --nemesis kill --target raft --keys 2 --seed 3"
		}
		if got := r.Command(); got != tc.want {
			t.Errorf("%s resolved: Command() = %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
