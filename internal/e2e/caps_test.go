package e2e

import (
	"testing"
	"time"

	"github.com/authql/authql/internal/store/storetest"
)

const capAuditQ = `{ myAuditEvents(first: 100) { edges { node { type sessionId detail count } } } }`

type capEvents struct {
	Edges []struct {
		Node struct {
			Type      string  `json:"type"`
			SessionID *string `json:"sessionId"`
			Detail    *string `json:"detail"`
			Count     int     `json:"count"`
		} `json:"node"`
	} `json:"edges"`
}

// TestSessionCap: with AUTHQL_MAX_SESSIONS_PER_USER=3 (and the rate limits
// off, which leaves the cap on), a signup and four logins leave three live
// sessions. The evicted ones are the least recently used (the signup's
// session, refreshed since, survives); their access and refresh tokens are
// refused, and the owner's trail shows each eviction.
func TestSessionCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk, "AUTHQL_MAX_SESSIONS_PER_USER=3", "AUTHQL_RATE_LIMIT=off")
		email := newEmail()
		// Apart by more than the stored times' millisecond.
		pause := func() { clk.Advance(2 * time.Millisecond) }
		first := e.signup(email, pw)
		pause()
		second := e.login(email, pw)
		pause()
		third := e.login(email, pw)
		pause()
		first, resp := e.refresh(first.refresh())
		if len(resp.Errors) > 0 {
			t.Fatalf("refresh: %s", resp.Raw)
		}
		pause()
		fourth := e.login(email, pw)
		pause()
		fifth := e.login(email, pw)

		var sessions []struct {
			ID string `json:"id"`
		}
		e.must(req{query: sessionsQ, headers: bearer(first.AccessToken)}, "sessions", &sessions)
		want := []string{sessionID(t, fifth.AccessToken), sessionID(t, fourth.AccessToken), sessionID(t, first.AccessToken)}
		if len(sessions) != 3 || sessions[0].ID != want[0] || sessions[1].ID != want[1] || sessions[2].ID != want[2] {
			t.Fatalf("live sessions %+v, want %v", sessions, want)
		}
		evicted := map[string]bool{}
		for _, p := range []payload{second, third} {
			evicted[sessionID(t, p.AccessToken)] = true
			if _, code := e.me(p.AccessToken); code != "UNAUTHENTICATED" {
				t.Errorf("access token of an evicted session: %q, want UNAUTHENTICATED", code)
			}
			if _, resp := e.refresh(p.refresh()); resp.code() != "INVALID_REFRESH_TOKEN" {
				t.Errorf("refresh token of an evicted session: %s", resp.Raw)
			}
		}
		var events capEvents
		e.must(req{query: capAuditQ, headers: bearer(first.AccessToken)}, "myAuditEvents", &events)
		n := 0
		for _, edge := range events.Edges {
			ev := edge.Node
			if ev.Count != 1 {
				t.Errorf("event %+v: count %d, want 1", ev, ev.Count)
			}
			if ev.Type != "session_revoked" {
				continue
			}
			n++
			if ev.SessionID == nil || !evicted[*ev.SessionID] || ev.Detail == nil || *ev.Detail != "session_limit" {
				t.Errorf("eviction event %+v", ev)
			}
		}
		if n != 2 {
			t.Errorf("%d session_revoked events, want 2", n)
		}
	})
}

// TestSessionCapHoldsForRacingLogins: twenty logins of one user at once, with
// a cap of 5, leave exactly five live sessions.
func TestSessionCapHoldsForRacingLogins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db, "AUTHQL_MAX_SESSIONS_PER_USER=5")
		email := newEmail()
		e.signup(email, pw)
		const n = 20
		answers := make([]*response, n)
		done := make(chan int)
		for i := range n {
			go func() {
				answers[i] = e.do(req{query: loginQ, vars: map[string]any{"e": email, "p": pw}})
				done <- i
			}()
		}
		for range n {
			<-done
		}
		for i, resp := range answers {
			if len(resp.Errors) > 0 {
				t.Fatalf("login %d: %s", i, resp.Raw)
			}
		}
		// Which of the twenty is still live depends on the order they
		// committed in: ask with one more, which is.
		last := e.login(email, pw).AccessToken
		var sessions []struct {
			ID string `json:"id"`
		}
		e.must(req{query: sessionsQ, headers: bearer(last)}, "sessions", &sessions)
		if len(sessions) != 5 {
			t.Fatalf("%d live sessions after %d session starts, want 5", len(sessions), n+2)
		}
	})
}

// TestRateLimitRefusalsAreAggregated: refused attempts in separate requests
// show in the account's trail as one rate_limited event counting them, and
// refusals of signups (no account) are one row per client network.
func TestRateLimitRefusalsAreAggregated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db, "AUTHQL_RATE_LIMIT=on", "AUTHQL_RATE_LIMIT_LOGIN=2/24h", "AUTHQL_RATE_LIMIT_SIGNUP=2/24h")
		email := newEmail()
		s := e.signup(email, pw)
		const attempts = 60
		refused := 0
		for range attempts {
			if e.do(req{query: loginQ, vars: map[string]any{"e": email, "p": "wrong password"}}).code() == "RATE_LIMITED" {
				refused++
			}
		}
		if refused != attempts-2 {
			t.Fatalf("%d refused, want %d", refused, attempts-2)
		}
		var events capEvents
		e.must(req{query: capAuditQ, headers: bearer(s.AccessToken)}, "myAuditEvents", &events)
		var counts []int
		for _, edge := range events.Edges {
			if edge.Node.Type == "rate_limited" {
				counts = append(counts, edge.Node.Count)
			}
		}
		// One row per day of the rule's window: two only if the test ran across
		// midnight UTC.
		if len(counts) < 1 || len(counts) > 2 || sum(counts) != refused {
			t.Fatalf("rate_limited events with counts %v, want one counting %d", counts, refused)
		}

		for range attempts {
			e.do(req{query: signupQ, vars: map[string]any{"e": newEmail(), "p": pw}})
		}
		raw := storetest.SQL(t, db)
		rows, err := raw.Query("SELECT count FROM audit_events WHERE type = 'rate_limited' AND detail = 'signup-ip' AND user_id IS NULL")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		counts = nil
		for rows.Next() {
			var c int
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			counts = append(counts, c)
		}
		// The signup before took one of the two.
		if len(counts) < 1 || len(counts) > 2 || sum(counts) != attempts-1 {
			t.Fatalf("signup rate_limited rows with counts %v, want one counting %d", counts, attempts-1)
		}
	})
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}
