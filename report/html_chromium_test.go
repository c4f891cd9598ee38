package report

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromium finds a Chromium or Chrome binary, or skips the test: the
// browser tests need one (CI installs Debian's chromium package).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: the report is not rendered in a browser (apt-get install chromium)")
	return ""
}

// headless runs the browser on url with extra flags and returns stdout.
// Chromium starts helper processes; they share its process group, which
// is killed when the test ends, so none outlives it.
func headless(t *testing.T, bin, url string, flags ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,2000"}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers still around
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(flags, " "), err, errb.String())
	}
	return out.Bytes()
}

// TestReportRendersInChromium opens a report from disk, with no network,
// in headless Chromium and checks what its DOM shows once the page's
// script has run: the verdict, one bar per invocation, and the click
// panel filled for the op the URL names (#op=N, as anomaly links do).
func TestReportRendersInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	h := genHistory(600, 4, 5)
	r := invalidResults(h)
	if err := WriteHTMLFile(dir, r, h); err != nil {
		t.Fatal(err)
	}
	url := "file://" + filepath.Join(dir, HTMLFile)

	dom := string(headless(t, bin, url+"#op=5", "--dump-dom"))
	if !regexp.MustCompile(`<span id="verdict" class="verdict invalid">INVALID</span>`).MatchString(dom) {
		t.Errorf("rendered DOM shows no INVALID verdict")
	}
	bars := 0
	for _, op := range h {
		if op.Type == "invoke" {
			bars++
		}
	}
	if got := strings.Count(dom, `<rect class="op `); got != bars {
		t.Errorf("rendered timeline has %d bars, want %d", got, bars)
	}
	// The script selected op 5's bar and listed its fields.
	panel := regexp.MustCompile(`(?s)<div id="opinfo"[^>]*>(.*?)</div>\s*(<h2|$)`).FindStringSubmatch(dom)
	if panel == nil || !strings.Contains(panel[1], "<td>5</td>") || !strings.Contains(panel[1], `class="type"`) {
		t.Errorf("#op=5 did not fill the op panel: %.300q", panel)
	}
	if !strings.Contains(dom, ` sel"`) {
		t.Errorf("no timeline bar is selected after #op=5")
	}

}
