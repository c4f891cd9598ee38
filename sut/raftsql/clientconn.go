package raftsql

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// This file is the Client's own HTTP/1.1 transport: keep-alive
// connections per node, each request written and its response read by
// the calling goroutine. net/http's Transport hands every request to a
// write goroutine and every response over from a read goroutine, two more
// goroutines to wake per request; on a machine whose cores are shared by
// three replicas and their clients each wake is a wait for a CPU, on the
// path of every op. The wire format is plain HTTP/1.1 + JSON, as before.

// maxIdlePerNode bounds the idle connections a Client keeps to one node.
const maxIdlePerNode = 16

// maxResponseBytes bounds one response body.
const maxResponseBytes = 64 << 20

// httpConn is one keep-alive connection to a node.
type httpConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// connPool holds the idle connections to each node.
type connPool struct {
	dialer net.Dialer
	mu     sync.Mutex
	idle   map[string][]*httpConn
}

// get returns an idle connection to addr that the node has not closed,
// or a new one.
func (p *connPool) get(ctx context.Context, addr string) (hc *httpConn, err error) {
	for {
		p.mu.Lock()
		conns := p.idle[addr]
		if len(conns) == 0 {
			p.mu.Unlock()
			break
		}
		hc = conns[len(conns)-1]
		p.idle[addr] = conns[:len(conns)-1]
		p.mu.Unlock()
		if hc.alive() {
			return hc, nil
		}
		hc.c.Close()
	}
	c, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &httpConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}, nil
}

// put keeps hc for the next request to addr.
func (p *connPool) put(addr string, hc *httpConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle[addr]) >= maxIdlePerNode {
		hc.c.Close()
		return
	}
	if p.idle == nil {
		p.idle = map[string][]*httpConn{}
	}
	p.idle[addr] = append(p.idle[addr], hc)
}

// close closes the idle connections; one in use goes back to the pool
// when its request ends.
func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, conns := range p.idle {
		for _, hc := range conns {
			hc.c.Close()
		}
	}
	p.idle = nil
}

// idleClosed reports whether every idle connection to addr has been
// closed by the node (or there is none).
func (p *connPool) idleClosed(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, hc := range p.idle[addr] {
		if hc.alive() {
			return false
		}
	}
	return true
}

// alive reports whether an idle connection may carry a request: the node
// sends nothing unasked, so a readable idle connection is one the node
// closed (it restarted, or was killed), and a request written into it
// would be lost and reported indeterminate for nothing.
func (hc *httpConn) alive() bool {
	if hc.br.Buffered() > 0 {
		return false
	}
	sc, ok := hc.c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		// Nothing to read: alive. A byte or end of file (no error):
		// closed by the node, or out of step.
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
		return true // never wait for readiness
	})
	return err == nil && alive
}

// longAgo is a deadline in the past: it ends a blocked read or write.
var longAgo = time.Unix(1, 0)

// roundTrip sends one request to addr on a pooled connection and returns
// the response's status and body. wrote reports whether any byte of the
// request may have left (a failure before that proves it went nowhere).
func (p *connPool) roundTrip(ctx context.Context, addr, method, path string, body []byte) (status int, data []byte, wrote bool, err error) {
	hc, err := p.get(ctx, addr)
	if err != nil {
		return 0, nil, false, err
	}
	if d, ok := ctx.Deadline(); ok {
		hc.c.SetDeadline(d)
	} else {
		hc.c.SetDeadline(time.Time{})
	}
	// Cancelling ctx ends the I/O at once; the connection is then spent.
	stop := context.AfterFunc(ctx, func() { hc.c.SetDeadline(longAgo) })
	reuse := false
	defer func() {
		if stop() && reuse {
			p.put(addr, hc)
			return
		}
		hc.c.Close()
	}()

	bw := hc.bw
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(path)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(addr)
	if body != nil {
		bw.WriteString("\r\nContent-Type: application/json\r\nContent-Length: ")
		bw.WriteString(strconv.Itoa(len(body)))
	}
	bw.WriteString("\r\n\r\n")
	bw.Write(body)
	wrote = true
	if err := bw.Flush(); err != nil {
		return 0, nil, true, ctxErr(ctx, err)
	}
	resp, err := http.ReadResponse(hc.br, nil)
	if err != nil {
		return 0, nil, true, ctxErr(ctx, err)
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, nil, true, ctxErr(ctx, fmt.Errorf("read response: %w", err))
	}
	if len(data) > maxResponseBytes {
		return resp.StatusCode, nil, true, fmt.Errorf("response of more than %d bytes", maxResponseBytes)
	}
	reuse = !resp.Close
	return resp.StatusCode, data, true, nil
}

// ctxErr names the context's end as the cause of an I/O error it caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}
