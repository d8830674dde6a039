// Package tcpproxy forwards TCP connections to a server, for tests that take
// the server away from the code under test and give it back.
package tcpproxy

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards every connection it accepts to its target until it is cut
// or set to refuse.
type Proxy struct {
	target  string
	mu      sync.Mutex
	ln      net.Listener
	refuse  bool
	conns   []net.Conn
	refused atomic.Int32
}

// New listens on a free local port and forwards to target until t ends.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: target, ln: ln}
	go p.serve(ln)
	t.Cleanup(p.Cut)
	return p
}

// Addr is the host:port clients dial instead of the target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			p.refused.Add(1)
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// Cut stops listening and closes every forwarded connection: the server is
// gone, and dialing it is refused.
func (p *Proxy) Cut() {
	p.ln.Close()
	p.closeConns()
}

// Restore listens again on the same address.
func (p *Proxy) Restore(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", p.Addr())
	if err != nil {
		t.Fatalf("relisten: %v", err)
	}
	p.ln = ln
	go p.serve(ln)
}

// Refuse closes every forwarded connection and, from now on, every new one
// as soon as it is accepted, counting each (Refused): unlike Cut, a test can
// tell how often the code under test dialed.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	p.refuse = true
	p.mu.Unlock()
	p.closeConns()
}

// Refused is how many connections were closed on arrival since Refuse.
func (p *Proxy) Refused() int32 { return p.refused.Load() }

func (p *Proxy) closeConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
