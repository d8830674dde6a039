package e2e

import (
	"testing"
	"time"

	"github.com/authql/authql/internal/store/storetest"
)

type auditConn struct {
	Edges []struct {
		Cursor string `json:"cursor"`
		Node   struct {
			ID        string    `json:"id"`
			Type      string    `json:"type"`
			CreatedAt time.Time `json:"createdAt"`
			SessionID *string   `json:"sessionId"`
			IPAddress *string   `json:"ipAddress"`
			UserAgent *string   `json:"userAgent"`
			Detail    *string   `json:"detail"`
		} `json:"node"`
	} `json:"edges"`
	PageInfo struct {
		HasNextPage bool    `json:"hasNextPage"`
		EndCursor   *string `json:"endCursor"`
	} `json:"pageInfo"`
}

const auditQ = `query($first: Int, $after: String) { myAuditEvents(first: $first, after: $after) {
	edges { cursor node { id type createdAt sessionId ipAddress userAgent detail } }
	pageInfo { hasNextPage endCursor } } }`

func TestAuditTrail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk, "AUTHQL_RATE_LIMIT=on", "AUTHQL_RATE_LIMIT_LOGIN=2/15m", "AUTHQL_REFRESH_REUSE_GRACE=0s", "AUTHQL_TRUSTED_PROXIES=127.0.0.1")
		email := newEmail()
		s := e.signup(email, pw)                                                                                  // signup
		e.wantCode(req{query: loginQ, vars: map[string]any{"e": email, "p": "nope-nope"}}, "INVALID_CREDENTIALS") // login_failed
		b := e.login(email, pw)                                                                                   // login
		r, _ := e.refresh(b.refresh())                                                                            // refresh
		clk.Advance(time.Millisecond)                                                                             // past the grace window of 0s
		e.refresh(b.refresh())                                                                                    // refresh_token_reuse: b's session is revoked
		_ = r
		c := e.login(email, pw)
		var ok bool
		e.must(req{query: `mutation($id: ID!) { revokeSession(id: $id) }`, vars: map[string]any{"id": sessionID(t, c.AccessToken)}, headers: bearer(s.AccessToken)}, "revokeSession", &ok) // session_revoked
		d := e.login(email, pw)
		e.must(req{query: logoutQ, vars: map[string]any{"t": d.refresh()}}, "logout", &ok)                                                                          // logout
		e.wantCode(req{query: changePwQ, vars: map[string]any{"c": "wrong password", "n": "next password"}, headers: bearer(s.AccessToken)}, "INVALID_CREDENTIALS") // password_change_failed
		var fresh payload
		e.must(req{query: changePwQ, vars: map[string]any{"c": pw, "n": "next password"}, headers: bearer(s.AccessToken)}, "changePassword", &fresh) // password_changed
		e.wantCode(req{query: loginQ, vars: map[string]any{"e": email, "p": "nope-nope"}}, "INVALID_CREDENTIALS")
		e.wantCode(req{query: loginQ, vars: map[string]any{"e": email, "p": "nope-nope"}}, "RATE_LIMITED") // rate_limited (the 3rd failure)
		e.must(req{query: `mutation { logoutAll }`, headers: bearer(fresh.AccessToken)}, "logoutAll", &ok) // logout_all
		// Someone else's activity never shows.
		stranger := e.signup(newEmail(), pw)

		// Read it back from a new session (from another address: this one is
		// locked out now), a page at a time.
		var last payload
		e.must(req{query: loginQ, vars: map[string]any{"e": email, "p": "next password"}, headers: map[string]string{"X-Forwarded-For": "1.2.3.4"}}, "login", &last)
		var types []string
		var after any
		pages := 0
		for {
			var conn auditConn
			e.must(req{query: auditQ, vars: map[string]any{"first": 4, "after": after}, headers: bearer(last.AccessToken)}, "myAuditEvents", &conn)
			pages++
			for _, edge := range conn.Edges {
				wantIP := "127.0.0.1"
				if len(types) == 0 {
					wantIP = "1.2.3.4"
				}
				types = append(types, edge.Node.Type)
				if edge.Node.IPAddress == nil || *edge.Node.IPAddress != wantIP || edge.Node.CreatedAt.IsZero() {
					t.Fatalf("event %+v", edge.Node)
				}
			}
			if !conn.PageInfo.HasNextPage {
				break
			}
			after = *conn.PageInfo.EndCursor
		}
		want := []string{"login", "logout_all", "rate_limited", "login_failed", "password_changed", "password_change_failed",
			"logout", "login", "session_revoked", "login", "refresh_token_reuse", "refresh", "login", "login_failed", "signup"}
		if len(types) != len(want) {
			t.Fatalf("events (newest first): %v\nwant %v", types, want)
		}
		for i := range want {
			if types[i] != want[i] {
				t.Fatalf("events (newest first): %v\nwant %v", types, want)
			}
		}
		if pages != 4 {
			t.Errorf("%d pages of 4 for %d events", pages, len(types))
		}
		var strangers auditConn
		e.must(req{query: auditQ, headers: bearer(stranger.AccessToken)}, "myAuditEvents", &strangers)
		if len(strangers.Edges) != 1 || strangers.Edges[0].Node.Type != "signup" {
			t.Fatalf("stranger sees %+v", strangers.Edges)
		}
		e.wantCode(req{query: auditQ, vars: map[string]any{"first": 1000}, headers: bearer(last.AccessToken)}, "BAD_USER_INPUT")
		e.wantCode(req{query: auditQ, vars: map[string]any{"after": "bogus"}, headers: bearer(last.AccessToken)}, "BAD_USER_INPUT")
		e.wantCode(req{query: auditQ}, "UNAUTHENTICATED")
	})
}

// sessionID is the sid claim of an access token.
func sessionID(t *testing.T, access string) string {
	t.Helper()
	return claimsOf(t, access)["sid"].(string)
}

func TestIntrospectionSwitch(t *testing.T) {
	on := start(t, storetest.SQLite(t))
	if resp := on.do(req{query: `{ __schema { queryType { name } } }`}); resp.code() != "" {
		t.Fatalf("development: %s", resp.Raw)
	}
	off := start(t, storetest.SQLite(t), "AUTHQL_INTROSPECTION=off")
	if resp := off.do(req{query: `{ __schema { queryType { name } } }`}); len(resp.Errors) == 0 {
		t.Fatalf("introspection off: %s", resp.Raw)
	}
}
