package mail_test

import (
	"strings"
	"testing"

	"github.com/authql/authql/internal/mail"
)

func TestTemplates(t *testing.T) {
	for _, c := range []struct {
		name    string
		build   func(appURL, to, token string) (mail.Message, error)
		appURL  string
		kind    string
		link    string
		subject string
	}{
		{"verification", mail.VerificationMail, "https://app.example.com", mail.KindVerifyEmail,
			"https://app.example.com/verify-email#token=tok_A-b", "Verify your email address"},
		{"verification, app URL with a slash", mail.VerificationMail, "http://localhost:8080/", mail.KindVerifyEmail,
			"http://localhost:8080/verify-email#token=tok_A-b", "Verify your email address"},
		{"reset", mail.ResetMail, "https://app.example.com/base", mail.KindPasswordReset,
			"https://app.example.com/base/reset-password#token=tok_A-b", "Reset your password"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := c.build(c.appURL, "o'neil@example.com", "tok_A-b")
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != c.kind || m.To != "o'neil@example.com" || m.Subject != c.subject {
				t.Errorf("kind %q, to %q, subject %q", m.Kind, m.To, m.Subject)
			}
			if !hasLine(m.Text, c.link) {
				t.Errorf("the text part has no line %q:\n%s", c.link, m.Text)
			}
			if !strings.Contains(m.HTML, `href="`+c.link+`"`) {
				t.Errorf("the HTML part does not link %q:\n%s", c.link, m.HTML)
			}
			// html/template escapes what it interpolates.
			if strings.Contains(m.HTML, "o'neil") || !strings.Contains(m.HTML, "o&#39;neil@example.com") {
				t.Errorf("the recipient is not HTML-escaped:\n%s", m.HTML)
			}
		})
	}
}

func TestTemplatesEscapeTheToken(t *testing.T) {
	m, err := mail.ResetMail("https://app.example.com", "a@example.com", `x"&<y> z`)
	if err != nil {
		t.Fatal(err)
	}
	link := "https://app.example.com/reset-password#token=x%22%26%3Cy%3E+z"
	if !hasLine(m.Text, link) {
		t.Errorf("text part without %q:\n%s", link, m.Text)
	}
	if strings.Contains(m.HTML, `x"&<y>`) {
		t.Errorf("raw token markup in the HTML part:\n%s", m.HTML)
	}
}

func TestTemplatesRefuse(t *testing.T) {
	for _, c := range []struct{ name, appURL, to, token string }{
		{"relative app URL", "app.example.com", "a@example.com", "t"},
		{"javascript app URL", "javascript:alert(1)", "a@example.com", "t"},
		{"app URL with a fragment", "https://app.example.com/#x", "a@example.com", "t"},
		{"app URL with a query", "https://app.example.com/?a=b", "a@example.com", "t"},
		{"named recipient", "https://app.example.com", "Eve <a@example.com>", "t"},
		{"two recipients", "https://app.example.com", "a@example.com, b@example.com", "t"},
		{"header injection", "https://app.example.com", "a@example.com\r\nBcc: b@example.com", "t"},
		{"no token", "https://app.example.com", "a@example.com", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := mail.VerificationMail(c.appURL, c.to, c.token); err == nil {
				t.Error("built a mail")
			}
		})
	}
}
