package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestServeCommandServesTheStoreUntilCtrlC(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { serveUntil(t, sig) })
	}
}

// serveUntil starts serve, fetches its front page and stops it with sig:
// SIGINT and SIGTERM alike end it with exit 0.
func serveUntil(t *testing.T, sig os.Signal) {
	cmd := exec.Command(binPath, "serve", "--store", t.TempDir(), "--addr", "127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

	// The first line names the address the kernel picked.
	lines := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- l
		io.Copy(io.Discard, stdout)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatal("serve printed no address in 30s")
	}
	url := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`).FindString(line)
	if url == "" {
		t.Fatalf("serve's first line names no loopback URL: %q", line)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "chaoscheck runs") {
		t.Errorf("GET %s = %d %.200q", url, resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after %s: %v, want exit 0", sig, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve still running 30s after %s", sig)
	}
}

func TestServeCommandRefusesRemoteAddressesAndMissingStores(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--store", t.TempDir(), "--addr", "0.0.0.0:0"},
		{"serve", "--store", t.TempDir(), "--addr", ":0"},
		{"serve", "--store", t.TempDir() + "/missing", "--addr", "127.0.0.1:0"},
	} {
		if _, errText, code := chaoscheck(t, args...); code != exitBadInput {
			t.Errorf("chaoscheck %s: exit %d, want %d\n%s", strings.Join(args, " "), code, exitBadInput, errText)
		}
	}
	_, errText, _ := chaoscheck(t, "serve", "--addr", "0.0.0.0:0", "--store", t.TempDir())
	if !strings.Contains(errText, "--allow-remote") {
		t.Errorf("refusal does not name --allow-remote: %s", errText)
	}
}
