package mail_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"
	"time"

	authmail "github.com/authql/authql/internal/mail"
	"github.com/authql/authql/internal/mail/mailtest"
)

func TestSMTPMessage(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	tr, err := authmail.NewSMTP(srv.URL(), "authql <no-reply@auth.example.com>")
	if err != nil {
		t.Fatal(err)
	}
	m, err := authmail.ResetMail(appURL, "alice@example.org", "tok123")
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(1, 5*time.Second)[0]
	if got.From != "no-reply@auth.example.com" || len(got.To) != 1 || got.To[0] != "alice@example.org" {
		t.Errorf("envelope from %q to %v", got.From, got.To)
	}
	p := parse(t, got.Data)
	for name, want := range map[string]string{
		"From":    `"authql" <no-reply@auth.example.com>`,
		"To":      "<alice@example.org>",
		"Subject": "Reset your password",
	} {
		if g := p.header.Get(name); g != want {
			t.Errorf("%s: %q, want %q", name, g, want)
		}
	}
	if date, err := p.header.Date(); err != nil || time.Since(date).Abs() > time.Minute {
		t.Errorf("Date %q (%v)", p.header.Get("Date"), err)
	}
	if id := p.header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@auth.example.com>") {
		t.Errorf("Message-ID %q, want <…@auth.example.com>", id)
	}
	link := appURL + "/reset-password#token=tok123"
	if !hasLine(p.text, link) {
		t.Errorf("text part without the link on its own line:\n%s", p.text)
	}
	if !strings.Contains(p.html, `href="`+link+`"`) {
		t.Errorf("HTML part without the link:\n%s", p.html)
	}
}

// TestSMTPSecurity: STARTTLS when the server offers it, plain when it does
// not, implicit TLS for smtps; AUTH only with credentials, and a password in
// clear only to a loopback address (TestLoopback: never to another host).
func TestSMTPSecurity(t *testing.T) {
	for _, c := range []struct {
		name     string
		opts     mailtest.Options
		wantTLS  bool
		wantUser string
		wantErr  bool
	}{
		{"plain server, no credentials", mailtest.Options{}, false, "", false},
		{"STARTTLS offered", mailtest.Options{TLS: true}, true, "", false},
		{"STARTTLS and AUTH", mailtest.Options{TLS: true, Username: "relay", Password: "p@ss:word"}, true, "relay", false},
		{"implicit TLS and AUTH", mailtest.Options{ImplicitTLS: true, Username: "relay", Password: "pw"}, true, "relay", false},
		// A relay on this machine: the password crosses no network.
		{"AUTH PLAIN without TLS on a loopback address", mailtest.Options{Username: "relay", Password: "pw", AllowInsecureAuth: true}, false, "relay", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := mailtest.Start(t, c.opts)
			tr, err := authmail.NewSMTP(srv.URL(), "authql <no-reply@localhost>",
				authmail.WithSMTPTLSConfig(&tls.Config{RootCAs: srv.RootCAs()}), authmail.WithSMTPTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			m, _ := authmail.VerificationMail(appURL, "bob@example.net", "tok")
			err = tr.Send(t.Context(), m)
			if c.wantErr {
				if err == nil {
					t.Fatal("sent, want an error")
				}
				if n := len(srv.Messages()); n != 0 {
					t.Fatalf("the server received %d messages", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := srv.WaitFor(1, 5*time.Second)[0]
			if got.TLS != c.wantTLS || got.AuthUser != c.wantUser {
				t.Errorf("TLS %v, AUTH as %q; want %v, %q", got.TLS, got.AuthUser, c.wantTLS, c.wantUser)
			}
		})
	}
}

func TestSMTPUntrustedCertificate(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{TLS: true})
	tr, err := authmail.NewSMTP(srv.URL(), "authql <no-reply@localhost>")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := authmail.VerificationMail(appURL, "bob@example.net", "tok")
	if err := tr.Send(t.Context(), m); err == nil {
		t.Fatal("sent over TLS to a server whose certificate nobody trusts")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("the server received %d messages", n)
	}
}

func TestNewSMTPRefuses(t *testing.T) {
	for _, c := range []struct{ name, url, from string }{
		{"http URL", "http://localhost:25", "a@localhost"},
		{"no host", "smtp://", "a@localhost"},
		{"bad port", "smtp://localhost:99999", "a@localhost"},
		{"path", "smtp://localhost:25/x", "a@localhost"},
		{"bad from", "smtp://localhost:25", "authql"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := authmail.NewSMTP(c.url, c.from); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestLogTransport(t *testing.T) {
	var buf bytes.Buffer
	tr := authmail.LogTransport{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	m, _ := authmail.VerificationMail(appURL, "bob@example.net", "tok-42")
	if err := tr.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"level=INFO", "to=bob@example.net", "Verify your email address", appURL + "/verify-email#token=tok-42"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line without %q: %s", want, out)
		}
	}
}
