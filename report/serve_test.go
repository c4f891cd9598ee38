package report

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/store"
)

const secret = "outside the store: must never be served"

// testStore makes a store of three runs (the newest invalid, then
// unknown, then valid), the latest links, and a secret file beside the
// store with symlinks inside the store pointing at it.
func testStore(t *testing.T) (dir string, runs []*store.Run) {
	t.Helper()
	tmp := t.TempDir()
	dir = filepath.Join(tmp, "store")
	base := time.Date(2026, 11, 25, 18, 0, 0, 0, time.Local)
	for i, v := range []checker.Validity{checker.Valid, checker.Unknown, checker.Invalid} {
		test := []string{"set-kill", "bank-alternate-kill", "register-restart-leader+pause"}[i]
		r, err := store.Create(dir, test, base.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		res := store.Results{Valid: v, Seed: int64(100 + i), Ops: 10 * (i + 1), DurationSec: 12.3, Scenario: "s" + string(rune('a'+i))}
		if err := store.WriteJSON(r.Path(store.ResultsFile), res); err != nil {
			t.Fatal(err)
		}
		if v != checker.Unknown {
			os.WriteFile(r.Path(HTMLFile), []byte("<html>report of "+test+"</html>"), 0o644)
		}
		if err := store.MarkLatest(r); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	outside := filepath.Join(tmp, "outside")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(tmp, "secret"), []byte(secret), 0o644)
	os.WriteFile(filepath.Join(outside, "secret"), []byte(secret), 0o644)
	os.Symlink("../secret", filepath.Join(dir, "escape"))
	os.Symlink(filepath.Join(tmp, "secret"), filepath.Join(dir, "escape-abs"))
	os.Symlink("../outside", filepath.Join(dir, "escape-dir"))
	return dir, runs
}

func newTestServer(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	srv, err := NewServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return ts
}

func get(t *testing.T, ts *httptest.Server, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Sent as written: the client must not clean "..", the server must
	// refuse it.
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeListsRunsNewestFirstWithVerdictsAndReportLinks(t *testing.T) {
	dir, runs := testStore(t)
	os.WriteFile(filepath.Join(dir, "soak.json"), []byte("{}"), 0o644)
	ts := newTestServer(t, dir)
	code, page := get(t, ts, "/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	// Newest first: invalid (newest), unknown, valid.
	last := -1
	for i := len(runs) - 1; i >= 0; i-- {
		at := strings.Index(page, filepath.Base(runs[i].Dir)+"/")
		if at < 0 || at < last {
			t.Errorf("run %s listed at %d, after the run before it (%d): want newest first", runs[i].Dir, at, last)
		}
		last = at
	}
	for _, want := range []string{
		`<span class="verdict invalid">INVALID</span>`,
		`<span class="verdict unknown">UNKNOWN</span>`,
		`<span class="verdict valid">VALID</span>`,
		`<td class="num">102</td>`, // seed
		`<td class="num">12.3s</td>`,
		`href="/soak.json"`,
		`href="/latest/"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("run list lacks %s", want)
		}
	}
	if n := strings.Count(page, `class="report"`); n != 2 {
		t.Errorf("%d report links, want 2 (the unknown run has no report.html)", n)
	}

	// The newest run's report link works, through its escaped "+".
	href := "/register-restart-leader+pause/" + filepath.Base(runs[2].Dir) + "/" + HTMLFile
	if !strings.Contains(page, strings.ReplaceAll(href, "+", "&#43;")) {
		t.Fatalf("run list has no link %s", href)
	}
	if code, body := get(t, ts, href); code != http.StatusOK || !strings.Contains(body, "report of register-restart-leader+pause") {
		t.Errorf("GET %s = %d %q", href, code, body)
	}
	if code, body := get(t, ts, "/latest/"+HTMLFile); code != http.StatusOK || !strings.Contains(body, "register-restart-leader+pause") {
		t.Errorf("GET /latest/report.html (the store's own symlink) = %d %q", code, body)
	}
	if code, body := get(t, ts, "/set-kill/"+filepath.Base(runs[0].Dir)+"/"); code != http.StatusOK || !strings.Contains(body, store.ResultsFile) {
		t.Errorf("run directory listing = %d %q", code, body)
	}
}

func TestServeRefusesPathsOutsideTheStore(t *testing.T) {
	dir, _ := testStore(t)
	ts := newTestServer(t, dir)
	for _, path := range []string{
		"/../secret",
		"/%2e%2e/secret",
		"/%2E%2E%2Fsecret",
		"/set-kill/%2e%2e/%2e%2e/secret",
		"/latest/../../secret",
		"//etc/passwd",
		"/escape",            // a symlink inside the store to a file outside
		"/escape-abs",        // the same, by an absolute target
		"/escape-dir/secret", // through a symlinked directory outside
		"/escape-dir/",       // its listing
		"/latest/..%2f..%2fsecret",
	} {
		code, body := get(t, ts, path)
		if strings.Contains(body, secret) {
			t.Errorf("GET %s served the file outside the store", path)
		}
		if code != http.StatusForbidden && code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 403 (or 400)", path, code)
		}
	}
	if code, _ := get(t, ts, "/no-such-run/"); code != http.StatusNotFound {
		t.Errorf("missing path = %d, want 404", code)
	}
	resp, err := ts.Client().Post(ts.URL+"/latest/"+store.ResultsFile, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405: the server is read-only", resp.StatusCode)
	}
}

func TestServeStartsOnAStoreWithNoRuns(t *testing.T) {
	ts := newTestServer(t, t.TempDir())
	if code, page := get(t, ts, "/"); code != http.StatusOK || !strings.Contains(page, "No runs in this store yet") {
		t.Errorf("GET / on an empty store = %d %q", code, page)
	}
	if _, err := NewServer(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("NewServer on a missing store succeeded")
	}
}

func TestCheckAddrRefusesNonLoopbackUnlessAllowed(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		remote bool // refused without --allow-remote
	}{
		{"127.0.0.1:8080", false},
		{"127.0.0.2:80", false},
		{"localhost:8080", false},
		{"[::1]:8080", false},
		{":8080", true},
		{"0.0.0.0:8080", true},
		{"[::]:8080", true},
		{"192.168.1.5:8080", true},
		{"example.com:80", true},
	} {
		err := CheckAddr(tc.addr, false)
		if (err != nil) != tc.remote {
			t.Errorf("CheckAddr(%q) = %v; refused want %v", tc.addr, err, tc.remote)
		}
		if err := CheckAddr(tc.addr, true); err != nil {
			t.Errorf("CheckAddr(%q, allowRemote) = %v", tc.addr, err)
		}
	}
	if err := CheckAddr("8080", true); err == nil {
		t.Errorf("CheckAddr without a port separator succeeded")
	}
}
