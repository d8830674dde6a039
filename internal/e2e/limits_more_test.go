package e2e

import (
	"fmt"
	"testing"

	"github.com/authql/authql/internal/store/storetest"
)

// behindProxy trusts the loopback peer of the tests, so X-Forwarded-For names
// the client.
const behindProxy = "AUTHQL_TRUSTED_PROXIES=127.0.0.0/8,::1"

// loginFrom is a login forwarded for client address ip by the trusted proxy.
func loginFrom(email, password, ip string) req {
	return req{query: loginQ, vars: map[string]any{"e": email, "p": password},
		headers: map[string]string{"X-Forwarded-For": ip}}
}

// TestIPv6ClientsAreLimitedPerNetwork: one IPv6 host owns a /64 and can walk
// through it; every address of it spends one budget.
func TestIPv6ClientsAreLimitedPerNetwork(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db, "AUTHQL_RATE_LIMIT=on", behindProxy)
		email := newEmail()
		e.signup(email, pw)
		for i := range 25 {
			ip := fmt.Sprintf("2001:db8:1:2:%x::%x", i, i+1) // 25 addresses of 2001:db8:1:2::/64
			want := "INVALID_CREDENTIALS"
			if i >= 10 {
				want = "RATE_LIMITED"
			}
			if code := e.do(loginFrom(email, "wrong password", ip)).code(); code != want {
				t.Fatalf("attempt %d from %s: %s, want %s", i+1, ip, code, want)
			}
		}
		// Another /64 is another client.
		if code := e.do(loginFrom(email, "wrong password", "2001:db8:1:3::1")).code(); code != "INVALID_CREDENTIALS" {
			t.Fatalf("a neighbouring /64: %s", code)
		}
		// Sessions keep the full address, not the network.
		other := newEmail()
		e.signup(other, pw)
		var p payload
		e.must(loginFrom(other, pw, "2001:db8:1:2::abcd"), "login", &p)
		var list []session
		e.must(req{query: sessionsQ, headers: bearer(p.AccessToken)}, "sessions", &list)
		found := false
		for _, s := range list {
			found = found || s.IPAddress != nil && *s.IPAddress == "2001:db8:1:2::abcd"
		}
		if !found {
			t.Fatalf("no session with the full client address: %+v", list)
		}
	})
}

func TestIPv6PrefixIsConfigurable(t *testing.T) {
	t.Run("a /56 puts neighbouring /64s in one budget", func(t *testing.T) {
		e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=on", behindProxy,
			"AUTHQL_RATE_LIMIT_LOGIN=2/15m", "AUTHQL_RATE_LIMIT_IPV6_PREFIX=56")
		email := newEmail()
		e.signup(email, pw)
		for i, want := range []string{"INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "RATE_LIMITED"} {
			ip := fmt.Sprintf("2001:db8:0:%x::1", i) // three /64s of 2001:db8::/56
			if code := e.do(loginFrom(email, "wrong password", ip)).code(); code != want {
				t.Fatalf("attempt %d from %s: %s, want %s", i+1, ip, code, want)
			}
		}
	})
	t.Run("a /128 counts each address", func(t *testing.T) {
		e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=on", behindProxy,
			"AUTHQL_RATE_LIMIT_LOGIN=2/15m", "AUTHQL_RATE_LIMIT_IPV6_PREFIX=128")
		email := newEmail()
		e.signup(email, pw)
		for i := range 3 {
			ip := fmt.Sprintf("2001:db8::%x", i+1)
			if code := e.do(loginFrom(email, "wrong password", ip)).code(); code != "INVALID_CREDENTIALS" {
				t.Fatalf("attempt %d from %s: %s", i+1, ip, code)
			}
		}
	})
	t.Run("an IPv4-mapped address is its IPv4 address", func(t *testing.T) {
		e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=on", behindProxy, "AUTHQL_RATE_LIMIT_LOGIN=2/15m")
		email := newEmail()
		e.signup(email, pw)
		for i, ip := range []string{"203.0.113.5", "::ffff:203.0.113.5", "::ffff:cb00:7105"} {
			want := map[bool]string{true: "RATE_LIMITED", false: "INVALID_CREDENTIALS"}[i == 2]
			if code := e.do(loginFrom(email, "wrong password", ip)).code(); code != want {
				t.Fatalf("attempt %d from %s: %s, want %s", i+1, ip, code, want)
			}
		}
	})
}

// TestSuccessfulLoginsPerAccount: right passwords count per account, from any
// address; wrong ones give the attempt back (they count elsewhere).
func TestSuccessfulLoginsPerAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db, "AUTHQL_RATE_LIMIT=on", behindProxy, "AUTHQL_RATE_LIMIT_LOGIN_ACCOUNT=3/1m")
		email := newEmail()
		e.signup(email, pw)
		for i := range 5 {
			e.wantCode(loginFrom(email, "wrong password", fmt.Sprintf("198.51.100.%d", i+1)), "INVALID_CREDENTIALS")
		}
		for i := range 3 {
			if code := e.do(loginFrom(email, pw, fmt.Sprintf("203.0.113.%d", i+1))).code(); code != "" {
				t.Fatalf("login %d: %s", i+1, code)
			}
		}
		e.wantCode(loginFrom(email, pw, "192.0.2.77"), "RATE_LIMITED") // a fresh address does not help
		other := newEmail()
		e.signup(other, pw)
		e.login(other, pw) // other accounts are not affected
	})
}

func TestLogoutLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db, "AUTHQL_RATE_LIMIT=on", behindProxy, "AUTHQL_RATE_LIMIT_LOGOUT=2/5m")
		s := e.signup(newEmail(), pw)
		logout := func(token, ip string) req {
			return req{query: logoutQ, vars: map[string]any{"t": token}, headers: map[string]string{"X-Forwarded-For": ip}}
		}
		e.wantCode(logout("not-a-token", "2001:db8:5::1"), "INVALID_REFRESH_TOKEN")
		e.wantCode(logout("not-a-token", "2001:db8:5::2"), "INVALID_REFRESH_TOKEN")
		e.wantCode(logout(s.refresh(), "2001:db8:5::3"), "RATE_LIMITED")
		// Another client logs out.
		var ok bool
		e.must(logout(s.refresh(), "2001:db8:6::1"), "logout", &ok)
		if !ok {
			t.Fatal("logout answered false")
		}
	})
}
