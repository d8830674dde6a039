package e2e

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/totp"
)

// TestMFALogin: enroll, confirm, and a login that answers MFA_REQUIRED and
// completes with a code of the step before, of the current step or of the
// one after, never two away; the session's tokens say amr pwd otp, also after
// a refresh; a code is accepted once per account.
func TestMFALogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk, "AUTHQL_ISSUER=Acme Inc")
		email := newEmail()
		s := e.signup(email, pw)
		wantAMR(t, s.AccessToken, "pwd")
		if e.mfaEnabled(s.AccessToken) {
			t.Fatal("mfaEnabled before any factor")
		}
		en := e.enroll(s.AccessToken)
		if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(en.Secret) {
			t.Fatalf("secret %q is not 160 bits of unpadded base32", en.Secret)
		}
		u, err := url.Parse(en.URI)
		if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Acme Inc:"+email ||
			u.Query().Get("secret") != en.Secret || u.Query().Get("issuer") != "Acme Inc" ||
			u.Query().Get("algorithm") != "SHA1" || u.Query().Get("digits") != "6" || u.Query().Get("period") != "30" {
			t.Fatalf("uri %q", en.URI)
		}
		if e.mfaEnabled(s.AccessToken) {
			t.Fatal("mfaEnabled before confirmation")
		}
		// Until confirmed, the password alone still logs in.
		wantAMR(t, e.login(email, pw).AccessToken, "pwd")

		t0 := clk.Now()
		e.wantCode(req{query: confirmQ, vars: map[string]any{"c": codeAt(t, en.Secret, t0.Add(2*totp.Period))}, headers: bearer(s.AccessToken)}, "INVALID_MFA_CODE")
		codes := e.confirm(s.AccessToken, codeAt(t, en.Secret, t0))
		if len(codes) != 10 {
			t.Fatalf("%d recovery codes", len(codes))
		}
		for _, c := range codes {
			if !regexp.MustCompile(`^[0-9a-z]{5}-[0-9a-z]{5}$`).MatchString(c) {
				t.Fatalf("recovery code %q", c)
			}
		}
		if !e.mfaEnabled(s.AccessToken) {
			t.Fatal("mfaEnabled false after confirmation")
		}

		// The code that confirmed cannot log in.
		tok := e.mfaToken(email)
		if _, resp := e.verifyMfa(tok, codeAt(t, en.Secret, t0)); resp.code() != "INVALID_MFA_CODE" {
			t.Fatalf("the confirming code at login: %s", resp.Raw)
		}

		clk.Advance(3 * totp.Period) // now step t0+3
		now := clk.Now()
		for _, c := range []struct {
			name  string
			at    time.Time
			wants string
		}{
			{"two steps before", now.Add(-2 * totp.Period), "INVALID_MFA_CODE"},
			{"step before", now.Add(-totp.Period), ""},
			{"current step", now, ""},
			{"step after", now.Add(totp.Period), ""},
			{"two steps after", now.Add(2 * totp.Period), "INVALID_MFA_CODE"},
		} {
			tok := e.mfaToken(email)
			p, resp := e.verifyMfa(tok, codeAt(t, en.Secret, c.at))
			if resp.code() != c.wants {
				t.Fatalf("%s: %s, want %q", c.name, resp.Raw, c.wants)
			}
			if c.wants != "" {
				continue
			}
			wantAMR(t, p.AccessToken, "pwd", "otp")
			if p.User.Email != email || p.refresh() == "" {
				t.Fatalf("%s: payload %+v", c.name, p)
			}
			r, resp := e.refresh(p.refresh())
			if resp.code() != "" {
				t.Fatalf("%s: refresh: %s", c.name, resp.Raw)
			}
			wantAMR(t, r.AccessToken, "pwd", "otp")
			if _, code := e.me(r.AccessToken); code != "" {
				t.Fatalf("%s: me: %s", c.name, code)
			}
			// The same code again, on another login: a replay.
			if _, resp := e.verifyMfa(e.mfaToken(email), codeAt(t, en.Secret, c.at)); resp.code() != "INVALID_MFA_CODE" {
				t.Fatalf("%s: replayed: %s", c.name, resp.Raw)
			}
		}
		// The step after was used: the current step, older, is refused too.
		if _, resp := e.verifyMfa(e.mfaToken(email), codeAt(t, en.Secret, now)); resp.code() != "INVALID_MFA_CODE" {
			t.Fatalf("a code older than the last used: %s", resp.Raw)
		}

		types := e.auditTypes(s.AccessToken)
		for _, want := range []string{"mfa_enabled", "mfa_failed", "login"} {
			if !slices.Contains(types, want) {
				t.Fatalf("audit trail %v has no %s", types, want)
			}
		}
	})
}

// TestMFARecoveryCodes: a recovery code stands in for a TOTP code once,
// typed any way a user might; a second use is refused.
func TestMFARecoveryCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk)
		a := e.withMFA(t, clk)
		p := e.mustVerify(e.mfaToken(a.email), a.recovery[0])
		wantAMR(t, p.AccessToken, "pwd", "otp")
		if _, resp := e.verifyMfa(e.mfaToken(a.email), a.recovery[0]); resp.code() != "INVALID_MFA_CODE" {
			t.Fatalf("a spent recovery code: %s", resp.Raw)
		}
		typed := strings.ToUpper(strings.ReplaceAll(a.recovery[1], "-", " "))
		e.mustVerify(e.mfaToken(a.email), typed)
		if _, resp := e.verifyMfa(e.mfaToken(a.email), a.recovery[1]); resp.code() != "INVALID_MFA_CODE" {
			t.Fatalf("a spent recovery code, as shown: %s", resp.Raw)
		}
		// Another account's code is no code here.
		b := e.withMFA(t, clk)
		if _, resp := e.verifyMfa(e.mfaToken(a.email), b.recovery[0]); resp.code() != "INVALID_MFA_CODE" {
			t.Fatalf("another account's recovery code: %s", resp.Raw)
		}
		if types := e.auditTypes(p.AccessToken); !slices.Contains(types, "recovery_code_used") {
			t.Fatalf("audit trail %v has no recovery_code_used", types)
		}
	})
}

// TestMFATokenLife: an mfaToken dies after 5 wrong codes (the right one then
// too), works after 4, is single-use, expires after AUTHQL_MFA_TOKEN_TTL,
// and is refused unknown.
func TestMFATokenLife(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk, "AUTHQL_MFA_TOKEN_TTL=2m")
		a := e.withMFA(t, clk)
		right := func() string { return codeAt(t, a.secret, clk.Now()) }

		tok := e.mfaToken(a.email)
		for i := range 5 {
			if _, resp := e.verifyMfa(tok, "000000"); resp.code() != "INVALID_MFA_CODE" {
				t.Fatalf("wrong code %d: %s", i+1, resp.Raw)
			}
		}
		if _, resp := e.verifyMfa(tok, right()); resp.code() != "INVALID_TOKEN" {
			t.Fatalf("the right code after 5 wrong: %s", resp.Raw)
		}

		tok = e.mfaToken(a.email)
		for range 4 {
			e.verifyMfa(tok, "not a code")
		}
		e.mustVerify(tok, right())
		clk.Advance(totp.Period)
		if _, resp := e.verifyMfa(tok, right()); resp.code() != "INVALID_TOKEN" {
			t.Fatalf("a used mfaToken: %s", resp.Raw)
		}

		tok = e.mfaToken(a.email)
		clk.Advance(2*time.Minute - time.Second)
		clk.Advance(time.Second)
		if _, resp := e.verifyMfa(tok, right()); resp.code() != "INVALID_TOKEN" {
			t.Fatalf("an mfaToken at its expiry: %s", resp.Raw)
		}
		tok = e.mfaToken(a.email)
		clk.Advance(2*time.Minute - time.Second)
		e.mustVerify(tok, right())

		clk.Advance(totp.Period)
		for _, bogus := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("A", 5000)} {
			if _, resp := e.verifyMfa(bogus, right()); resp.code() != "INVALID_TOKEN" {
				t.Fatalf("mfaToken %.10q: %s", bogus, resp.Raw)
			}
		}
	})
}

// TestDisableTOTP: a current TOTP code or a recovery code turns MFA off, the
// pending logins' tokens die with it, and the password alone logs in again.
func TestDisableTOTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk)
		a := e.withMFA(t, clk)
		access := a.first.AccessToken
		pending := e.mfaToken(a.email)
		e.wantCode(req{query: disableQ, vars: map[string]any{"c": "123456x"}, headers: bearer(access)}, "INVALID_MFA_CODE")
		e.wantCode(req{query: disableQ, vars: map[string]any{"c": a.recovery[0] + "0"}, headers: bearer(access)}, "INVALID_MFA_CODE")
		e.wantCode(req{query: disableQ, vars: map[string]any{"c": codeAt(t, a.secret, clk.Now())}}, "UNAUTHENTICATED")
		var ok bool
		e.must(req{query: disableQ, vars: map[string]any{"c": codeAt(t, a.secret, clk.Now())}, headers: bearer(access)}, "disableTotp", &ok)
		if !ok || e.mfaEnabled(access) {
			t.Fatalf("disableTotp %v, mfaEnabled %v", ok, e.mfaEnabled(access))
		}
		if _, resp := e.verifyMfa(pending, codeAt(t, a.secret, clk.Now().Add(totp.Period))); resp.code() != "INVALID_TOKEN" {
			t.Fatalf("an mfaToken of before the disable: %s", resp.Raw)
		}
		wantAMR(t, e.login(a.email, pw).AccessToken, "pwd")
		e.wantCode(req{query: disableQ, vars: map[string]any{"c": codeAt(t, a.secret, clk.Now())}, headers: bearer(access)}, "BAD_USER_INPUT")

		// Again, with a new secret, turned off by a recovery code; the old
		// factor's codes are gone with it.
		en := e.enroll(access)
		if en.Secret == a.secret {
			t.Fatal("re-enrollment reused the secret")
		}
		codes := e.confirm(access, codeAt(t, en.Secret, clk.Now()))
		e.wantCode(req{query: disableQ, vars: map[string]any{"c": a.recovery[1]}, headers: bearer(access)}, "INVALID_MFA_CODE")
		e.must(req{query: disableQ, vars: map[string]any{"c": codes[9]}, headers: bearer(access)}, "disableTotp", &ok)
		if !ok || e.mfaEnabled(access) {
			t.Fatal("disable by recovery code")
		}
		types := e.auditTypes(access)
		if n := strings.Count(strings.Join(types, " "), "mfa_disabled"); n != 2 {
			t.Fatalf("%d mfa_disabled events in %v", n, types)
		}
	})
}

// TestEnrollmentRules: enrolling while MFA is on is refused, confirming
// needs a pending enrollment, and a new enrollment replaces a pending one.
func TestEnrollmentRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk)
		s := e.signup(newEmail(), pw)
		resp := e.wantCode(req{query: confirmQ, vars: map[string]any{"c": "123456"}, headers: bearer(s.AccessToken)}, "BAD_USER_INPUT")
		if !strings.Contains(resp.Errors[0].Message, "enrollTotp") {
			t.Fatalf("confirm without enrollment: %s", resp.Raw)
		}
		old := e.enroll(s.AccessToken)
		fresh := e.enroll(s.AccessToken)
		e.wantCode(req{query: confirmQ, vars: map[string]any{"c": codeAt(t, old.Secret, clk.Now())}, headers: bearer(s.AccessToken)}, "INVALID_MFA_CODE")
		e.confirm(s.AccessToken, codeAt(t, fresh.Secret, clk.Now()))
		resp = e.wantCode(req{query: enrollQ, headers: bearer(s.AccessToken)}, "BAD_USER_INPUT")
		if !strings.Contains(resp.Errors[0].Message, "disable MFA first") {
			t.Fatalf("enroll while enabled: %s", resp.Raw)
		}
		clk.Advance(totp.Period)
		e.wantCode(req{query: confirmQ, vars: map[string]any{"c": codeAt(t, fresh.Secret, clk.Now())}, headers: bearer(s.AccessToken)}, "BAD_USER_INPUT")
		e.wantCode(req{query: enrollQ}, "UNAUTHENTICATED")
	})
}

// TestPasswordChangeVoidsMFAToken: an mfaToken of a login that verified the
// old password does not start a session after the password changed.
func TestPasswordChangeVoidsMFAToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk)
		a := e.withMFA(t, clk)
		pending := e.mfaToken(a.email)
		e.must(req{query: changePwQ, vars: map[string]any{"c": pw, "n": "a brand new passphrase"}, headers: bearer(a.first.AccessToken)}, "changePassword", &payload{})
		if _, resp := e.verifyMfa(pending, codeAt(t, a.secret, clk.Now())); resp.code() != "INVALID_TOKEN" {
			t.Fatalf("verifyMfa after a password change: %s", resp.Raw)
		}
		// The code was not spent by the refusal.
		resp := e.wantCode(req{query: loginQ, vars: map[string]any{"e": a.email, "p": "a brand new passphrase"}}, "MFA_REQUIRED")
		e.mustVerify(resp.Errors[0].Extensions["mfaToken"].(string), codeAt(t, a.secret, clk.Now()))
	})
}

// TestMFAChallengesArePruned: the background pruner deletes expired
// challenges, and only those.
func TestMFAChallengesArePruned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk, "AUTHQL_MFA_TOKEN_TTL=1m")
		a := e.withMFA(t, clk)
		e.mfaToken(a.email)
		e.mfaToken(a.email)
		clk.Advance(time.Minute + time.Second)
		live := e.mfaToken(a.email)
		sqlDB := storetest.SQL(t, db)
		count := func() int {
			var n int
			if err := sqlDB.QueryRow("SELECT COUNT(*) FROM mfa_challenges").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count(); n != 3 {
			t.Fatalf("%d challenges before pruning", n)
		}
		runBackgroundUntil(t, e, func() bool { return count() == 1 })
		e.mustVerify(live, codeAt(t, a.secret, clk.Now()))
	})
}
