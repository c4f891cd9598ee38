package loopback

import "testing"

func TestCheckAcceptsOnlyLoopbackHostPort(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:7001", true},
		{"127.0.0.2:7001", true},
		{"[::1]:7001", true},
		{"localhost:7001", true},
		{"127.0.0.1:65535", true},
		{":7001", false},            // every interface
		{"0.0.0.0:7001", false},     // every interface
		{"[::]:7001", false},        // every interface
		{"192.168.1.5:7001", false}, // another machine can reach it
		{"example.com:7001", false}, // a name that is not localhost
		{"localhost.:7001", false},  // not the bare name
		{"127.0.0.1", false},        // no port
		{"127.0.0.1:", false},       // empty port
		{"127.0.0.1:0", false},      // a port others cannot dial
		{"127.0.0.1:65536", false},  // out of range
		{"127.0.0.1:http", false},   // a service name, not a number
		{"[::ffff:10.0.0.1]:1", false},
	} {
		err := Check(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}
