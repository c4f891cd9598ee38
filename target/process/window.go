package process

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/target"
)

// WindowConfig is a two-phase-commit system's pause point, the
// [commit_window] section: how chaoscheck holds a transaction after its
// commit decision is durable and before any commit message goes out, so
// that a nemesis (alternate-kill) can kill a participant inside that
// window. With it the system implements target.CommitWindow.
type WindowConfig struct {
	// Participants are the participant nodes (names from the config).
	Participants []string `toml:"participants"`
	// Hold arms the window for the next transaction that spans
	// {participant}, held at most {hold_ms}; any 2xx answer.
	Hold Request `toml:"hold"`
	// Held says which tx_id is held: the trimmed body of a request
	// (empty while none is), or HeldLog, a line in a node's log.
	Held    *Request  `toml:"held"`
	HeldLog *LogMatch `toml:"held_log"`
	// Release closes the window ({tx_id}: the held one, or empty: any).
	// With HeldLog, ReleasedLog says when {tx_id} has left it.
	Release     Request   `toml:"release"`
	ReleasedLog *LogMatch `toml:"released_log"`
	// Observe is asked of each participant (its node scope) and answers
	// {"in_doubt": ["t7"], "effects": {"t3": 1}}: the tx_ids it prepared
	// and has not resolved, and the effect rows each tx_id left.
	Observe Request `toml:"observe"`
}

// Request is one HTTP request; Method defaults per key (hold PUT, release
// DELETE, held and observe GET).
type Request struct {
	Method string `toml:"method"`
	URL    string `toml:"url"`
}

// LogMatch finds a tx_id in a node's log: the first group of Pattern.
type LogMatch struct {
	Node    string `toml:"node"`
	Pattern string `toml:"pattern"`
	re      *regexp.Regexp
}

func (c *Config) validateWindow() error {
	w := c.Window
	if w == nil {
		return nil
	}
	names := c.NodeNames(0)
	if len(w.Participants) < 1 {
		return c.errorf("commit_window.participants", "missing: the participant nodes")
	}
	for _, p := range w.Participants {
		if !slices.Contains(names, p) {
			return c.errorf("commit_window.participants", "%q is not a node (nodes: %s)", p, strings.Join(names, ", "))
		}
	}
	for key, r := range map[string]*Request{"hold": &w.Hold, "release": &w.Release, "observe": &w.Observe, "held": w.Held} {
		if r != nil && r.URL == "" {
			return c.errorf("commit_window."+key, "missing url")
		}
	}
	if (w.Held == nil) == (w.HeldLog == nil) {
		return c.errorf("commit_window", "set exactly one of held (a URL answering the held tx_id) and held_log")
	}
	if w.ReleasedLog != nil && w.HeldLog == nil {
		return c.errorf("commit_window.released_log", "only with held_log (with held, release waits on that URL)")
	}
	for key, m := range map[string]*LogMatch{"held_log": w.HeldLog, "released_log": w.ReleasedLog} {
		if m == nil {
			continue
		}
		if !slices.Contains(names, m.Node) {
			return c.errorf("commit_window."+key, "node %q is not a node (nodes: %s)", m.Node, strings.Join(names, ", "))
		}
		re, err := regexp.Compile(m.Pattern)
		if err != nil || re.NumSubexp() != 1 {
			return c.errorf("commit_window."+key, "pattern %q must be a regular expression with one group, the tx_id (%v)", m.Pattern, err)
		}
		m.re = re
	}
	return nil
}

// windowScope expands the window's requests; vars are the runtime values.
func (c *Config) windowScope(l *layout, participant string, hold time.Duration, txID string) scope {
	return scope{c: c, l: l, vars: map[string]string{
		"participant": participant, "hold_ms": strconv.FormatInt(hold.Milliseconds(), 10), "tx_id": txID,
	}}
}

// checkWindowPlaceholders expands every request once with stand-in
// values, so a typo is an error when the config is read.
func (c *Config) checkWindowPlaceholders(l *layout) error {
	w := c.Window
	if w == nil {
		return nil
	}
	s := c.windowScope(l, w.Participants[0], time.Second, "t1")
	for key, r := range map[string]*Request{"hold": &w.Hold, "release": &w.Release, "held": w.Held} {
		if r == nil {
			continue
		}
		if _, err := s.expand("commit_window."+key+".url", r.URL); err != nil {
			return err
		}
	}
	for _, p := range w.Participants {
		if _, err := (scope{c: c, l: l, node: p, via: identityNet}).expand("commit_window.observe.url", w.Observe.URL); err != nil {
			return err
		}
	}
	return nil
}

// window implements target.CommitWindow for a system whose config has a
// [commit_window].
type window struct{ s *system }

func (w window) cfg() *WindowConfig { return w.s.cfg.Window }

func (w window) Participants() []string {
	ps := slices.Clone(w.cfg().Participants)
	slices.Sort(ps)
	return ps
}

// Hold arms the window, then waits until the system says which
// transaction it holds.
func (w window) Hold(ctx context.Context, participant string, hold time.Duration) (string, error) {
	if !slices.Contains(w.cfg().Participants, participant) {
		return "", fmt.Errorf("process target: %q is not a participant (%s)", participant, strings.Join(w.cfg().Participants, ", "))
	}
	var logFrom int64
	if m := w.cfg().HeldLog; m != nil {
		logFrom = w.s.logSize(m.Node)
	}
	if _, err := w.do(ctx, "hold", http.MethodPut, w.cfg().Hold, participant, hold, ""); err != nil {
		return "", err
	}
	for {
		var tx string
		var err error
		if m := w.cfg().HeldLog; m != nil {
			tx = w.s.findInLog(m, logFrom, "")
		} else {
			tx, err = w.do(ctx, "held", http.MethodGet, *w.cfg().Held, participant, hold, "")
		}
		if tx = strings.TrimSpace(tx); err == nil && tx != "" {
			return tx, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("process target: no transaction spanning %s held: %w (last: %v)", participant, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Release closes the window and, for a named txID, waits until it has
// left it.
func (w window) Release(ctx context.Context, txID string) error {
	var logFrom int64
	if m := w.cfg().ReleasedLog; m != nil {
		logFrom = w.s.logSize(m.Node)
	}
	if _, err := w.do(ctx, "release", http.MethodDelete, w.cfg().Release, "", 0, txID); err != nil {
		return err
	}
	if txID == "" {
		return nil
	}
	for {
		switch {
		case w.cfg().Held != nil:
			held, err := w.do(ctx, "held", http.MethodGet, *w.cfg().Held, "", 0, txID)
			if err == nil && strings.TrimSpace(held) != txID {
				return nil
			}
		case w.cfg().ReleasedLog != nil:
			if w.s.findInLog(w.cfg().ReleasedLog, logFrom, txID) != "" {
				return nil
			}
		default:
			return nil // nothing says when it has left: the request must do
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("process target: %s still held: %w", txID, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Observe asks every participant what it has in doubt and applied.
func (w window) Observe(ctx context.Context) (map[string]target.Observation, error) {
	out := map[string]target.Observation{}
	for _, p := range w.cfg().Participants {
		url, err := (scope{c: w.s.cfg, l: w.s.l, node: p, via: identityNet}).expand("commit_window.observe.url", w.cfg().Observe.URL)
		if err != nil {
			return nil, err
		}
		body, err := request(ctx, orMethod(w.cfg().Observe.Method, http.MethodGet), url)
		if err != nil {
			return nil, fmt.Errorf("process target: observe %s: %w", p, err)
		}
		var o struct {
			InDoubt []string       `json:"in_doubt"`
			Effects map[string]int `json:"effects"`
		}
		if err := json.Unmarshal([]byte(body), &o); err != nil {
			return nil, fmt.Errorf("process target: observe %s: want {\"in_doubt\": [...], \"effects\": {...}}: %v: %s", p, err, quote([]byte(body)))
		}
		out[p] = target.Observation{InDoubt: o.InDoubt, Effects: o.Effects}
	}
	return out, nil
}

// do sends one of the window's requests, expanded for its values.
func (w window) do(ctx context.Context, key, method string, r Request, participant string, hold time.Duration, txID string) (string, error) {
	url, err := w.s.cfg.windowScope(w.s.l, participant, hold, txID).expand("commit_window."+key+".url", r.URL)
	if err != nil {
		return "", err
	}
	body, err := request(ctx, orMethod(r.Method, method), url)
	if err != nil {
		return "", fmt.Errorf("process target: commit_window.%s: %w", key, err)
	}
	return body, nil
}

func orMethod(m, def string) string {
	if m == "" {
		return def
	}
	return strings.ToUpper(m)
}

// request sends method url and returns the body of a 2xx answer (at most
// 64 KiB of it).
func request(ctx context.Context, method, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := probeHTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(body))
	}
	return string(body), nil
}

// logSize is the current length of node's log, where a search for what
// happens next starts.
func (s *system) logSize(node string) int64 {
	st, err := os.Stat(s.nodes[node].proc.Spec().LogPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// findInLog returns the first tx_id m's pattern finds in node's log past
// from ("" when none); with want set, only that tx_id counts.
func (s *system) findInLog(m *LogMatch, from int64, want string) string {
	f, err := os.Open(s.nodes[m.Node].proc.Spec().LogPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 16<<20))
	for _, g := range m.re.FindAllSubmatch(b, -1) {
		if tx := string(g[1]); want == "" || tx == want {
			return tx
		}
	}
	return ""
}
