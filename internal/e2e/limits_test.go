package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/authql/authql/internal/store/storetest"
)

// aliasedLogins is one request of n login fields for one account.
func aliasedLogins(n int, email, password string) string {
	var b strings.Builder
	b.WriteString("mutation {")
	for i := range n {
		fmt.Fprintf(&b, " l%d: login(input: {email: %q, password: %q}) { accessToken }", i, email, password)
	}
	b.WriteString(" }")
	return b.String()
}

// codesByAlias maps each aliased field of a response to its error code ("" for success).
func codesByAlias(t *testing.T, resp *response, n int) []string {
	t.Helper()
	codes := make([]string, n)
	for _, err := range resp.Errors {
		if len(err.Path) != 1 {
			t.Fatalf("error without a field path: %+v", err)
		}
		var i int
		fmt.Sscanf(err.Path[0].(string), "l%d", &i)
		codes[i], _ = err.Extensions["code"].(string)
		if codes[i] == "RATE_LIMITED" {
			if ra, ok := err.Extensions["retryAfter"].(float64); !ok || ra < 1 || ra > 15*60 {
				t.Fatalf("retryAfter %v", err.Extensions["retryAfter"])
			}
		}
	}
	return codes
}

func TestAliasedLoginsCountAsAttempts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db, "AUTHQL_RATE_LIMIT=on")
		email := newEmail()
		e.signup(email, pw)
		resp := e.do(req{query: aliasedLogins(60, email, "wrong password")})
		codes := codesByAlias(t, resp, 60)
		for i, c := range codes {
			want := "INVALID_CREDENTIALS"
			if i >= 10 {
				want = "RATE_LIMITED"
			}
			if c != want {
				t.Fatalf("attempt %d: %q, want %s (all: %v)", i+1, c, want, codes)
			}
		}
		// Locked for this account and address, even with the right password ...
		e.wantCode(req{query: loginQ, vars: map[string]any{"e": email, "p": pw}}, "RATE_LIMITED")
		// ... but not for other accounts.
		other := newEmail()
		e.signup(other, pw)
		e.login(other, pw)
	})
}

func TestMistypesDoNotLockOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db, "AUTHQL_RATE_LIMIT=on")
		email := newEmail()
		e.signup(email, pw)
		wrong := req{query: loginQ, vars: map[string]any{"e": email, "p": "wrong password"}}
		for range 3 {
			e.wantCode(wrong, "INVALID_CREDENTIALS")
		}
		e.login(email, pw) // a success is not counted
		for i := range 7 {
			if code := e.do(wrong).code(); code != "INVALID_CREDENTIALS" {
				t.Fatalf("failure %d: %s", 4+i, code)
			}
		}
		e.wantCode(wrong, "RATE_LIMITED") // the 11th failure in the window
	})
}

func TestClientAddressAndProxies(t *testing.T) {
	t.Run("X-Forwarded-For from an untrusted peer is ignored", func(t *testing.T) {
		e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=on", "AUTHQL_RATE_LIMIT_LOGIN=2/15m")
		email := newEmail()
		e.signup(email, pw)
		for i := range 3 {
			resp := e.do(req{query: loginQ, vars: map[string]any{"e": email, "p": "wrong password"},
				headers: map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)}})
			want := "INVALID_CREDENTIALS"
			if i == 2 {
				want = "RATE_LIMITED"
			}
			if resp.code() != want {
				t.Fatalf("attempt %d: %s (spoofed addresses must not dodge the limit)", i+1, resp.code())
			}
		}
	})
	t.Run("a trusted proxy's X-Forwarded-For names the client", func(t *testing.T) {
		e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=on", "AUTHQL_RATE_LIMIT_LOGIN=2/15m", "AUTHQL_TRUSTED_PROXIES=127.0.0.0/8,::1")
		email := newEmail()
		e.signup(email, pw)
		from := func(ip string) string {
			return e.do(req{query: loginQ, vars: map[string]any{"e": email, "p": "wrong password"},
				headers: map[string]string{"X-Forwarded-For": "198.51.100.7, " + ip}}).code()
		}
		for i, want := range []string{"INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "RATE_LIMITED"} {
			if code := from("203.0.113.1"); code != want {
				t.Fatalf("attempt %d from the forwarded address: %s, want %s", i+1, code, want)
			}
		}
		if code := from("203.0.113.2"); code != "INVALID_CREDENTIALS" {
			t.Fatalf("another client behind the proxy: %s", code)
		}
		var list []session
		p := e.login(email, pw)
		e.must(req{query: sessionsQ, headers: bearer(p.AccessToken)}, "sessions", &list)
		if len(list) == 0 || list[0].IPAddress == nil || *list[0].IPAddress != "127.0.0.1" {
			// The login above came without X-Forwarded-For: the peer itself.
			t.Fatalf("sessions %+v", list)
		}
	})
}

func TestOperationLimits(t *testing.T) {
	t.Run("login per address across accounts", func(t *testing.T) {
		e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=on", "AUTHQL_RATE_LIMIT_LOGIN_IP=3/15m")
		for i := range 4 {
			code := e.do(req{query: loginQ, vars: map[string]any{"e": newEmail(), "p": "wrong password"}}).code()
			if want := map[bool]string{true: "RATE_LIMITED", false: "INVALID_CREDENTIALS"}[i == 3]; code != want {
				t.Fatalf("attempt %d: %s", i+1, code)
			}
		}
	})
	t.Run("signup per address", func(t *testing.T) {
		e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=on", "AUTHQL_RATE_LIMIT_SIGNUP=2/1h")
		e.signup(newEmail(), pw)
		e.signup(newEmail(), pw)
		e.wantCode(req{query: signupQ, vars: map[string]any{"e": newEmail(), "p": pw}}, "RATE_LIMITED")
	})
	t.Run("refresh per address", func(t *testing.T) {
		e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=on", "AUTHQL_RATE_LIMIT_REFRESH=2/5m")
		s := e.signup(newEmail(), pw)
		r1, _ := e.refresh(s.refresh())
		r2, _ := e.refresh(r1.refresh())
		if _, resp := e.refresh(r2.refresh()); resp.code() != "RATE_LIMITED" {
			t.Fatalf("%s", resp.Raw)
		}
	})
	t.Run("changePassword per account", func(t *testing.T) {
		e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=on", "AUTHQL_RATE_LIMIT_CHANGE_PASSWORD=2/15m")
		s := e.signup(newEmail(), pw)
		for range 2 {
			e.wantCode(req{query: changePwQ, vars: map[string]any{"c": "wrong password", "n": "whatever123"}, headers: bearer(s.AccessToken)}, "INVALID_CREDENTIALS")
		}
		e.wantCode(req{query: changePwQ, vars: map[string]any{"c": pw, "n": "whatever123"}, headers: bearer(s.AccessToken)}, "RATE_LIMITED")
	})
	t.Run("off turns every limit off", func(t *testing.T) {
		e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=off", "AUTHQL_RATE_LIMIT_LOGIN=1/15m")
		email := newEmail()
		e.signup(email, pw)
		codes := codesByAlias(t, e.do(req{query: aliasedLogins(30, email, "wrong password")}), 30)
		for i, c := range codes {
			if c != "INVALID_CREDENTIALS" {
				t.Fatalf("attempt %d: %s", i+1, c)
			}
		}
	})
}

// redisURL is the Redis the tests may use, or skips.
func redisURL(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("AUTHQL_TEST_REDIS_URL"); u != "" {
		return u
	}
	if addr := os.Getenv("AUTHQL_TEST_REDIS_ADDR"); addr != "" {
		return "redis://" + addr + "/0"
	}
	t.Skip("Redis tests skipped: set AUTHQL_TEST_REDIS_ADDR=127.0.0.1:6379 to run them")
	return ""
}

func TestRedisSharesLimitsAcrossInstances(t *testing.T) {
	url := redisURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "authql-test-" + hex.EncodeToString(b[:]) + ":" // a budget of this test's own
	db := storetest.SQLite(t)
	settings := []string{"AUTHQL_RATE_LIMIT=on", "AUTHQL_REDIS_URL=" + url, "AUTHQL_REDIS_PREFIX=" + prefix}
	a := start(t, db, settings...)
	b2 := start(t, db, settings...)
	email := newEmail()
	a.signup(email, pw)
	wrong := req{query: loginQ, vars: map[string]any{"e": email, "p": "wrong password"}}
	for i := range 10 {
		e := a
		if i%2 == 1 {
			e = b2
		}
		if code := e.do(wrong).code(); code != "INVALID_CREDENTIALS" {
			t.Fatalf("attempt %d: %s", i+1, code)
		}
	}
	// Ten failures spread over two instances exhaust one shared budget.
	a.wantCode(wrong, "RATE_LIMITED")
	b2.wantCode(wrong, "RATE_LIMITED")
	// An instance with its own (in-process) state would have let these through.
	alone := start(t, db, "AUTHQL_RATE_LIMIT=on")
	alone.wantCode(wrong, "INVALID_CREDENTIALS")
}

func TestRedisDownFallsBackToLocalLimits(t *testing.T) {
	e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=on", "AUTHQL_REDIS_URL=redis://127.0.0.1:1/0", "AUTHQL_RATE_LIMIT_LOGIN=3/15m")
	email := newEmail()
	e.signup(email, pw) // logins and signups still work with Redis down
	e.login(email, pw)
	wrong := req{query: loginQ, vars: map[string]any{"e": email, "p": "wrong password"}}
	for range 3 {
		e.wantCode(wrong, "INVALID_CREDENTIALS")
	}
	e.wantCode(wrong, "RATE_LIMITED") // not failing open
}
