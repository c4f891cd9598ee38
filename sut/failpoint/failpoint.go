// Package failpoint serves the gofail runtime's failpoints on a node's own
// HTTP API, so a nemesis can switch them at run time on the port it already
// knows:
//
//	PUT    /failpoints/<name>   body: gofail terms, e.g. sleep(4000) or 1*return("x")
//	DELETE /failpoints/<name>
//	GET    /failpoints/         every failpoint and its terms, one per line
//
// Failpoints are declared with go.etcd.io/gofail/runtime.NewFailpoint (hand
// written, no code generation) as package-level variables: the runtime
// panics when a name is registered twice. GOFAIL_FAILPOINTS in a node's
// environment enables them at start (gofail's own parsing).
package failpoint

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	gofail "go.etcd.io/gofail/runtime"
)

// Prefix is the path the Handler expects to be mounted at.
const Prefix = "/failpoints/"

// Handler serves the failpoint API under Prefix.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	switch {
	case r.Method == http.MethodGet && name == "":
		names := gofail.List()
		sort.Strings(names)
		for _, n := range names {
			terms, count, _ := gofail.Status(n)
			fmt.Fprintf(w, "%s=%s count=%d\n", n, terms, count)
		}
	case r.Method == http.MethodGet:
		terms, count, err := gofail.Status(name)
		if err != nil && !errors.Is(err, gofail.ErrDisabled) {
			http.Error(w, fmt.Sprintf("failpoint %q: %v", name, err), http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, "%s count=%d\n", terms, count)
	case r.Method == http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := gofail.Enable(name, strings.TrimSpace(string(body))); err != nil {
			http.Error(w, fmt.Sprintf("enable failpoint %q: %v", name, err), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodDelete:
		if err := gofail.Disable(name); err != nil && !errors.Is(err, gofail.ErrDisabled) {
			http.Error(w, fmt.Sprintf("disable failpoint %q: %v", name, err), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// Enable switches a failpoint on over a node's API at base (e.g.
// "http://127.0.0.1:7001"). A client-side helper for nemeses and tests.
func Enable(c *http.Client, base, name, terms string) error {
	return call(c, http.MethodPut, base, name, terms)
}

// Disable switches a failpoint off over a node's API.
func Disable(c *http.Client, base, name string) error {
	return call(c, http.MethodDelete, base, name, "")
}

func call(c *http.Client, method, base, name, body string) error {
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequest(method, strings.TrimRight(base, "/")+Prefix+name, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("failpoint %s %s: %w", method, name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("failpoint %s %s: %s: %s", method, name, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
