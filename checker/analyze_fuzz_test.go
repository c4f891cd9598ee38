package checker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

// FuzzAnalyze runs analyze's whole path on any input: the reader (with
// validation), then every checker, each called directly so that a panic
// fails the fuzz instead of being recovered by Compose. It asserts:
//
//   - no panic, and the checkers return within a bound (each has a
//     time limit; the linearizable search a memory budget too);
//   - renaming every key consistently changes no checker's verdict nor
//     its number of anomalies: a metamorphic property that catches keys
//     merged or split by decoding (issue 16: "k\xff" and "k\xfe" once
//     became one key, and a wrong verdict).
func FuzzAnalyze(f *testing.F) {
	for _, dir := range []string{"good", "bad", "malformed"} {
		files, _ := filepath.Glob(filepath.Join("..", "testdata", dir, "*.*"))
		for _, file := range files {
			if strings.HasSuffix(file, ".args") || strings.HasSuffix(file, ".md") {
				continue
			}
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(`{"type":"invoke","process":0,"f":"write","key":"k` + "\xff" + `","value":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, _, err := history.Read(bytes.NewReader(data), "fuzz")
		if err != nil {
			return // FuzzRead checks the errors
		}
		before := analyze(t, h)
		renamed := slices.Clone(h)
		for i := range renamed {
			if renamed[i].Key != "" {
				renamed[i].Key = "<" + renamed[i].Key + ">"
			}
		}
		after := analyze(t, renamed)
		for i := range before {
			b, a := before[i], after[i]
			if stopped(b) || stopped(a) {
				continue // a time limit makes the verdict depend on timing
			}
			if b.Valid != a.Valid || len(b.Anomalies) != len(a.Anomalies) {
				t.Fatalf("%s: renaming keys changed the verdict from %v (%d anomalies) to %v (%d anomalies)\ninput %q\nbefore %+v\nafter %+v",
					b.Checker, b.Valid, len(b.Anomalies), a.Valid, len(a.Anomalies), data, b, a)
			}
		}
	})
}

// analyze runs every checker on h, as `analyze --checkers
// linearizable,txid,set,bank,counter,stats` does, each with a bound.
func analyze(t *testing.T, h history.History) []checker.Result {
	t.Helper()
	cs, err := checker.Build([]string{"linearizable", "txid", "set", "bank", "counter", "stats"},
		checker.Options{Model: "kv", Init: json.Number("0"), Timeout: 2 * time.Second, Memory: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	var rs []checker.Result
	for _, c := range cs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		r := c.Check(ctx, h)
		cancel()
		// A hang bound, not a speed claim: each checker stops by 5 s.
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("%s took %v on %d ops", c.Name(), d, len(h))
		}
		if r.Checker != c.Name() {
			t.Fatalf("checker %s returned a result named %q", c.Name(), r.Checker)
		}
		rs = append(rs, r)
	}
	return rs
}

func stopped(r checker.Result) bool {
	for _, n := range r.Notes {
		if strings.Contains(n, "stopped") || strings.Contains(n, "time limit") || strings.Contains(n, "memory budget") {
			return true
		}
	}
	return false
}

// keySpelling is one way a history's bytes can write a key, and the key it
// denotes: spellings with the same id are one key (an escape, a number and
// its decimal text), spellings with different ids must stay apart.
type keySpelling struct{ raw, id string }

var keySpellings = []keySpelling{
	{`"a"`, "a"}, {`"\u0061"`, "a"}, {`"b"`, "b"}, {`1`, "1"}, {`"1"`, "1"},
	{`"k` + "\xff" + `"`, "k-ff"}, {`"k` + "\xfe" + `"`, "k-fe"}, {`"k\ufffd"`, "k-fffd"},
	{`"k\ud800"`, "k-d800"}, {`"k\udbff"`, "k-dbff"}, {`"k\ud83d\ude00"`, "k-1f600"},
	{`"é"`, "e-acute"}, {`"e\u0301"`, "e-combining"}, {`"A"`, "A"},
}

// FuzzAnalyzeKeySpellings: the input drives a small kv history whose keys
// are written in the spellings above, and the same history with each key
// renamed to a plain name for its id. The reader may refuse the first
// (invalid UTF-8, lone surrogates); if it reads it, the linearizable
// verdict, its anomalies and its number of keys must be the renamed
// history's. Merging "k\xff" into "k\xfe" breaks this.
func FuzzAnalyzeKeySpellings(f *testing.F) {
	// Each seed: write 1 to the first key (ok), then read the second key
	// and see 1: valid only if the two are one key.
	for _, keys := range [][2]byte{{5, 6}, {0, 1}, {8, 9}, {11, 12}, {3, 4}, {7, 5}, {10, 8}} {
		f.Add([]byte{4, keys[0], 1, 4, 1, keys[1], 0, 1, 1})
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		spelled, named := keyHistories(prog)
		h, _, err := history.Read(strings.NewReader(spelled), "spelled")
		if err != nil {
			return // refusing a key is allowed; merging it is not
		}
		want, _, err := history.Read(strings.NewReader(named), "named")
		if err != nil {
			t.Fatalf("the renamed history does not read: %v\n%s", err, named)
		}
		lin := func(h history.History) checker.Result {
			c, err := checker.NewLinearizable(checker.LinearizableOptions{Model: "kv", Init: json.Number("0"), Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return c.Check(context.Background(), h)
		}
		got, exp := lin(h), lin(want)
		if stopped(got) || stopped(exp) {
			return
		}
		if got.Valid != exp.Valid || len(got.Anomalies) != len(exp.Anomalies) || got.Counts["keys"] != exp.Counts["keys"] {
			t.Fatalf("keys as spelled: %v, %d anomalies, %d keys; renamed: %v, %d anomalies, %d keys\nspelled:\n%s\nrenamed:\n%s",
				got.Valid, len(got.Anomalies), got.Counts["keys"], exp.Valid, len(exp.Anomalies), exp.Counts["keys"], spelled, named)
		}
	})
}

// keyHistories turns prog into a JSONL kv history of up to 64 ops by four
// client slots, twice: keys as spelled, and keys renamed by id.
func keyHistories(prog []byte) (spelled, named string) {
	var s, n strings.Builder
	type slot struct {
		process int
		busy    bool
		f, key  string
		ks      keySpelling
		value   int
	}
	slots := make([]slot, 4)
	for i := range slots {
		slots[i].process = i
	}
	next := func(i *int) int {
		if *i >= len(prog) {
			return 0
		}
		*i++
		return int(prog[*i-1])
	}
	fs := []string{"read", "write", "cas"}
	index := 0
	line := func(typ string, c *slot, value string) {
		head := `{"index":` + itoa(index) + `,"type":"` + typ + `","process":` + itoa(c.process) + `,"f":"` + c.f + `","key":`
		tail := ``
		if value != "" {
			tail = `,"value":` + value
		}
		s.WriteString(head + c.ks.raw + tail + "}\n")
		n.WriteString(head + `"key-` + c.ks.id + `"` + tail + "}\n")
		index++
	}
	for i := 0; i < len(prog) && index < 64; {
		b := next(&i)
		c := &slots[b%4]
		if !c.busy {
			c.busy, c.f = true, fs[(b>>2)%3]
			c.ks = keySpellings[next(&i)%len(keySpellings)]
			c.value = next(&i) % 4
			switch c.f {
			case "read":
				line("invoke", c, "")
			case "write":
				line("invoke", c, itoa(c.value))
			case "cas":
				line("invoke", c, "["+itoa(c.value)+","+itoa((c.value+1)%4)+"]")
			}
			continue
		}
		typ := []string{"ok", "ok", "fail", "info"}[(b>>2)%4]
		switch c.f {
		case "read":
			v := ""
			if typ == "ok" {
				v = itoa(next(&i) % 4)
			}
			line(typ, c, v)
		case "write":
			line(typ, c, itoa(c.value))
		case "cas":
			line(typ, c, "["+itoa(c.value)+","+itoa((c.value+1)%4)+"]")
		}
		c.busy = false
		if typ == "info" {
			c.process += 4 // a crashed client continues under a new process
		}
	}
	return s.String(), n.String()
}

func itoa(i int) string { return strconv.Itoa(i) }
