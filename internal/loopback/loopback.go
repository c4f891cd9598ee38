package loopback

import (
	"fmt"
	"net"
	"strconv"
)

// Check returns nil when addr is host:port on the loopback interface (see
// the package doc), and otherwise an error that quotes addr and says why.
func Check(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("address %q: port %q is not a number from 1 to 65535", addr, port)
	}
	if !IsHost(host) {
		return fmt.Errorf("address %q: host %q is not loopback (nodes listen on 127.0.0.1 only)", addr, host)
	}
	return nil
}

// IsHost reports whether host (without a port) names the loopback
// interface: a loopback IP literal or localhost.
func IsHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
