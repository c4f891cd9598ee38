package faultnet

import (
	"io"
	"net"
	"testing"
)

// The proxy's cost on loopback, against dialling the server directly:
//
//	go test ./faultnet -run '^$' -bench . -benchmem

func benchEcho(b *testing.B, via bool) {
	up := startServer(b, true)
	addr := up.addr()
	if via {
		n := New(nil)
		b.Cleanup(func() { n.Close() })
		var err error
		if addr, err = n.Via("a", "b", addr); err != nil {
			b.Fatal(err)
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTripDirect: a 64-byte echo round trip, no proxy.
func BenchmarkRoundTripDirect(b *testing.B) { benchEcho(b, false) }

// BenchmarkRoundTripVia: the same through a faultnet link, every fault off.
func BenchmarkRoundTripVia(b *testing.B) { benchEcho(b, true) }

// BenchmarkStreamVia: one-way bulk transfer through a faultnet link.
func BenchmarkStreamVia(b *testing.B) {
	up := startServer(b, false)
	n := New(nil)
	b.Cleanup(func() { n.Close() })
	addr, err := n.Via("a", "b", up.addr())
	if err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	chunk := make([]byte, 1<<20)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}
