package process

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
)

// A client program that misbehaves on demand: the op's f says how.
const scriptedClient = `
import json, sys, time
hello = json.loads(sys.stdin.readline())
print(json.dumps({"type": "ready"}), flush=True)
setups = 0
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "setup":
        setups += 1
        print(json.dumps({"type": "ok" if setups >= 3 else "fail", "error": "not yet"}), flush=True)
        continue
    f, i = m["f"], m["index"]
    out = {"type": "ok", "index": i, "node": "n1"}
    if f == "echo":
        out["value"] = m.get("value")
    elif f == "read":
        out["value"] = None
    elif f == "txn":
        out["value"] = [[mop[0], mop[1], [1, 2] if mop[0] == "r" else mop[2]] for mop in m["value"]]
    elif f == "fail":
        out = {"type": "fail", "index": i, "error": "no such key"}
    elif f == "crash":
        sys.stderr.write("boom: cannot reach anything\n"); sys.exit(3)
    elif f == "garbage":
        print("this is not json", flush=True); continue
    elif f == "wrong-index":
        out["index"] = i + 1
    elif f == "no-index":
        del out["index"]
    elif f == "hang":
        time.sleep(3600)
    elif f == "unknown-field":
        out["vaule"] = 5
    elif f == "bad-type":
        out["type"] = "done"
    elif f == "split":
        sys.stdout.write('{"type": "ok",'); sys.stdout.flush(); time.sleep(0.1)
        sys.stdout.write(' "index": %d}\n' % i); sys.stdout.flush(); continue
    print(json.dumps(out), flush=True)
`

// testDriver is a driver for the client program script, with no nodes
// behind it: these tests are about the protocol.
func testDriver(t *testing.T, script string) (*driver, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "client.py")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "clients.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{argv: []string{"python3", path}, dir: dir, start: 10 * time.Second,
		hello:   hello{Type: "hello", Protocol: protocolVersion, Workload: "register", OpTimeoutMS: 1000},
		log:     &lockedWriter{w: logf},
		remarks: slog.New(slog.NewTextHandler(io.Discard, nil)), live: map[*program]bool{}}
	t.Cleanup(func() {
		d.closeAll()
		logf.Close()
	})
	return d, logPath
}

func invokeOnce(t *testing.T, d *driver, op history.Op, timeout time.Duration) (history.Op, *client) {
	t.Helper()
	c, err := d.NewClient(op.Process)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Invoke(ctx, op), c.(*client)
}

func TestProtocolCompletions(t *testing.T) {
	d, logPath := testDriver(t, scriptedClient)
	cases := []struct {
		name     string
		op       history.Op
		want     history.Type
		value    any    // the completion's value, when want is ok
		errorHas string // a piece of the completion's error
	}{
		{"ok keeps the value", history.Op{F: "echo", Key: "k1", Value: json.Number("4")}, history.OK, json.Number("4"), ""},
		{"ok read of null", history.Op{F: "read", Key: "k1"}, history.OK, nil, ""},
		{"txn value filled in", history.Op{F: "txn", Value: []any{[]any{"append", 1, 3}, []any{"r", 2, nil}}}, history.OK,
			[]any{[]any{"append", json.Number("1"), json.Number("3")}, []any{"r", json.Number("2"), []any{json.Number("1"), json.Number("2")}}}, ""},
		{"fail is fail", history.Op{F: "fail", Key: "k1"}, history.Fail, nil, "no such key"},
		{"answer split over writes", history.Op{F: "split"}, history.OK, nil, ""},
		{"crash is info", history.Op{F: "crash"}, history.Info, nil, "exit status 3"},
		{"garbage is info", history.Op{F: "garbage"}, history.Info, nil, "not a JSON answer"},
		{"wrong index is info", history.Op{F: "wrong-index"}, history.Info, nil, "the op in flight is"},
		{"missing index is info", history.Op{F: "no-index"}, history.Info, nil, "answered index none"},
		{"unknown field is info", history.Op{F: "unknown-field"}, history.Info, nil, "unknown field"},
		{"unknown type is info", history.Op{F: "bad-type"}, history.Info, nil, `type "done"`},
		{"timeout is info", history.Op{F: "hang"}, history.Info, nil, "timeout"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op := tc.op
			op.Type, op.Process, op.Index = history.Invoke, int64(i), int64(100+i)
			start := time.Now()
			done, c := invokeOnce(t, d, op, time.Second)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Invoke took %v with a 1s op timeout", took)
			}
			if done.Type != tc.want || !strings.Contains(done.Error, tc.errorHas) {
				t.Fatalf("completion %+v, want type %s with error containing %q", done, tc.want, tc.errorHas)
			}
			if done.Index != op.Index || done.Process != op.Process || done.F != op.F || done.Key != op.Key {
				t.Errorf("completion %+v does not match its invocation %+v", done, op)
			}
			if tc.want == history.OK && !reflect.DeepEqual(done.Value, tc.value) {
				t.Errorf("value %#v, want %#v", done.Value, tc.value)
			}
			if tc.want == history.Info {
				if c.p != nil {
					t.Errorf("program still attached after info")
				}
				again := c.Invoke(context.Background(), op)
				if again.Type != history.Info {
					t.Errorf("an op on a client whose program ended: %+v, want info", again)
				}
			}
			c.Close()
		})
	}
	d.mu.Lock()
	live := len(d.live)
	if d.spare != nil {
		live-- // the one started ahead of the next client
	}
	d.mu.Unlock()
	if live != 0 {
		t.Errorf("%d programs still running after every client closed", live)
	}
	log, _ := os.ReadFile(logPath)
	if !strings.Contains(string(log), "[client process 5] boom: cannot reach anything") {
		t.Errorf("clients.log lacks the crashed program's stderr under its label:\n%s", log)
	}
}

func TestProtocolSetupRetriesUntilOK(t *testing.T) {
	d, _ := testDriver(t, scriptedClient)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Setup(ctx); err != nil {
		t.Fatalf("setup answered fail, fail, ok: %v", err)
	}
}

func TestProtocolBrokenProgramsAreErrors(t *testing.T) {
	cases := []struct {
		name, script, errHas string
		setup                bool
	}{
		{"exits before ready", "import sys\nsys.stderr.write('no config found\\n')\nsys.exit(1)\n", "no config found", false},
		{"answers hello wrongly", "import sys\nsys.stdin.readline()\nprint('{\"type\":\"hi\"}', flush=True)\nimport time\ntime.sleep(60)\n", `want {"type":"ready"}`, false},
		{"prints logs on stdout", "import sys\nsys.stdin.readline()\nprint('starting client', flush=True)\nimport time\ntime.sleep(60)\n", "not a JSON answer", false},
		{"never answers hello", "import time\ntime.sleep(60)\n", "no answer", false},
		{"missing program", "", "", false},
		{"setup garbage", "import sys\nsys.stdin.readline()\nprint('{\"type\":\"ready\"}', flush=True)\nsys.stdin.readline()\nprint('oops', flush=True)\nimport time\ntime.sleep(60)\n", "not a JSON answer", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := testDriver(t, tc.script)
			if tc.name == "never answers hello" {
				d.start = 2 * time.Second
			}
			if tc.name == "missing program" {
				d.argv = []string{filepath.Join(t.TempDir(), "no-such-client")}
				tc.errHas = "no-such-client"
			}
			start := time.Now()
			var err error
			if tc.setup {
				err = d.Setup(context.Background())
			} else {
				_, err = d.NewClient(1)
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("error %v, want one containing %q", err, tc.errHas)
			}
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("took %v to report a broken program", took)
			}
			t.Logf("reported as: %v", err)
		})
	}
}
