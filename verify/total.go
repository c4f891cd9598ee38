package verify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/store"
)

// expectedTotal finds the sum a run's balances must have, in order:
//   - the run's record (config.json, store.Record): its total, or its
//     accounts times their initial balance, as the runner wrote them;
//   - the first ok client read-balances in history.jsonl: the bank
//     checker's own inference, so a first read that is already wrong
//     makes this wrong too (the note says so; --total avoids it).
//
// Nil when neither is there; notes gains why.
func expectedTotal(run string, notes []string) (*int64, string, []string) {
	if t, ok := recordTotal(run); ok {
		return &t, store.ConfigFile, notes
	}
	t, index, err := historyTotal(filepath.Join(run, store.HistoryFile))
	if err != nil {
		return nil, "", append(notes, "no expected total: "+err.Error())
	}
	return &t, fmt.Sprintf("the first ok read-balances of %s (op %d)", store.HistoryFile, index), notes
}

// recordTotal reads the total from the run's record, when it holds one.
func recordTotal(run string) (int64, bool) {
	rec, err := store.ReadRecord(run)
	switch {
	case err != nil:
		return 0, false
	case rec.Total != nil:
		return *rec.Total, true
	case rec.InitialBalance > 0 && len(rec.Accounts) > 0:
		return int64(len(rec.Accounts)) * rec.InitialBalance, true
	}
	return 0, false
}

// historyTotal sums the first ok read-balances a client recorded. Only
// lines up to that op are decoded; a malformed line is skipped, since
// analyze, not verify, judges the history.
func historyTotal(path string) (total, index int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("no %s with a total, no %s to infer one from", store.ConfigFile, store.HistoryFile)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(`"read-balances"`)) {
			continue
		}
		var op struct {
			Index   int64          `json:"index"`
			Type    string         `json:"type"`
			F       string         `json:"f"`
			Process int64          `json:"process"`
			Value   map[string]any `json:"value"`
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if dec.Decode(&op) != nil || op.Type != "ok" || op.F != "read-balances" || op.Process < 0 || len(op.Value) == 0 {
			continue
		}
		sum, ok := int64(0), true
		for _, v := range op.Value {
			b, err := history.Int(v) // the one value rule: 5.0 is 5, "5" is no balance
			sum, ok = sum+b, ok && err == nil
		}
		if !ok {
			continue
		}
		total = sum
		return total, op.Index, nil
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return 0, 0, fmt.Errorf("no %s with a total, and no ok read-balances in %s", store.ConfigFile, store.HistoryFile)
}
