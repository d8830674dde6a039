package e2e

import (
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authql/authql/internal/app"
	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/store/storetest"
)

// TestRacingRefreshesOverHTTP: twenty clients refreshing one token at once all
// get the same token back, and it refreshes.
func TestRacingRefreshesOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		s := e.signup(newEmail(), pw)
		const n = 20
		got := make([]payload, n)
		resps := make([]*response, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { got[i], resps[i] = e.refresh(s.refresh()) })
		}
		wg.Wait()
		distinct := map[string]bool{}
		for i, r := range resps {
			if r.code() != "" {
				t.Fatalf("refresh %d: %s", i, r.Raw)
			}
			distinct[got[i].refresh()] = true
		}
		if len(distinct) != 1 {
			t.Fatalf("%d different tokens answered", len(distinct))
		}
		if _, r := e.refresh(got[0].refresh()); r.code() != "" {
			t.Fatalf("the token answered does not refresh: %s", r.Raw)
		}
	})
}

// TestLoginsRacingPasswordChange: logins with the old password, every 10 ms,
// while the password changes at +20 ms. Once the change has answered, no
// session of the old password may work: each login was refused, or its
// session was revoked by the change.
func TestLoginsRacingPasswordChange(t *testing.T) {
	// A hash slow enough that logins are mid-verification when the change commits.
	slow := password.Params{Memory: 4 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		a, err := newApp(t, db, []app.Option{app.WithPasswordParams(slow)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.Handler)
		t.Cleanup(srv.Close)
		e := &env{t: t, URL: srv.URL, App: a, db: db}
		email := newEmail()
		owner := e.signup(email, pw)
		const n = 30
		logins := make([]*response, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * 10 * time.Millisecond)
				logins[i] = e.do(req{query: loginQ, vars: map[string]any{"e": email, "p": pw}})
			})
		}
		time.Sleep(20 * time.Millisecond)
		var fresh payload
		e.must(req{query: changePwQ, vars: map[string]any{"c": pw, "n": "new " + pw}, headers: bearer(owner.AccessToken)}, "changePassword", &fresh)
		wg.Wait()
		answered := 0
		for i, r := range logins {
			switch r.code() {
			case "INVALID_CREDENTIALS":
				continue
			case "":
			default:
				t.Fatalf("login %d: %s", i, r.Raw)
			}
			answered++
			var p payload
			if err := json.Unmarshal(r.Data["login"], &p); err != nil {
				t.Fatal(err)
			}
			if _, code := e.me(p.AccessToken); code != "UNAUTHENTICATED" {
				t.Errorf("login %d: its access token still works after the password change (%q)", i, code)
			}
			if _, r := e.refresh(p.refresh()); r.code() != "INVALID_REFRESH_TOKEN" {
				t.Errorf("login %d: its refresh token still works after the password change: %s", i, r.Raw)
			}
		}
		t.Logf("%d of %d logins with the old password got tokens, all revoked", answered, n)
		if _, code := e.me(fresh.AccessToken); code != "" {
			t.Fatalf("the changer's own session: %s", code)
		}
	})
}
