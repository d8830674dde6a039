// Package mailtest runs a real SMTP server in the test's process (emersion's
// go-smtp, which speaks the protocol a relay speaks): it records what it
// receives, can go down and come back on the same address to play an outage,
// can refuse mail with a temporary error, and can require STARTTLS and AUTH.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options shape a Server.
type Options struct {
	// TLS offers STARTTLS with a certificate for 127.0.0.1 that RootCAs
	// trusts.
	TLS bool
	// ImplicitTLS speaks TLS from the first byte (smtps) instead; URL then
	// names smtps://.
	ImplicitTLS bool
	// Username and Password, when set, make the server require AUTH PLAIN
	// before MAIL. PLAIN is offered only after STARTTLS unless
	// AllowInsecureAuth.
	Username, Password string
	AllowInsecureAuth  bool
}

// Received is one message the server accepted.
type Received struct {
	From     string
	To       []string
	Data     []byte // the message as sent, headers and body
	TLS      bool   // whether it came over an encrypted connection
	AuthUser string // who authenticated, "" when nobody did
}

// Server is a running (or stopped) SMTP server with a fixed address.
type Server struct {
	t     testing.TB
	opts  Options
	addr  string
	certs *x509.CertPool
	tls   *tls.Config

	mu       sync.Mutex
	srv      *smtp.Server
	listener net.Listener
	received []Received
	failCode int
	changed  chan struct{} // closed and replaced on every message
}

// Start runs a server on a free port of 127.0.0.1; it stops when the test
// ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, opts: opts, changed: make(chan struct{})}
	if opts.TLS || opts.ImplicitTLS {
		s.tls, s.certs = selfSigned(t)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	s.serve(l)
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port, the same across Stop and Restart.
func (s *Server) Addr() string { return s.addr }

// URL is an smtp:// URL for the server, with its credentials if it has any.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.addr}
	if s.opts.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	return u.String()
}

// RootCAs trusts the server's certificate (nil without TLS).
func (s *Server) RootCAs() *x509.CertPool { return s.certs }

// Stop closes the listener and every connection: clients get connection
// refused until Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, l := s.srv, s.listener
	s.srv, s.listener = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// The listener too: Serve may not have registered it with srv yet.
		_ = l.Close()
		_ = srv.Close()
	}
}

// Restart listens again on the same address.
func (s *Server) Restart() {
	s.t.Helper()
	var l net.Listener
	var err error
	// The port was ours a moment ago; another process taking it in between
	// is unlikely, but closing sockets may take a moment to let it go.
	for range 50 {
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("mailtest: listen again on %s: %v", s.addr, err)
	}
	s.serve(l)
}

// FailWith makes the server answer MAIL FROM with code (a 4xx: a temporary
// failure; a 5xx: a permanent one); 0 accepts mail again.
func (s *Server) FailWith(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode = code
}

// Messages returns what the server has accepted so far.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// WaitFor waits until the server has accepted n messages and returns them;
// it fails the test after timeout.
func (s *Server) WaitFor(n int, timeout time.Duration) []Received {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := append([]Received(nil), s.received...), s.changed
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			s.t.Fatalf("mailtest: %d messages received after %v, want %d", len(got), timeout, n)
			return nil
		}
	}
}

func (s *Server) serve(l net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "mailtest.localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.TLSConfig = s.tls
	srv.AllowInsecureAuth = s.opts.AllowInsecureAuth
	if s.opts.ImplicitTLS {
		l = tls.NewListener(l, s.tls)
	}
	s.mu.Lock()
	s.srv, s.listener = srv, l
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (s *Server) record(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, r)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) refusal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failCode == 0 {
		return nil
	}
	return &smtp.SMTPError{Code: s.failCode, EnhancedCode: smtp.EnhancedCode{s.failCode / 100, 0, 0}, Message: "mailtest: refused as told"}
}

type session struct {
	s    *Server
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != ss.s.opts.Username || password != ss.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	if err := ss.s.refusal(); err != nil {
		return err
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, encrypted := ss.conn.TLSConnectionState()
	ss.s.record(Received{From: ss.from, To: ss.to, Data: data, TLS: encrypted, AuthUser: ss.user})
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

func selfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailtest"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, pool
}
