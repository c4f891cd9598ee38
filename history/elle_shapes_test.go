package history

import (
	"strings"
	"testing"
)

// Elle's own histories leave :f out of transactions and often hold
// completions only, with or without :process. Elle puts no real-time order
// into a transaction without invocation, so each is read as invoked at the
// start of the history, on a process of its own (a process may not have two
// invocations open), completing where the file says.
func TestReadTakesElleCompletionOnlyTransactions(t *testing.T) {
	for name, in := range map[string]string{
		"without process": `[{:type :ok, :value [[:append 1 1] [:r 2 [1]]]}
{:type :ok, :value [[:append 2 1] [:r 1 [1]]]}
{:type :fail, :value [[:append 3 1]]}]`,
		// A nemesis invocation first does not make the file a Jepsen history.
		"all of process 0": `{:time 0, :process :nemesis, :type :invoke, :f :kill, :value nil}
{:time 0, :process 0, :type :ok, :f :txn, :value [[:append 1 1] [:r 2 [1]]]}
{:time 0, :process 0, :type :ok, :f :txn, :value [[:append 2 1] [:r 1 [1]]]}
{:time 0, :process 0, :type :fail, :f :txn, :value [[:append 3 1]]}`,
	} {
		t.Run(name, func(t *testing.T) {
			h, _, err := Read(strings.NewReader(in), "elle.edn")
			if err != nil {
				t.Fatal(err)
			}
			var client History
			for _, op := range h {
				if op.IsClient() {
					client = append(client, op)
				}
			}
			if len(client) != 6 {
				t.Fatalf("read %d client ops, want 6 (an invocation per completion): %+v", len(client), h)
			}
			want := []Type{Invoke, Invoke, Invoke, OK, OK, Fail}
			for i, op := range client {
				if op.F != "txn" || op.Type != want[i] || op.Process != client[i%3].Process {
					t.Fatalf("op %d = %+v, want a txn %s; invocations first, completions in file order", i, op, want[i])
				}
			}
			if client[0].Process == client[1].Process || client[1].Process == client[2].Process {
				t.Errorf("transactions share a process: two invocations open at once, or a session order never stated")
			}
			if r := client[0].Value.([]any)[1].([]any); r[2] != nil {
				t.Errorf("the invocation's read holds %v, want nil (not yet read)", r[2])
			}
			for i, op := range h {
				if op.Index != int64(i) {
					t.Fatalf("op %d has index %d: indexes must follow the new order", i, op.Index)
				}
			}
			if err := Validate(h, nil, "elle.edn"); err != nil {
				t.Errorf("not well formed: %v", err)
			}
		})
	}
	// Once the file has invoked, a completion of a process without an open
	// invocation is an error again: the history is Jepsen's.
	bad := "{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}\n{:process 0, :type :ok, :f :txn, :value [[:append :x 1]]}\n{:process 0, :type :ok, :f :txn, :value [[:append :x 2]]}"
	if _, _, err := Read(strings.NewReader(bad), "x.edn"); err == nil || !strings.Contains(err.Error(), "x.edn:3") {
		t.Errorf("a completion without invocation after an invocation: %v, want an error at line 3", err)
	}
}

// Only transactions get the defaults: any other op without f is still an
// error naming the line, and so is a completion without process that no
// invocation of process nil opened.
func TestReadStillRefusesOtherOpsWithoutFOrProcess(t *testing.T) {
	for _, in := range []string{`{:type :ok, :value 3}`, `{:type :ok, :f :read, :value 3}`} {
		if _, _, err := Read(strings.NewReader(in), "x.edn"); err == nil || !strings.Contains(err.Error(), "x.edn:1") {
			t.Errorf("Read(%s) = %v, want an error at line 1", in, err)
		}
	}
}

// A txn without process whose value is not a list of micro-ops gets no
// default: it is an error naming the line (the fuzzer found it panicking).
func TestReadRefusesAnOddTxnWithoutProcess(t *testing.T) {
	for _, in := range []string{`{:type :ok, :f :txn}`, `{:type :ok, :f :txn, :value 3}`, `{:type :ok, :f :txn, :value [[:inc 1 1]]}`} {
		if _, _, err := Read(strings.NewReader(in), "x.edn"); err == nil || !strings.Contains(err.Error(), "x.edn:1") {
			t.Errorf("Read(%s) = %v, want an error at line 1", in, err)
		}
	}
}

// Jepsen pairs ops by process and takes a missing :process as process nil,
// one process like any other: Elle's histories/paper-example.edn has
// invocations and completions and no process at all.
func TestReadTakesOpsWithoutProcessAsJepsensNilProcess(t *testing.T) {
	in := `{:index 0 :type :invoke, :value [[:append 1 1]]}
{:index 1 :type :ok, :value [[:append 1 1]]}
{:index 2 :type :invoke, :f :read, :value nil}
{:index 3 :type :ok, :f :read, :value 3}
{:index 4 :type :invoke, :process 7, :f :read, :value nil}
{:index 5 :type :ok, :process 7, :f :read, :value 3}`
	h, warns, err := Read(strings.NewReader(in), "paper.edn")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 6 || len(warns) != 2 {
		t.Fatalf("read %d ops and warnings %v, want 6 ops, a warning for f and one for process", len(h), warns)
	}
	for i := 1; i < 4; i++ {
		if h[i].Process != h[0].Process {
			t.Errorf("op %d has process %d, op 0 %d: ops without process are one process", i, h[i].Process, h[0].Process)
		}
	}
	if h[0].Process == 7 || h[0].Process < 0 || h[4].Process != 7 {
		t.Errorf("processes %d and %d: process nil must be a client process of its own", h[0].Process, h[4].Process)
	}
	if err := Validate(h, nil, "paper.edn"); err != nil {
		t.Errorf("not well formed: %v", err)
	}
	// chaoscheck's JSON names every process: a missing one is still refused.
	if _, _, err := Read(strings.NewReader(`{"type":"invoke","f":"read"}`), "x.jsonl"); err == nil || !strings.Contains(err.Error(), "no process") {
		t.Errorf("JSON op without process: %v, want an error", err)
	}
}

// Jepsen's own checker tests reuse a process after its info completion,
// which a Jepsen run never does; the reader moves the later ops to a new
// process, as the run would have, so the crashed op stays open to the end.
func TestReadRenumbersAProcessReusedAfterInfo(t *testing.T) {
	in := `{:process 1, :type :invoke, :f :add, :value 10}
{:process 1, :type :info, :f :add, :value 10}
{:process 1, :type :invoke, :f :add, :value 11}
{:process 1, :type :info, :f :add, :value 11}
{:process 1, :type :invoke, :f :add, :value 12}
{:process 1, :type :ok, :f :add, :value 12}
{:process 5, :type :invoke, :f :read, :value nil}
{:process 5, :type :ok, :f :read, :value #{10 11 12}}`
	h, warns, err := Read(strings.NewReader(in), "set.edn")
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || warns[0].Line != 3 {
		t.Fatalf("warnings %v, want one at line 3", warns)
	}
	want := []int64{1, 1, 6, 6, 7, 7, 5, 5}
	for i, op := range h {
		if op.Process != want[i] {
			t.Fatalf("op %d has process %d, want %d (processes %v)", i, op.Process, want[i], want)
		}
	}
}
