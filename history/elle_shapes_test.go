package history

import (
	"strings"
	"testing"
)

// Elle's own histories leave :f out of transactions and, holding
// completions only, :process too; they are read as transactions, each its
// own process, invoked just before it completes.
func TestReadTakesElleHistoriesWithoutFOrProcess(t *testing.T) {
	in := `[{:type :ok, :value [[:append 1 1] [:r 2 [1]]]}
{:type :ok, :value [[:append 2 1] [:r 1 [1]]]}]`
	h, warns, err := Read(strings.NewReader(in), "elle.edn")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 4 || len(warns) != 2 {
		t.Fatalf("read %d ops and %d warnings %v, want 4 ops (an invoke per completion) and 2 warnings", len(h), len(warns), warns)
	}
	for i, op := range h {
		want := Invoke
		if i%2 == 1 {
			want = OK
		}
		if op.F != "txn" || op.Type != want || op.Process != h[i-i%2].Process {
			t.Fatalf("op %d = %+v, want a txn %s of its own process", i, op, want)
		}
	}
	if h[0].Process == h[2].Process {
		t.Errorf("two transactions share process %d: a session order the history never stated", h[0].Process)
	}
	if r := h[0].Value.([]any)[1].([]any); r[2] != nil {
		t.Errorf("the invocation's read holds %v, want nil (not yet read)", r[2])
	}
	if err := Validate(h, nil, "elle.edn"); err != nil {
		t.Errorf("not well formed: %v", err)
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

// Elle's tests build histories of completions only, all of process 0: each
// is taken as invoked just before it completes, on its own process, so the
// process order is the order of the file, as Elle takes it.
func TestReadTakesElleCompletionsOfOneProcess(t *testing.T) {
	in := `{:time 0, :process 0, :type :ok, :f :txn, :value [[:append :x 1] [:append :y 1]]}
{:time 0, :process 0, :type :ok, :f :txn, :value [[:append :x 2] [:append :y 2]]}
{:time 0, :process 0, :type :ok, :f :txn, :value [[:r :x [1 2]] [:r :y [2 1]]]}`
	// A nemesis invocation first does not make the file a Jepsen history.
	nemesis := "{:time 0, :process :nemesis, :type :invoke, :f :kill, :value nil}\n"
	h, warns, err := Read(strings.NewReader(nemesis+in), "g0.edn")
	if err != nil {
		t.Fatal(err)
	}
	h = h[1:]
	if len(h) != 6 || len(warns) != 1 {
		t.Fatalf("read %d ops, warnings %v; want 6 client ops (an invoke per completion) and one warning", len(h), warns)
	}
	for i, op := range h {
		if op.Process != 0 || (op.Type == Invoke) != (i%2 == 0) {
			t.Fatalf("op %d = %+v, want process 0, invocations and completions alternating", i, op)
		}
	}
	if err := Validate(h, nil, "g0.edn"); err != nil {
		t.Errorf("not well formed: %v", err)
	}
	// Once the file has invoked, a completion without invocation is an
	// error again: the history is Jepsen's, not a list of transactions.
	bad := "{:process 0, :type :invoke, :f :txn, :value [[:append :x 1]]}\n" + in
	if _, _, err := Read(strings.NewReader(bad), "x.edn"); err == nil {
		t.Errorf("a completion of an open process after an invocation was accepted")
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
