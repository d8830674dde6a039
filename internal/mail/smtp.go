package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTP delivers mail to an SMTP server, one connection per mail.
type SMTP struct {
	host     string
	port     int
	implicit bool // smtps://: TLS from the first byte
	user     string
	pass     string
	auth     bool
	from     *netmail.Address
	domain   string // of the From address, for Message-IDs
	timeout  time.Duration
	tls      *tls.Config
}

// SMTPOption adjusts NewSMTP.
type SMTPOption func(*SMTP)

// WithSMTPTimeout bounds connecting and each command's reply. Default 15 s.
func WithSMTPTimeout(d time.Duration) SMTPOption {
	return func(t *SMTP) { t.timeout = d }
}

// WithSMTPTLSConfig sets the TLS configuration for STARTTLS and smtps (a
// private CA, say). Its ServerName defaults to the URL's host.
func WithSMTPTLSConfig(c *tls.Config) SMTPOption {
	return func(t *SMTP) { t.tls = c.Clone() }
}

// NewSMTP configures delivery from a URL and a From address:
//
//   - smtp://[USER:PASS@]HOST[:PORT] (port 587 by default) upgrades with
//     STARTTLS when the server offers it and goes on in plain text when it
//     does not;
//   - smtps://[USER:PASS@]HOST[:PORT] (port 465 by default) speaks TLS from
//     the first byte.
//
// With credentials the client authenticates with the strongest mechanism the
// server offers; on a connection that is not encrypted it never sends a
// password in clear (PLAIN, LOGIN), so it fails rather than leak it, unless
// the server is on a loopback address (127.0.0.0/8, ::1, localhost), as Go's
// net/smtp allows: a relay on the same machine. Without credentials it does
// not authenticate. from is an RFC 5322 address such as
// "authql <no-reply@example.com>".
func NewSMTP(rawURL, from string, opts ...SMTPOption) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("mail: the SMTP URL must be smtp://USER:PASS@HOST:PORT or smtps://USER:PASS@HOST:PORT")
	}
	t := &SMTP{host: u.Hostname(), timeout: 15 * time.Second}
	switch u.Scheme {
	case "smtp":
		t.port = 587
	case "smtps":
		t.port, t.implicit = 465, true
	default:
		return nil, errors.New("mail: the SMTP URL's scheme must be smtp or smtps")
	}
	if p := u.Port(); p != "" {
		if t.port, err = strconv.Atoi(p); err != nil || t.port < 1 || t.port > 65535 {
			return nil, errors.New("mail: the SMTP URL's port is not a port")
		}
	}
	if u.User != nil && u.User.Username() != "" {
		t.user, t.auth = u.User.Username(), true
		t.pass, _ = u.User.Password()
	}
	if t.from, err = netmail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("mail: the From address %q is not an address", from)
	}
	t.domain = domain(t.from.Address)
	if t.domain == "" {
		return nil, fmt.Errorf("mail: the From address %q has no domain", from)
	}
	for _, opt := range opts {
		opt(t)
	}
	if t.tls == nil {
		t.tls = &tls.Config{}
	}
	if t.tls.ServerName == "" {
		t.tls.ServerName = t.host
	}
	if t.tls.MinVersion == 0 {
		t.tls.MinVersion = tls.VersionTLS12
	}
	return t, nil
}

// Send delivers m as multipart/alternative: the plain text first, the HTML
// as the preferred alternative.
func (t *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := t.message(m, time.Now())
	if err != nil {
		return err
	}
	opts := []gomail.Option{
		gomail.WithPort(t.port),
		gomail.WithTimeout(t.timeout),
		gomail.WithTLSConfig(t.tls),
	}
	if t.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	switch {
	case t.auth && loopback(t.host):
		// As net/smtp's PlainAuth: a password sent in clear to this very
		// machine crosses no network, so a local relay without TLS works.
		// Challenge-response mechanisms still come first.
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(
			gomail.SMTPAuthSCRAMSHA256PLUS, gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1PLUS, gomail.SMTPAuthSCRAMSHA1,
			gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc),
			gomail.WithUsername(t.user), gomail.WithPassword(t.pass))
	case t.auth:
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(t.user), gomail.WithPassword(t.pass))
	}
	client, err := gomail.NewClient(t.host, opts...)
	if err != nil {
		return err
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("dial failed: %w", err)
	}
	if err := client.SendWithSMTPClient(conn, msg); err != nil {
		_ = client.CloseWithSMTPClient(conn)
		return fmt.Errorf("send failed: %w", err)
	}
	// The server took the mail when it answered the end of DATA: a QUIT that
	// fails after that must not make the sender deliver it a second time.
	_ = client.CloseWithSMTPClient(conn)
	return nil
}

func (t *SMTP) message(m Message, now time.Time) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(t.from)
	if err := msg.To(m.To); err != nil {
		return nil, errors.New("mail: the recipient is not an address")
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(now)
	var id [16]byte
	_, _ = rand.Read(id[:])
	msg.SetMessageIDWithValue(hex.EncodeToString(id[:]) + "@" + t.domain)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}

// loopback reports whether host names this machine: localhost, or an address
// in 127.0.0.0/8 or ::1.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
