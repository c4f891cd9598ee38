package history_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/kvgen"
)

// streamAll collects what Stream hands out.
func streamAll(path string) (history.History, error) {
	var h history.History
	n, err := history.Stream(path, func(op *history.Op) error {
		h = append(h, *op)
		return nil
	})
	if err == nil && n != len(h) {
		return h, errors.New("Stream's count differs from the ops it handed out")
	}
	return h, err
}

// streamAgreesWithRead fails t unless Stream gives exactly the ops
// ReadFile gives, or declines (ErrNotStreamed) where ReadFile errs or
// warns.
func streamAgreesWithRead(t *testing.T, path string) (streamed bool) {
	t.Helper()
	want, warnings, rerr := history.ReadFile(path)
	got, serr := streamAll(path)
	switch {
	case rerr != nil || len(warnings) > 0:
		if !errors.Is(serr, history.ErrNotStreamed) {
			t.Errorf("%s: Read says %v (warnings %v), Stream gave %d ops and %v, want ErrNotStreamed", path, rerr, warnings, len(got), serr)
		}
		return false
	case errors.Is(serr, history.ErrNotStreamed):
		return false // declining is always allowed: Read decides
	case serr != nil:
		t.Errorf("%s: Stream: %v", path, serr)
	case !reflect.DeepEqual(got, want):
		t.Errorf("%s: Stream gave %d ops, Read %d; they differ", path, len(got), len(want))
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("first difference at op %d: streamed %+v, read %+v", i, got[i], want[i])
				break
			}
		}
	}
	return true
}

// writeKV writes a generated kv history of n operations to a file.
func writeKV(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kv.jsonl")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := history.WriteJSONL(f, kvgen.Linearizable(5, 10, 20, n)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStreamGivesTheOpsReadGives(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Several blocks, so block boundaries and line numbers are exercised.
	if !streamAgreesWithRead(t, writeKV(t, 30_000)) {
		t.Fatal("the generated kv history was not streamed")
	}
	inv := `{"index":0,"time":1,"type":"invoke","process":0,"f":"write","key":"a","value":1}` + "\n"
	ok := `{"index":1,"time":2,"type":"ok","process":0,"f":"write","key":"a","value":1}` + "\n"
	streamed := map[string]bool{
		"escapes and extra fields": true, "no index": true, "blank lines": true, "no final newline": true,
	}
	cases := map[string]string{
		"escapes and extra fields": `{"index":0,"time":1,"type":"invoke","process":0,"f":"write","key":"a\"b","value":1,"debug":{"x":[1,2]}}` + "\n" +
			`{"index":1,"time":2,"type":"info","process":0,"f":"write","key":"a\"b","value":1,"error":"timed out: \"x\""}` + "\n",
		"no index":                `{"time":1,"type":"invoke","process":0,"f":"read"}` + "\n" + `{"time":2,"type":"ok","process":0,"f":"read","value":3}` + "\n",
		"blank lines":             "\n\n" + inv + "\n  \n" + ok,
		"no final newline":        inv + strings.TrimSuffix(ok, "\n"),
		"cut-off last line":       inv + ok + `{"index":2,"time":3,"ty`,
		"syntax error":            inv + `{"index":1,,}` + "\n" + ok,
		"index goes back":         ok + inv,
		"completion without open": ok,
		"index on some ops only":  inv + `{"time":2,"type":"ok","process":0,"f":"write","key":"a","value":1}` + "\n",
		"elle txn without f":      `{"index":0,"type":"invoke","process":0,"value":[["append",1,2]]}` + "\n",
		"edn":                     "{:type :invoke, :f :read, :process 0}\n",
		"json array":              "[" + strings.TrimSpace(inv) + "]",
		"empty":                   "\n\n",
		"binary":                  "\x00\x01",
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			if got := streamAgreesWithRead(t, write(strings.ReplaceAll(name, " ", "-")+".jsonl", text)); got != streamed[name] {
				t.Errorf("streamed %v, want %v", got, streamed[name])
			}
		})
	}
	for _, glob := range []string{"testdata/*.jsonl", "../testdata/*/*.jsonl"} {
		paths, _ := filepath.Glob(glob)
		if len(paths) == 0 {
			t.Fatalf("no files match %s", glob)
		}
		for _, p := range paths {
			streamAgreesWithRead(t, p)
		}
	}
}

func TestStreamStopsOnTheCallersError(t *testing.T) {
	p := writeKV(t, 30_000)
	stop := errors.New("enough")
	n, err := history.Stream(p, func(op *history.Op) error {
		if op.Index == 1000 {
			return stop
		}
		return nil
	})
	if err != stop || n != 1001 {
		t.Errorf("Stream returned %d, %v; want 1001 ops and the caller's error", n, err)
	}
}

// FuzzStreamMatchesRead: on any input, Stream either declines
// (ErrNotStreamed) or hands out exactly the ops Read gives, and declines
// every input Read refuses or warns about; so analyze's errors, naming
// file and line, are always Read's.
func FuzzStreamMatchesRead(f *testing.F) {
	for _, glob := range []string{"testdata/*.jsonl", "../testdata/*/*.jsonl"} {
		paths, _ := filepath.Glob(glob)
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(`{"index":0,"type":"invoke","process":0,"f":"read"}` + "\n" + `{"index":1,"type":"ok","process":0,"f":"read","value":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "h.jsonl")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		streamAgreesWithRead(t, p)
	})
}
