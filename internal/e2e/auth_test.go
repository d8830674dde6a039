package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authql/authql/internal/store/storetest"
)

const pw = "correct horse battery"

func TestSignupAndMe(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		email := newEmail()
		p := e.signup("  "+strings.ToUpper(email)+" ", pw)
		if p.TokenType != "Bearer" || p.AccessToken == "" || p.refresh() == "" {
			t.Fatalf("payload: %+v", p)
		}
		if p.User.Email != email || p.User.ID == "" || p.User.CreatedAt.IsZero() {
			t.Fatalf("user not normalized: %+v", p.User)
		}
		if p.ExpiresIn < 895 || p.ExpiresIn > 900 {
			t.Errorf("expiresIn = %d, want about 900", p.ExpiresIn)
		}
		if d := time.Until(p.AccessTokenExpiresAt); d < 14*time.Minute || d > 15*time.Minute+time.Second {
			t.Errorf("accessTokenExpiresAt in %v", d)
		}
		if d := time.Until(p.RefreshTokenExpiresAt); d < 167*time.Hour || d > 168*time.Hour+time.Second {
			t.Errorf("refreshTokenExpiresAt in %v", d)
		}
		u, code := e.me(p.AccessToken)
		if code != "" || u.ID != p.User.ID || u.Email != email {
			t.Fatalf("me = %+v, %s", u, code)
		}
		// Login with any spelling of the address.
		l := e.login(" "+strings.ToUpper(email), pw)
		if l.User.ID != p.User.ID {
			t.Fatalf("login found another user")
		}
	})
}

func TestSignupInputErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		long := strings.Repeat("a", 64)
		cases := []struct {
			name, email, password, field string
		}{
			{"empty email", "", pw, "email"},
			{"no at", "alice.example.com", pw, "email"},
			{"no domain dot", "alice@localhost", pw, "email"},
			{"display name", "Alice <alice@example.com>", pw, "email"},
			{"angle brackets", "<alice@example.com>", pw, "email"},
			{"inner space", "ali ce@example.com", pw, "email"},
			{"control char", "ali\x01ce@example.com", pw, "email"},
			{"two ats", "a@b@example.com", pw, "email"},
			{"local too long", long + "a@example.com", pw, "email"},
			{"too long", long + "@" + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + "." + strings.Repeat("e", 10) + ".com", pw, "email"},
			{"leading dot", ".alice@example.com", pw, "email"},
			{"quoted", `"alice"@example.com`, pw, "email"},
			{"password short", newEmail(), "1234567", "password"},
			{"password empty", newEmail(), "", "password"},
			{"password too long", newEmail(), strings.Repeat("p", 1025), "password"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				resp := e.wantCode(req{query: signupQ, vars: map[string]any{"e": c.email, "p": c.password}}, "BAD_USER_INPUT")
				if got := resp.Errors[0].Extensions["field"]; got != c.field {
					t.Errorf("field = %v, want %s", got, c.field)
				}
				if string(resp.Data["signup"]) != "" && string(resp.Data["signup"]) != "null" {
					t.Errorf("data despite error: %s", resp.Data["signup"])
				}
			})
		}
		t.Run("password limits are inclusive and never truncated", func(t *testing.T) {
			email := newEmail()
			long := strings.Repeat("é", 1024) // 1024 characters, 2048 bytes
			e.signup(email, long)
			e.login(email, long)
			e.wantCode(req{query: loginQ, vars: map[string]any{"e": email, "p": long[:len(long)-2] + "e"}}, "INVALID_CREDENTIALS")
			e.signup(newEmail(), "12345678")
		})
		t.Run("254 characters is accepted", func(t *testing.T) {
			email := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 57) + ".com"
			if len(email) != 254 {
				t.Fatalf("len %d", len(email))
			}
			e.signup(email, pw)
		})
	})
}

func TestEmailTaken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		email := newEmail()
		e.signup(email, pw)
		for _, variant := range []string{email, strings.ToUpper(email), "  " + email + "\t"} {
			e.wantCode(req{query: signupQ, vars: map[string]any{"e": variant, "p": "another password"}}, "EMAIL_TAKEN")
		}
		// The first account is intact.
		e.login(email, pw)
	})
}

func TestRacingSignups(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		email := newEmail()
		const n = 10
		codes := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Different spellings of one address race on the unique index.
				variant := email
				if i%2 == 1 {
					variant = strings.ToUpper(email)
				}
				codes[i] = e.do(req{query: signupQ, vars: map[string]any{"e": variant, "p": pw}}).code()
			}()
		}
		wg.Wait()
		wins := 0
		for _, c := range codes {
			switch c {
			case "":
				wins++
			case "EMAIL_TAKEN":
			default:
				t.Errorf("unexpected code %q", c)
			}
		}
		if wins != 1 {
			t.Fatalf("%d signups won, want exactly 1 (codes %v)", wins, codes)
		}
	})
}

func TestLoginErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		email := newEmail()
		e.signup(email, pw)
		wrong := e.wantCode(req{query: loginQ, vars: map[string]any{"e": email, "p": "wrong password"}}, "INVALID_CREDENTIALS")
		unknown := e.wantCode(req{query: loginQ, vars: map[string]any{"e": newEmail(), "p": pw}}, "INVALID_CREDENTIALS")
		if wrong.Errors[0].Message != unknown.Errors[0].Message {
			t.Errorf("messages differ: %q vs %q", wrong.Errors[0].Message, unknown.Errors[0].Message)
		}
		resp := e.wantCode(req{query: loginQ, vars: map[string]any{"e": "not an email", "p": pw}}, "BAD_USER_INPUT")
		if resp.Errors[0].Extensions["field"] != "email" {
			t.Errorf("field = %v", resp.Errors[0].Extensions["field"])
		}
	})
}

func TestRefreshRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		s := e.signup(newEmail(), pw)
		r1, resp := e.refresh(s.refresh())
		if resp.code() != "" {
			t.Fatalf("refresh: %s", resp.Raw)
		}
		if r1.refresh() == s.refresh() || r1.AccessToken == s.AccessToken {
			t.Fatal("refresh did not rotate")
		}
		if r1.User.ID != s.User.ID {
			t.Fatalf("user %+v", r1.User)
		}
		if _, code := e.me(r1.AccessToken); code != "" {
			t.Fatalf("new access token refused: %s", code)
		}
		// The old access token still works until it expires: the session lives.
		if _, code := e.me(s.AccessToken); code != "" {
			t.Fatalf("old access token of a live session refused: %s", code)
		}
		r2, resp := e.refresh(r1.refresh())
		if resp.code() != "" || r2.refresh() == r1.refresh() {
			t.Fatalf("second rotation: %s", resp.Raw)
		}
	})
}

func TestRefreshGraceWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db, "AUTHQL_REFRESH_REUSE_GRACE=1h")
		s := e.signup(newEmail(), pw)
		r1, _ := e.refresh(s.refresh())
		// The predecessor, within the window: the current token back, not a sibling.
		again, resp := e.refresh(s.refresh())
		if resp.code() != "" {
			t.Fatalf("grace refresh refused: %s", resp.Raw)
		}
		if again.refresh() != r1.refresh() {
			t.Fatal("grace refresh returned a different refresh token")
		}
		if again.AccessToken == "" {
			t.Fatal("no access token")
		}
		// The current token still rotates normally afterwards.
		r2, resp := e.refresh(r1.refresh())
		if resp.code() != "" {
			t.Fatalf("rotation after grace: %s", resp.Raw)
		}
		// The original token is now an older ancestor: reuse, at any time.
		_, resp = e.refresh(s.refresh())
		if resp.code() != "INVALID_REFRESH_TOKEN" {
			t.Fatalf("ancestor reuse: %s", resp.Raw)
		}
		assertRevoked(t, e, r2)
	})
}

func TestRefreshReuseRevokesSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk, "AUTHQL_REFRESH_REUSE_GRACE=0s")
		s := e.signup(newEmail(), pw)
		other := e.login(s.User.Email, pw) // another session of the same user
		r1, _ := e.refresh(s.refresh())
		clk.Advance(time.Millisecond) // past the grace window of 0s
		_, resp := e.refresh(s.refresh())
		if resp.code() != "INVALID_REFRESH_TOKEN" {
			t.Fatalf("reuse: %s", resp.Raw)
		}
		assertRevoked(t, e, r1)
		if _, code := e.me(s.AccessToken); code != "UNAUTHENTICATED" {
			t.Fatalf("old access token of a revoked session: %q", code)
		}
		// Other sessions are untouched.
		if _, code := e.me(other.AccessToken); code != "" {
			t.Fatalf("other session hit: %s", code)
		}
		if _, resp := e.refresh(other.refresh()); resp.code() != "" {
			t.Fatalf("other session refresh: %s", resp.Raw)
		}
	})
}

// assertRevoked checks that a session's newest pair no longer works.
func assertRevoked(t *testing.T, e *env, newest payload) {
	t.Helper()
	if _, code := e.me(newest.AccessToken); code != "UNAUTHENTICATED" {
		t.Fatalf("access token of a revoked session: %q", code)
	}
	if _, resp := e.refresh(newest.refresh()); resp.code() != "INVALID_REFRESH_TOKEN" {
		t.Fatalf("newest refresh token of a revoked session: %s", resp.Raw)
	}
}

func TestConcurrentRefreshConverges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		s := e.signup(newEmail(), pw)
		const n = 10
		got := make([]string, n)
		errs := make([]string, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		began := time.Now()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				p, resp := e.refresh(s.refresh())
				got[i], errs[i] = p.refresh(), string(resp.Raw)
				if resp.code() == "" {
					errs[i] = ""
				}
			}()
		}
		close(start)
		wg.Wait()
		t.Logf("%d concurrent refreshes of one token on %s took %v", n, db.Name, time.Since(began))
		for i := range n {
			if errs[i] != "" {
				t.Fatalf("goroutine %d: %s", i, errs[i])
			}
			if got[i] != got[0] || got[i] == "" || got[i] == s.refresh() {
				t.Fatalf("goroutine %d got a different token", i)
			}
		}
		// The converged token is the session's current one.
		if _, resp := e.refresh(got[0]); resp.code() != "" {
			t.Fatalf("converged token does not rotate: %s", resp.Raw)
		}
	})
}

func TestLogout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		s := e.signup(newEmail(), pw)
		var ok bool
		e.must(req{query: logoutQ, vars: map[string]any{"t": s.refresh()}}, "logout", &ok)
		if !ok {
			t.Fatal("logout returned false")
		}
		assertRevoked(t, e, s)
		// Idempotent.
		e.must(req{query: logoutQ, vars: map[string]any{"t": s.refresh()}}, "logout", &ok)
		if !ok {
			t.Fatal("second logout returned false")
		}
		for name, tok := range map[string]string{
			"garbage":      "not-a-token",
			"access token": s.AccessToken,
			"tampered":     tamper(s.refresh()),
			"empty":        "",
		} {
			t.Run(name, func(t *testing.T) {
				e.wantCode(req{query: logoutQ, vars: map[string]any{"t": tok}}, "INVALID_REFRESH_TOKEN")
			})
		}
		t.Run("omitted without cookie mode", func(t *testing.T) {
			e.wantCode(req{query: `mutation { logout }`}, "INVALID_REFRESH_TOKEN")
		})
	})
}

func TestLogoutAll(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		a := e.signup(newEmail(), pw)
		b := e.login(a.User.Email, pw)
		stranger := e.signup(newEmail(), pw)
		e.wantCode(req{query: `mutation { logoutAll }`}, "UNAUTHENTICATED")
		var ok bool
		e.must(req{query: `mutation { logoutAll }`, headers: bearer(b.AccessToken)}, "logoutAll", &ok)
		if !ok {
			t.Fatal("logoutAll returned false")
		}
		assertRevoked(t, e, a)
		assertRevoked(t, e, b)
		if _, code := e.me(stranger.AccessToken); code != "" {
			t.Fatal("another user's session was revoked")
		}
	})
}

// TestMutationAfterOwnRevocation: a mutation's fields run one after another,
// and a field after one that revoked the caller's own session runs
// unauthenticated, as a request after it would, and changes nothing.
func TestMutationAfterOwnRevocation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		a := e.signup(newEmail(), pw)
		b := e.login(a.User.Email, pw)
		var other string
		for _, s := range e.sessions(b.AccessToken) {
			if !s.Current {
				other = s.ID
			}
		}
		resp := e.do(req{query: `mutation($id: ID!) { logoutAll revokeSession(id: $id) }`, vars: map[string]any{"id": other}, headers: bearer(b.AccessToken)})
		if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "UNAUTHENTICATED" || len(resp.Errors[0].Path) != 1 || resp.Errors[0].Path[0] != "revokeSession" {
			t.Fatalf("revokeSession after logoutAll in one request: %s, want UNAUTHENTICATED", resp.Raw)
		}
		// logoutAll itself ran (the refused non-null field nulls data).
		assertRevoked(t, e, b)
	})
}

type session struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	UserAgent  *string   `json:"userAgent"`
	IPAddress  *string   `json:"ipAddress"`
	Current    bool      `json:"current"`
}

func (e *env) sessions(access string) []session {
	e.t.Helper()
	var out []session
	e.must(req{query: sessionsQ, headers: bearer(access)}, "sessions", &out)
	return out
}

func TestSessionsAndRevokeSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		email := newEmail()
		a := e.signup(email, pw)
		var b payload
		e.must(req{query: loginQ, vars: map[string]any{"e": email, "p": pw}, headers: map[string]string{"User-Agent": "second-browser/1.0"}}, "login", &b)
		list := e.sessions(a.AccessToken)
		if len(list) != 2 {
			t.Fatalf("sessions: %+v", list)
		}
		var mine, other session
		for _, s := range list {
			if s.Current {
				mine = s
			} else {
				other = s
			}
		}
		if mine.ID == "" || other.ID == "" || other.UserAgent == nil || *other.UserAgent != "second-browser/1.0" {
			t.Fatalf("current flags or user agent wrong: %+v", list)
		}
		if other.IPAddress == nil || *other.IPAddress != "127.0.0.1" {
			t.Fatalf("ip: %v", other.IPAddress)
		}
		if !other.ExpiresAt.After(other.CreatedAt.Add(719*time.Hour)) || other.LastUsedAt.Before(other.CreatedAt) {
			t.Fatalf("times: %+v", other)
		}
		stranger := e.signup(newEmail(), pw)
		revokeQ := `mutation($id: ID!) { revokeSession(id: $id) }`
		// Another user's session is never revealed, and never revoked.
		e.wantCode(req{query: revokeQ, vars: map[string]any{"id": other.ID}, headers: bearer(stranger.AccessToken)}, "NOT_FOUND")
		e.wantCode(req{query: revokeQ, vars: map[string]any{"id": "no-such-session"}, headers: bearer(a.AccessToken)}, "NOT_FOUND")
		e.wantCode(req{query: revokeQ, vars: map[string]any{"id": other.ID}}, "UNAUTHENTICATED")
		if _, code := e.me(b.AccessToken); code != "" {
			t.Fatal("session revoked by a stranger")
		}
		var ok bool
		e.must(req{query: revokeQ, vars: map[string]any{"id": other.ID}, headers: bearer(a.AccessToken)}, "revokeSession", &ok)
		if !ok {
			t.Fatal("revokeSession returned false")
		}
		assertRevoked(t, e, b)
		if got := e.sessions(a.AccessToken); len(got) != 1 || !got[0].Current {
			t.Fatalf("after revoke: %+v", got)
		}
	})
}

func TestChangePassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		email := newEmail()
		a := e.signup(email, pw)
		b := e.login(email, pw)
		const next = "a brand new passphrase"
		e.wantCode(req{query: changePwQ, vars: map[string]any{"c": pw, "n": next}}, "UNAUTHENTICATED")
		e.wantCode(req{query: changePwQ, vars: map[string]any{"c": "wrong password", "n": next}, headers: bearer(a.AccessToken)}, "INVALID_CREDENTIALS")
		resp := e.wantCode(req{query: changePwQ, vars: map[string]any{"c": pw, "n": "short"}, headers: bearer(a.AccessToken)}, "BAD_USER_INPUT")
		if resp.Errors[0].Extensions["field"] != "newPassword" {
			t.Fatalf("field %v", resp.Errors[0].Extensions["field"])
		}
		resp = e.wantCode(req{query: changePwQ, vars: map[string]any{"c": "", "n": next}, headers: bearer(a.AccessToken)}, "BAD_USER_INPUT")
		if resp.Errors[0].Extensions["field"] != "currentPassword" {
			t.Fatalf("field %v", resp.Errors[0].Extensions["field"])
		}
		var fresh payload
		e.must(req{query: changePwQ, vars: map[string]any{"c": pw, "n": next}, headers: bearer(a.AccessToken)}, "changePassword", &fresh)
		if fresh.AccessToken == "" || fresh.refresh() == "" || fresh.refresh() == a.refresh() {
			t.Fatalf("no fresh pair: %+v", fresh)
		}
		assertRevoked(t, e, b)
		if _, code := e.me(fresh.AccessToken); code != "" {
			t.Fatalf("fresh pair refused: %s", code)
		}
		if _, resp := e.refresh(fresh.refresh()); resp.code() != "" {
			t.Fatalf("fresh refresh token refused: %s", resp.Raw)
		}
		e.wantCode(req{query: loginQ, vars: map[string]any{"e": email, "p": pw}}, "INVALID_CREDENTIALS")
		e.login(email, next)
	})
}

func TestSessionAbsoluteLifetime(t *testing.T) {
	clk := newClock()
	e := startClocked(t, storetest.SQLite(t), clk, "AUTHQL_SESSION_MAX_AGE=2s", "AUTHQL_REFRESH_TOKEN_TTL=1h")
	s := e.signup(newEmail(), pw)
	limit := clk.Now().Add(2 * time.Second)
	if s.RefreshTokenExpiresAt.After(limit) || s.AccessTokenExpiresAt.After(limit) {
		t.Fatalf("tokens outlive the session: %v %v", s.RefreshTokenExpiresAt, s.AccessTokenExpiresAt)
	}
	r, resp := e.refresh(s.refresh())
	if resp.code() != "" {
		t.Fatalf("refresh: %s", resp.Raw)
	}
	if !r.RefreshTokenExpiresAt.Equal(s.RefreshTokenExpiresAt) {
		t.Fatalf("rotation extended the session: %v -> %v", s.RefreshTokenExpiresAt, r.RefreshTokenExpiresAt)
	}
	clk.Advance(s.RefreshTokenExpiresAt.Sub(clk.Now())) // to the session's last instant: refused from it on
	if _, resp := e.refresh(r.refresh()); resp.code() != "INVALID_REFRESH_TOKEN" {
		t.Fatalf("refresh after the session's end: %s", resp.Raw)
	}
	if _, code := e.me(r.AccessToken); code != "UNAUTHENTICATED" {
		t.Fatalf("access token after the session's end: %s", code)
	}
	var ok bool
	e.must(req{query: logoutQ, vars: map[string]any{"t": r.refresh()}}, "logout", &ok)
	if !ok {
		t.Fatal("logout of an expired session must answer true")
	}
}

func TestGraphQLErrorCodes(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	resp := e.do(req{query: `{ nope }`})
	if resp.code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("validation: %s", resp.Raw)
	}
	resp = e.do(req{query: `{ me { id `})
	if resp.code() != "GRAPHQL_PARSE_FAILED" {
		t.Fatalf("parse: %s", resp.Raw)
	}
	// A variable that does not fit its type is a malformed argument.
	resp = e.do(req{query: `mutation($t: String) { refreshToken(token: $t) { accessToken } }`, vars: map[string]any{"t": map[string]any{"x": 1}}})
	if resp.code() != "BAD_USER_INPUT" || resp.Errors[0].Extensions["field"] != "t" || resp.Status >= 500 {
		t.Fatalf("wrong variable type: %d %s", resp.Status, resp.Raw)
	}
	resp = e.do(req{query: `mutation($i: SignupInput!) { signup(input: $i) { accessToken } }`, vars: map[string]any{"i": map[string]any{"email": "a@example.com"}}})
	if resp.code() != "BAD_USER_INPUT" || resp.Errors[0].Extensions["field"] != "password" {
		t.Fatalf("missing input field: %d %s", resp.Status, resp.Raw)
	}
}
