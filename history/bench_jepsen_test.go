package history_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
)

// writeJepsenListAppend writes n list-append transactions as Jepsen 0.3
// writes history.edn: one #jepsen.history.Op record per line. 30
// processes run 1–5 micro-ops each, half appends, half reads of the whole
// list; a key is retired after 32 appends, as Jepsen's append workload
// does by default; a nemesis op with a grudge every 1,000 transactions. It
// returns the path, its size and its number of ops.
func writeJepsenListAppend(b *testing.B, n int) (string, int64, int) {
	path := filepath.Join(b.TempDir(), "history.edn")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(1, 2))
	lists := map[int][]string{}
	active := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	nextKey, ops := 10, 0
	emit := func(typ, proc, f, value string) {
		fmt.Fprintf(w, "#jepsen.history.Op{:index %d, :time %d, :type :%s, :process %s, :f :%s, :value %s}\n",
			ops, ops*1000, typ, proc, f, value)
		ops++
	}
	for i := range n {
		var inv, ok []string
		for range 1 + rng.IntN(5) {
			ki := rng.IntN(len(active))
			k := active[ki]
			if rng.IntN(2) == 0 {
				inv = append(inv, fmt.Sprintf("[:r %d nil]", k))
				ok = append(ok, fmt.Sprintf("[:r %d [%s]]", k, strings.Join(lists[k], " ")))
				continue
			}
			v := fmt.Sprint(len(lists[k]) + 1)
			lists[k] = append(lists[k], v)
			mop := fmt.Sprintf("[:append %d %s]", k, v)
			inv, ok = append(inv, mop), append(ok, mop)
			if len(lists[k]) == 32 {
				delete(lists, k)
				active[ki] = nextKey
				nextKey++
			}
		}
		proc := fmt.Sprint(i % 30)
		emit("invoke", proc, "txn", "["+strings.Join(inv, " ")+"]")
		emit("ok", proc, "txn", "["+strings.Join(ok, " ")+"]")
		if i%1000 == 999 {
			emit("info", ":nemesis", "start-partition", `[:isolated {"n1" #{"n2" "n3"}, "n2" #{"n1"}, "n3" #{"n1"}}]`)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size(), ops
}

// BenchmarkReadJepsenRecordsListAppend100k reads 100,000 list-append
// transactions in Jepsen 0.3's record form (200,100 ops, about 30 MB).
func BenchmarkReadJepsenRecordsListAppend100k(b *testing.B) {
	path, size, n := writeJepsenListAppend(b, 100_000)
	b.SetBytes(size)
	for b.Loop() {
		h, _, err := history.ReadFile(path)
		if err != nil || len(h) != n {
			b.Fatalf("read %d ops: %v", len(h), err)
		}
	}
}
