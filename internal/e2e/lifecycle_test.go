package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authql/authql/internal/store/storetest"
)

// auditTypes lists the types of the caller's audit events, newest first.
func (e *env) auditTypes(access string) []string {
	e.t.Helper()
	var conn struct {
		Edges []struct {
			Node struct {
				Type string `json:"type"`
			} `json:"node"`
		} `json:"edges"`
	}
	e.must(req{query: `{ myAuditEvents(first: 100) { edges { node { type } } } }`, headers: bearer(access)}, "myAuditEvents", &conn)
	out := make([]string, len(conn.Edges))
	for i, edge := range conn.Edges {
		out[i] = edge.Node.Type
	}
	return out
}

// TestEmailVerification: signup mails a verification link (a plain-text part
// with the link on its own line, an HTML part, Message-ID and Date); the
// link's token verifies the address once, and access tokens issued after
// say so.
func TestEmailVerification(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := startMail(t, db, nil)
		email := newEmail()
		s := e.signup(email, pw)
		if u := e.meVerified(s.AccessToken); u.EmailVerified {
			t.Fatal("verified before the link was used")
		}
		if v := unverifiedClaims(t, s.AccessToken)["email_verified"]; v != false {
			t.Fatalf("email_verified claim %v before verification, want false", v)
		}

		m := e.mailsTo(email, 1)[0]
		tok := tokenIn(m, "/verify-email")
		if len(tok) < 43 { // 256 bits in base64url
			t.Fatalf("token %q is shorter than 256 bits", tok)
		}
		if !strings.Contains(m.html, `href="`+mailAppURL+"/verify-email#token="+tok+`"`) {
			t.Errorf("HTML part without the link:\n%s", m.html)
		}
		if m.header.Get("Message-Id") == "" {
			t.Error("no Message-ID header")
		}
		if d, err := m.header.Date(); err != nil || time.Since(d).Abs() > time.Minute {
			t.Errorf("Date header %q (%v)", m.header.Get("Date"), err)
		}

		var u verifiedUser
		e.must(req{query: verifyEmailQ, vars: map[string]any{"t": tok}}, "verifyEmail", &u)
		if !u.EmailVerified || u.ID != s.User.ID || u.Email != email {
			t.Fatalf("verifyEmail answered %+v", u)
		}
		if !e.meVerified(s.AccessToken).EmailVerified {
			t.Fatal("me says unverified after verifyEmail")
		}
		r, resp := e.refresh(s.refresh())
		if resp.code() != "" {
			t.Fatalf("refresh: %s", resp.Raw)
		}
		if v := unverifiedClaims(t, r.AccessToken)["email_verified"]; v != true {
			t.Fatalf("email_verified claim %v after verification and refresh, want true", v)
		}
		if types := e.auditTypes(r.AccessToken); !slices.Contains(types, "email_verified") {
			t.Fatalf("audit trail %v without email_verified", types)
		}
		e.wantCode(req{query: verifyEmailQ, vars: map[string]any{"t": tok}}, "INVALID_TOKEN")

		// Already verified: true, and no mail.
		var ok bool
		e.must(req{query: resendQ, headers: bearer(r.AccessToken)}, "resendVerificationEmail", &ok)
		if !ok {
			t.Fatal("resendVerificationEmail answered false")
		}
		time.Sleep(300 * time.Millisecond)
		if n := e.countTo(email); n != 1 {
			t.Fatalf("%d mails after resending to a verified address, want 1", n)
		}
	})
}

// TestResendVerificationEmail: a new link works, and so does the first one.
func TestResendVerificationEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := startMail(t, db, nil)
		email := newEmail()
		s := e.signup(email, pw)
		first := e.token(email, "/verify-email", 1)
		var ok bool
		e.must(req{query: resendQ, headers: bearer(s.AccessToken)}, "resendVerificationEmail", &ok)
		second := e.token(email, "/verify-email", 2)
		if first == second {
			t.Fatal("the resent link carries the same token")
		}
		var u verifiedUser
		e.must(req{query: verifyEmailQ, vars: map[string]any{"t": second}}, "verifyEmail", &u)
		e.must(req{query: verifyEmailQ, vars: map[string]any{"t": first}}, "verifyEmail", &u)
		if !u.EmailVerified {
			t.Fatal("not verified")
		}
	})
}

// TestPasswordReset: the mailed link sets a new password, kills every old
// session (access and refresh tokens), verifies the address and starts a
// session authenticated by email.
func TestPasswordReset(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := startMail(t, db, nil)
		email := newEmail()
		s := e.signup(email, pw)
		other := e.login(email, pw)
		e.requestReset(email)
		tok := e.token(email, "/reset-password", 1) // after the verification mail
		for _, m := range e.mailsTo(email, 2) {
			if tokenIn(m, "/reset-password") == tok && !strings.Contains(m.html, `href="`+mailAppURL+"/reset-password#token="+tok+`"`) {
				t.Errorf("HTML part without the link:\n%s", m.html)
			}
		}

		const next = "a brand new passphrase"
		p, resp := e.resetPassword(tok, next)
		if resp.code() != "" {
			t.Fatalf("resetPassword: %s", resp.Raw)
		}
		if p.User.ID != s.User.ID || p.refresh() == "" {
			t.Fatalf("resetPassword answered %+v", p)
		}
		for _, old := range []payload{s, other} {
			if _, code := e.me(old.AccessToken); code != "UNAUTHENTICATED" {
				t.Fatalf("an old access token after the reset: %q, want UNAUTHENTICATED", code)
			}
			if _, resp := e.refresh(old.refresh()); resp.code() != "INVALID_REFRESH_TOKEN" {
				t.Fatalf("an old refresh token after the reset: %s", resp.Raw)
			}
		}
		if u := e.meVerified(p.AccessToken); u.ID != s.User.ID || !u.EmailVerified {
			t.Fatalf("me after the reset: %+v, want verified", u)
		}
		claims := unverifiedClaims(t, p.AccessToken)
		if amr, _ := claims["amr"].([]any); len(amr) != 1 || amr[0] != "email" {
			t.Fatalf("amr %v, want [email]", claims["amr"])
		}
		if claims["email_verified"] != true {
			t.Fatalf("email_verified %v, want true", claims["email_verified"])
		}
		if _, resp := e.refresh(p.refresh()); resp.code() != "" {
			t.Fatalf("the new session's refresh token: %s", resp.Raw)
		}
		e.wantCode(req{query: loginQ, vars: map[string]any{"e": email, "p": pw}}, "INVALID_CREDENTIALS")
		l := e.login(email, next)
		if amr, _ := unverifiedClaims(t, l.AccessToken)["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
			t.Fatalf("a password login's amr %v, want [pwd]", amr)
		}
		types := e.auditTypes(l.AccessToken)
		for _, want := range []string{"password_reset_requested", "password_reset"} {
			if !slices.Contains(types, want) {
				t.Errorf("audit trail %v without %s", types, want)
			}
		}
		if _, resp := e.resetPassword(tok, "yet another passphrase"); resp.code() != "INVALID_TOKEN" {
			t.Fatalf("the link used again: %s", resp.Raw)
		}
	})
}

// TestEmailTokenRefusals: every token that must not work answers
// INVALID_TOKEN, and a new password outside policy leaves the link usable.
func TestEmailTokenRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startMail(t, db, clk)
		const next = "the next passphrase"
		// account signs up and returns its verification token (the first mail).
		account := func() (string, payload, string) {
			email := newEmail()
			s := e.signup(email, pw)
			return email, s, e.token(email, "/verify-email", 1)
		}
		resetRefused := func(t *testing.T, tok string) {
			t.Helper()
			if _, resp := e.resetPassword(tok, next); resp.code() != "INVALID_TOKEN" {
				t.Fatalf("resetPassword: %s", resp.Raw)
			}
		}
		verifyRefused := func(t *testing.T, tok string) {
			t.Helper()
			e.wantCode(req{query: verifyEmailQ, vars: map[string]any{"t": tok}}, "INVALID_TOKEN")
		}

		t.Run("unknown", func(t *testing.T) {
			for _, tok := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("A", 5000)} {
				resetRefused(t, tok)
				verifyRefused(t, tok)
			}
		})
		t.Run("other kind", func(t *testing.T) {
			email, _, verify := account()
			e.requestReset(email)
			reset := e.token(email, "/reset-password", 1)
			resetRefused(t, verify)
			verifyRefused(t, reset)
			// Neither refusal spent anything.
			var u verifiedUser
			e.must(req{query: verifyEmailQ, vars: map[string]any{"t": verify}}, "verifyEmail", &u)
			if _, resp := e.resetPassword(reset, next); resp.code() != "" {
				t.Fatalf("the reset link after the refusals: %s", resp.Raw)
			}
		})
		t.Run("used", func(t *testing.T) {
			email, _, verify := account()
			var u verifiedUser
			e.must(req{query: verifyEmailQ, vars: map[string]any{"t": verify}}, "verifyEmail", &u)
			verifyRefused(t, verify)
			e.requestReset(email)
			reset := e.token(email, "/reset-password", 1)
			if _, resp := e.resetPassword(reset, next); resp.code() != "" {
				t.Fatal(string(resp.Raw))
			}
			resetRefused(t, reset)
		})
		t.Run("expired", func(t *testing.T) {
			email, _, verify := account()
			e.requestReset(email)
			reset := e.token(email, "/reset-password", 1)
			clk.Advance(time.Hour) // AUTHQL_PASSWORD_RESET_TTL: dead from that instant
			resetRefused(t, reset)
			clk.Advance(23 * time.Hour) // AUTHQL_EMAIL_VERIFY_TTL
			verifyRefused(t, verify)
		})
		t.Run("just before expiry", func(t *testing.T) {
			email, _, verify := account()
			e.requestReset(email)
			reset := e.token(email, "/reset-password", 1)
			clk.Advance(time.Hour - time.Millisecond)
			if _, resp := e.resetPassword(reset, next); resp.code() != "" {
				t.Fatalf("a reset link a millisecond before its end: %s", resp.Raw)
			}
			clk.Advance(23 * time.Hour)
			var u verifiedUser
			e.must(req{query: verifyEmailQ, vars: map[string]any{"t": verify}}, "verifyEmail", &u)
		})
		t.Run("voided by a newer reset link", func(t *testing.T) {
			email, _, _ := account()
			e.requestReset(email)
			older := e.token(email, "/reset-password", 1)
			e.requestReset(email)
			newer := e.token(email, "/reset-password", 2)
			resetRefused(t, older)
			if _, resp := e.resetPassword(newer, next); resp.code() != "" {
				t.Fatalf("the newest link: %s", resp.Raw)
			}
		})
		t.Run("voided by changePassword", func(t *testing.T) {
			email, s, _ := account()
			e.requestReset(email)
			reset := e.token(email, "/reset-password", 1)
			var p payload
			e.must(req{query: changePwQ, vars: map[string]any{"c": pw, "n": next}, headers: bearer(s.AccessToken)}, "changePassword", &p)
			resetRefused(t, reset)
			e.login(email, next)
		})
		t.Run("a new password outside policy does not spend the link", func(t *testing.T) {
			email, _, _ := account()
			e.requestReset(email)
			reset := e.token(email, "/reset-password", 1)
			for _, bad := range []string{"", "short", strings.Repeat("x", 1025)} {
				resp := e.wantCode(req{query: resetQ, vars: map[string]any{"t": reset, "p": bad}}, "BAD_USER_INPUT")
				if f := resp.Errors[0].Extensions["field"]; f != "newPassword" {
					t.Fatalf("field %v, want newPassword", f)
				}
			}
			if _, resp := e.resetPassword(reset, next); resp.code() != "" {
				t.Fatalf("the link after refused passwords: %s", resp.Raw)
			}
			e.login(email, next)
		})
	})
}

// TestPasswordResetRequestRefusals: a malformed address is BAD_USER_INPUT;
// an unknown one answers true and gets no mail.
func TestPasswordResetRequestRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := startMail(t, db, nil)
		for _, bad := range []string{"", "not an address", "a@b", "<x@example.com>"} {
			resp := e.wantCode(req{query: requestResetQ, vars: map[string]any{"e": bad}}, "BAD_USER_INPUT")
			if f := resp.Errors[0].Extensions["field"]; f != "email" {
				t.Fatalf("%q: field %v, want email", bad, f)
			}
		}
		unknown := newEmail()
		e.requestReset(unknown)
		// A known address asked for after it: once its mail is in, the
		// unknown one's request has been worked off too (one queue, in order).
		known := newEmail()
		e.signup(known, pw)
		e.requestReset(strings.ToUpper(known))
		e.token(known, "/reset-password", 1)
		time.Sleep(200 * time.Millisecond)
		if n := e.countTo(unknown); n != 0 {
			t.Fatalf("%d mails to an address without an account", n)
		}
		if n := len(e.smtp.Messages()); n != 2 {
			t.Fatalf("%d mails in all, want 2 (the known address's verification and reset)", n)
		}
	})
}

// TestMailOff: with AUTHQL_MAIL=off, signup queues nothing and the flows
// that need mail answer SERVICE_UNAVAILABLE.
func TestMailOff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := startMail(t, db, nil, "AUTHQL_MAIL=off")
		email := newEmail()
		s := e.signup(email, pw)
		e.wantCode(req{query: requestResetQ, vars: map[string]any{"e": email}}, "SERVICE_UNAVAILABLE")
		e.wantCode(req{query: resendQ, headers: bearer(s.AccessToken)}, "SERVICE_UNAVAILABLE")
		conn := rawDB(t, db)
		if n := count(t, conn, "SELECT COUNT(*) FROM outbox_mails") + count(t, conn, "SELECT COUNT(*) FROM email_tokens"); n != 0 {
			t.Fatalf("%d outbox and token rows with mail off", n)
		}
		time.Sleep(200 * time.Millisecond)
		if n := len(e.smtp.Messages()); n != 0 {
			t.Fatalf("%d mails sent with mail off", n)
		}
	})
}

// TestAccountMailRateLimits: reset requests per address (known or not) and
// per client IP, verification mails per account, deleteAccount under the
// changePassword budget: RATE_LIMITED with retryAfter.
func TestAccountMailRateLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := startMail(t, db, nil, "AUTHQL_RATE_LIMIT=on", "AUTHQL_RATE_LIMIT_PASSWORD_RESET=2/1h",
			"AUTHQL_RATE_LIMIT_PASSWORD_RESET_IP=3/1h", "AUTHQL_RATE_LIMIT_VERIFY_EMAIL=1/1h", "AUTHQL_RATE_LIMIT_CHANGE_PASSWORD=2/1h")
		limited := func(t *testing.T, r req) {
			t.Helper()
			resp := e.wantCode(r, "RATE_LIMITED")
			if ra, _ := resp.Errors[0].Extensions["retryAfter"].(float64); ra <= 0 {
				t.Fatalf("retryAfter %v", resp.Errors[0].Extensions["retryAfter"])
			}
		}
		t.Run("reset per address, known or not", func(t *testing.T) {
			unknown := newEmail()
			e.requestReset(unknown)
			e.requestReset(strings.ToUpper(unknown)) // one address, however spelled
			limited(t, req{query: requestResetQ, vars: map[string]any{"e": unknown}})
		})
		t.Run("reset per client IP", func(t *testing.T) {
			// The refusal above gave its IP attempt back: 2 of 3 spent.
			e.requestReset(newEmail())
			limited(t, req{query: requestResetQ, vars: map[string]any{"e": newEmail()}})
		})
		t.Run("verification mail per account", func(t *testing.T) {
			s := e.signup(newEmail(), pw)
			var ok bool
			e.must(req{query: resendQ, headers: bearer(s.AccessToken)}, "resendVerificationEmail", &ok)
			limited(t, req{query: resendQ, headers: bearer(s.AccessToken)})
		})
		t.Run("deleteAccount per account", func(t *testing.T) {
			s := e.signup(newEmail(), pw)
			wrong := req{query: deleteQ, vars: map[string]any{"p": "not the password"}, headers: bearer(s.AccessToken)}
			e.wantCode(wrong, "INVALID_CREDENTIALS")
			e.wantCode(wrong, "INVALID_CREDENTIALS")
			limited(t, wrong)
			limited(t, req{query: changePwQ, vars: map[string]any{"c": pw, "n": "whatever else"}, headers: bearer(s.AccessToken)})
		})
	})
}
