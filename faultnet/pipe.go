package faultnet

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// pipe is one proxied connection: c from the dialling node, u to the
// upstream node (nil when the upstream could not be reached across a
// partition), and a dir for each direction.
type pipe struct {
	c, u      net.Conn
	dirs      [2]*dir // 0: c → u (from → to), 1: u → c
	closeOnce sync.Once
	done      chan struct{}
}

// close closes both connections and ends every goroutine of the pipe.
func (p *pipe) close() {
	p.closeOnce.Do(func() {
		close(p.done)
		p.c.Close()
		if p.u != nil {
			p.u.Close()
		}
	})
}

const (
	chunkSize = 32 << 10
	// queueLen bounds the chunks a direction holds back for delay; a
	// full queue stops the reader, so the sender feels backpressure as
	// from a slow TCP peer.
	queueLen = 64
)

// chunk is one read's bytes (or the end of the stream) and when it may be
// delivered.
type chunk struct {
	b   []byte
	eof bool
	at  time.Time
}

// dir is one direction of a pipe: bytes read from in (node src) and
// written to out (node dst), through a queue that holds them for their
// delay.
type dir struct {
	n        *Net
	p        *pipe
	in, out  net.Conn
	src, dst string
	count    *counters
	q        chan chunk
	// damaged: a chunk of this direction was dropped; nothing more passes
	// (doc.go, stream integrity).
	damaged atomic.Bool
}

// drop decides, with the fault in force, whether b is dropped, and keeps
// the damage bookkeeping. It is asked when a chunk is read and again when
// it is due, so a partition also catches chunks already held by a delay.
func (d *dir) drop(f Fault, b []byte, roll bool) bool {
	if !d.damaged.Load() && !f.Blackhole && !(roll && d.n.lose(f.Loss)) {
		return false
	}
	d.count.dropped.Add(int64(len(b)))
	if !d.damaged.Swap(true) && d.n.Fault(d.src, d.dst).clean() {
		// The link healed between reading f and marking the damage, and
		// the sweep may have missed this pipe: close it here.
		d.p.close()
	}
	return true
}

// reader reads chunks from in and queues them with their due time.
func (d *dir) reader() {
	buf := make([]byte, chunkSize)
	var last time.Time
	for {
		nr, err := d.in.Read(buf)
		now := time.Now()
		f := d.n.Fault(d.src, d.dst)
		due := now.Add(max(f.Delay+d.n.jitter(f.Jitter), 0))
		if due.Before(last) {
			due = last // delay never reorders
		}
		last = due
		if nr > 0 && !d.drop(f, buf[:nr], true) {
			select {
			case d.q <- chunk{b: append([]byte(nil), buf[:nr]...), at: due}:
			case <-d.p.done:
				return
			}
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) {
			d.p.close()
			return
		}
		if d.drop(f, nil, false) || d.out == nil {
			return // the FIN is lost with the rest; the sweep closes the pipe
		}
		select {
		case d.q <- chunk{eof: true, at: due}:
		case <-d.p.done:
		}
		return
	}
}

// writer delivers queued chunks to out when they are due.
func (d *dir) writer() {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		var c chunk
		select {
		case c = <-d.q:
		case <-d.p.done:
			return
		}
		if wait := time.Until(c.at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-d.p.done:
				return
			}
		}
		if d.drop(d.n.Fault(d.src, d.dst), c.b, false) {
			if c.eof {
				return
			}
			continue
		}
		if c.eof {
			// Half-close: the other direction may still be talking.
			if cw, ok := d.out.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				return
			}
			d.p.close()
			return
		}
		if _, err := d.out.Write(c.b); err != nil {
			d.p.close()
			return
		}
		d.count.passed.Add(int64(len(c.b)))
	}
}
