package report

import (
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/internal/loopback"
	"github.com/chaoscheck/chaoscheck/store"
)

// maxListedRuns caps the run list; older runs stay reachable as files.
const maxListedRuns = 1000

var indexTemplate = template.Must(template.New("serve_index.html.tmpl").Funcs(template.FuncMap{
	"upper": strings.ToUpper,
}).ParseFS(templateFS, "templates/serve_index.html.tmpl"))

// Server serves a store to a browser, read-only: "/" lists the runs,
// newest first, with their verdicts and links to each report.html (it
// stands for the store's top directory); every other path is a file or
// directory of the store at the same path, so /latest/report.html is the
// newest run's report.
//
// Invariant: nothing outside the store is ever served. A path with a ".."
// segment (however it was encoded) or an absolute one is refused outright;
// every file is opened through an os.Root on the store, which follows
// symlinks only while they stay inside it (the store's own relative latest
// links do) and refuses the rest, whatever happens to the tree between a
// check and an open.
type Server struct {
	dir   string
	root  *os.Root
	files http.Handler
}

// NewServer serves the store at dir, which must exist.
func NewServer(dir string) (*Server, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("serve: store %s: %w", dir, err)
	}
	return &Server{dir: abs, root: root, files: http.FileServerFS(root.FS())}, nil
}

// Close releases the store directory.
func (s *Server) Close() error { return s.root.Close() }

// Dir is the store served, as an absolute path.
func (s *Server) Dir() string { return s.dir }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: GET and HEAD only", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Path == "/" {
		s.serveIndex(w, r)
		return
	}
	rel, ok := storePath(r.URL.Path)
	if !ok {
		http.Error(w, "refused: path outside the store", http.StatusForbidden)
		return
	}
	if _, err := s.root.Stat(rel); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
		} else {
			// A symlink out of the store, or a path os.Root will not walk.
			http.Error(w, "refused: path outside the store", http.StatusForbidden)
		}
		return
	}
	switch path.Ext(rel) {
	case ".jsonl", ".log", ".edn", ".txt":
		// Shown in the browser rather than downloaded.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	s.files.ServeHTTP(w, r)
}

// storePath turns a URL path (already percent-decoded by net/http, so
// %2e%2e arrives as "..") into a path relative to the store, or reports
// that it names something outside it.
func storePath(urlPath string) (string, bool) {
	rel, found := strings.CutPrefix(urlPath, "/")
	if !found || strings.HasPrefix(rel, "/") || strings.ContainsAny(rel, "\x00\\") {
		return "", false
	}
	for _, seg := range strings.Split(rel, "/") {
		if seg == ".." {
			return "", false
		}
	}
	rel = strings.TrimSuffix(rel, "/")
	if rel == "" {
		return ".", true
	}
	return rel, true
}

// indexPage is the run list.
type indexPage struct {
	Store   string
	Runs    []indexRun
	Hidden  int
	Soak    bool // the store holds soak.json
	Latest  bool
	Counts  map[string]int
	Updated string
}

type indexRun struct {
	Test, Scenario, Start, Verdict, Duration, Seed, Ops string
	Href, Report, Linear                                string // URL paths
	Note                                                string
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	entries, err := store.List(s.dir)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p := indexPage{Store: s.dir, Counts: map[string]int{}, Updated: time.Now().Format("2006-01-02 15:04:05")}
	if fi, err := s.root.Stat("soak.json"); err == nil && !fi.IsDir() {
		p.Soak = true
	}
	if fi, err := s.root.Stat(store.LatestLink); err == nil && fi.IsDir() {
		p.Latest = true
	}
	for i, e := range entries {
		if i == maxListedRuns {
			p.Hidden = len(entries) - i
			break
		}
		p.Runs = append(p.Runs, s.indexRun(e))
		p.Counts[p.Runs[len(p.Runs)-1].Verdict]++
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := indexTemplate.Execute(w, p); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func (s *Server) indexRun(e store.Entry) indexRun {
	rel, _ := filepath.Rel(s.dir, e.Dir)
	base := "/" + escapePath(filepath.ToSlash(rel)) + "/"
	ir := indexRun{Test: e.Test, Start: e.Start.Format("2006-01-02 15:04:05"), Href: base}
	if e.Results == nil {
		ir.Verdict = "running"
		if !errors.Is(e.Err, fs.ErrNotExist) {
			ir.Verdict, ir.Note = "unreadable", e.Err.Error()
		}
	} else {
		res := e.Results
		ir.Verdict = res.Valid.String()
		ir.Scenario = res.Scenario
		if res.DurationSec > 0 {
			ir.Duration = time.Duration(res.DurationSec * float64(time.Second)).Round(100 * time.Millisecond).String()
		}
		if res.Seed != 0 {
			ir.Seed = strconv.FormatInt(res.Seed, 10)
		}
		ir.Ops = strconv.Itoa(res.Ops)
		if res.Interrupted {
			ir.Note = "interrupted"
		}
	}
	if _, err := s.root.Stat(filepath.Join(rel, HTMLFile)); err == nil {
		ir.Report = base + HTMLFile
	}
	if _, err := s.root.Stat(filepath.Join(rel, checker.LinearFile)); err == nil {
		ir.Linear = base + checker.LinearFile
	}
	return ir
}

// escapePath percent-encodes each segment of a slash-separated path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// CheckAddr refuses a listen address that is not loopback unless
// allowRemote: the store holds every run's history and node logs, and
// the server has no authentication. Loopback is loopback.IsHost's rule,
// the one nodes follow; a missing host (":8080") means every interface.
func CheckAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if allowRemote {
		return nil
	}
	if loopback.IsHost(host) {
		return nil
	}
	what := host
	if host == "" {
		what = "every interface"
	}
	return fmt.Errorf("--addr %s listens on %s, not loopback: the store's histories and logs would be open to the network without authentication; pass --allow-remote to do it anyway", addr, what)
}
