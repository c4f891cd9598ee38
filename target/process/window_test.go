package process

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/target"
)

// A stand-in for a 2PC system's pause point, to show the process target
// drives one as the config says: the coordinator c, once armed, holds the
// "next" transaction spanning the participant (t-<participant>) 100 ms
// later and says so on /window and in its log; DELETE releases it 50 ms
// later. Participants answer /observe.
const windowNode = `
import http.server, json, sys, threading, time, urllib.parse
name, port = sys.argv[1], int(sys.argv[2])
held = {"tx": ""}
def log(msg):
    sys.stderr.write(msg + "\n"); sys.stderr.flush()
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self, body, code=200):
        body = body.encode()
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path == "/health": return self.answer("ok")
        if u.path == "/window": return self.answer(held["tx"])
        if u.path == "/observe": return self.answer(json.dumps({"in_doubt": [], "effects": {"t-" + name: 1}}))
        self.answer("no", 404)
    def do_PUT(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        p, hold_ms = q["participant"][0], int(q["hold_ms"][0])
        def later():
            time.sleep(0.1); held["tx"] = "t-" + p; log("holding tx t-%s for %d ms" % (p, hold_ms))
        threading.Thread(target=later).start()
        self.answer("")
    def do_DELETE(self):
        tx = held["tx"]
        def later():
            time.sleep(0.05); log("released tx " + tx); held["tx"] = ""
        threading.Thread(target=later).start()
        self.answer("")
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
`

func windowConfig(t *testing.T, held string) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "node.py"), []byte(windowNode), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := `names = ["c", "p2", "p1"]
ports = ["http"]
[node]
command = ["python3", "{config_dir}/node.py", "{node}", "{port:http}"]
[health]
http_get = "http://{addr:http}/health"
[client]
command = ["true"]
workloads = ["bank"]
[commit_window]
participants = ["p2", "p1"]
hold = { url = "http://{addr:c:http}/window?participant={participant}&hold_ms={hold_ms}" }
release = { url = "http://{addr:c:http}/window?tx_id={tx_id}" }
observe = { url = "http://{addr:http}/observe" }
` + held
	path := filepath.Join(dir, "sys.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCommitWindowDrivesThePausePoint(t *testing.T) {
	for _, tc := range []struct{ name, held string }{
		{"held URL", `held = { url = "http://{addr:c:http}/window" }`},
		{"held log line", `held_log = { node = "c", pattern = 'holding tx (\S+)' }
released_log = { node = "c", pattern = 'released tx (\S+)' }`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dir := t.TempDir()
			sys, err := Target{}.Boot(ctx, target.Env{Dir: dir, Workload: "bank",
				Options: target.Options{ConfigFlag: windowConfig(t, tc.held)}})
			if err != nil {
				t.Fatal(err)
			}
			defer sys.Stop(true)
			cw, ok := sys.(target.CommitWindow)
			if !ok {
				t.Fatal("a config with [commit_window] boots a system that does not implement target.CommitWindow")
			}
			if _, ok := sys.(target.Leader); ok {
				t.Error("no [leader], yet the system claims target.Leader")
			}
			if got := cw.Participants(); !slices.Equal(got, []string{"p1", "p2"}) {
				t.Errorf("participants %q, want sorted [p1 p2]", got)
			}
			tx, err := cw.Hold(ctx, "p2", 3*time.Second)
			if err != nil || tx != "t-p2" {
				t.Fatalf("Hold(p2) = %q, %v; want t-p2", tx, err)
			}
			log, _ := os.ReadFile(filepath.Join(dir, "c", "node.log"))
			if !strings.Contains(string(log), "holding tx t-p2 for 3000 ms") {
				t.Errorf("the hold request did not carry participant and hold_ms: log %q", log)
			}
			if err := cw.Release(ctx, tx); err != nil {
				t.Fatalf("Release: %v", err)
			}
			// The stand-in logs the release before it clears the hold, so
			// a Release that waited finds the line there.
			if log, _ := os.ReadFile(filepath.Join(dir, "c", "node.log")); !strings.Contains(string(log), "released tx t-p2") {
				t.Errorf("Release returned before t-p2 left the window: log %q", log)
			}
			obs, err := cw.Observe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(obs) != 2 || obs["p1"].Effects["t-p1"] != 1 || obs["p2"].Effects["t-p2"] != 1 || len(obs["p1"].InDoubt) != 0 {
				t.Errorf("observations %+v", obs)
			}
			if _, err := cw.Hold(ctx, "c", time.Second); err == nil {
				t.Error("Hold of the coordinator, not a participant, succeeded")
			}
		})
	}
}

func TestCommitWindowConfigErrors(t *testing.T) {
	base := strings.Replace(minimalConfig, "nodes = 3", `names = ["c", "p1", "p2"]`, 1) + `
[commit_window]
participants = ["p1", "p2"]
hold = { url = "http://{addr:c:http}/hold/{participant}" }
held = { url = "http://{addr:c:http}/held" }
release = { url = "http://{addr:c:http}/release/{tx_id}" }
observe = { url = "http://{addr:http}/observe" }
`
	if _, err := ParseConfig("/x.toml", []byte(base)); err != nil {
		t.Fatalf("a good [commit_window]: %v", err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"not a node", `participants = ["p1", "p2"]`, `participants = ["p1", "p3"]`, `commit_window.participants: "p3" is not a node`},
		{"both held kinds", `held = {`, `held_log = { node = "c", pattern = "x(y)" }` + "\nheld = {", "set exactly one of held"},
		{"no group", `held = { url = "http://{addr:c:http}/held" }`, `held_log = { node = "c", pattern = "held" }`, "one group"},
		{"bad placeholder", `/hold/{participant}`, `/hold/{participants}`, `commit_window.hold.url: {participants}: unknown in the commit window's scope`},
		{"node-scoped addr", `{addr:c:http}/hold`, `{addr:http}/hold`, `{addr:http}: takes 2 argument(s)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("/x.toml", []byte(strings.Replace(base, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
