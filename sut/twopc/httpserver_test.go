package twopc

import (
	"context"
	"net"
	"strings"
	"testing"
)

// TestListenLoopbackRefusesOtherInterfaces: a 2PC node listens on the
// loopback interface only (internal/loopback's rule), and does listen
// there.
func TestListenLoopbackRefusesOtherInterfaces(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:7101", ":7101", "10.0.0.1:7101", "127.0.0.1:0", "127.0.0.1"} {
		if ln, err := listenLoopback(context.Background(), addr); err == nil {
			ln.Close()
			t.Errorf("listenLoopback(%q) succeeded, want a refusal", addr)
		} else if !strings.Contains(err.Error(), addr) {
			t.Errorf("listenLoopback(%q): %v, want the address named", addr, err)
		}
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	ln, err := listenLoopback(context.Background(), addr)
	if err != nil {
		t.Fatalf("listenLoopback(%q): %v", addr, err)
	}
	ln.Close()
}
