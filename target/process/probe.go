package process

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"time"
)

// probeTimeout bounds one health or leader question: a paused node must
// not stall the poll loop.
const probeTimeout = time.Second

var probeHTTP = &http.Client{Timeout: probeTimeout}

// healthy asks one node whether it serves: an HTTP GET answered 200, a TCP
// connection accepted, or a command that exits 0.
func (p Probe) healthy(ctx context.Context, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	switch {
	case p.HTTPGet != "":
		_, err := get(ctx, p.HTTPGet)
		return err
	case p.TCP != "":
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.TCP)
		if err != nil {
			return err
		}
		return c.Close()
	default:
		cmd := exec.CommandContext(ctx, p.Command[0], p.Command[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("health command %q: %v: %s", p.Command, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
}

// leader asks one node whom it believes leads: the trimmed body of an
// HTTP GET ("" when it knows none).
func (p Probe) leader(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	body, err := get(ctx, p.HTTPGet)
	return strings.TrimSpace(body), err
}

// get returns the body of a GET answered 200 (at most 4 KiB of it).
func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := probeHTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}
