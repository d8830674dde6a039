package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/models"
)

// confusables are pairs of spellings of one address; %d keeps each test's
// addresses apart.
var confusables = []struct{ name, a, b string }{
	{"long s", "ſam%d@example.com", "sam%d@example.com"},
	{"final and medial sigma", "οδυσσευς%d@example.com", "οδυσσευσ%d@example.com"},
	{"micro sign and mu", "µ%d@example.com", "μ%d@example.com"},
	{"NFD and NFC", "jose\u0301%d@example.com", "jos\u00e9%d@example.com"},
	{"fullwidth domain", "fw%d@ｅｘａｍｐｌｅ.com", "fw%d@example.com"},
	{"Unicode and punycode domain", "user%d@bücher.de", "user%d@xn--bcher-kva.de"},
}

// TestConfusableEmailsAreOneAccount: the second spelling of an address is
// taken, and either spelling logs in.
func TestConfusableEmailsAreOneAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		n := time.Now().UnixNano() % 1e9
		for _, c := range confusables {
			a, b := fmt.Sprintf(c.a, n), fmt.Sprintf(c.b, n)
			first := e.signup(a, pw)
			if code := e.do(req{query: signupQ, vars: map[string]any{"e": b, "p": pw}}).code(); code != "EMAIL_TAKEN" {
				t.Fatalf("%s: signup as %q after %q: %q, want EMAIL_TAKEN", c.name, b, a, code)
			}
			for _, spelling := range []string{a, b} {
				if p := e.login(spelling, pw); p.User.ID != first.User.ID {
					t.Fatalf("%s: login as %q reached account %s, not %s", c.name, spelling, p.User.ID, first.User.ID)
				}
			}
		}
	})
}

// TestEmailsStoredByTheOldRuleLogIn: rows written when emails were only
// trimmed and lower-cased are rewritten at start, and log in by any spelling.
func TestEmailsStoredByTheOldRuleLogIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		ctx := context.Background()
		st, err := store.Open(ctx, db.URL)
		if err != nil {
			t.Fatal(err)
		}
		hash, err := password.NewHasher(cheapHash, 1, time.Second).Hash(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		now := st.Now()
		old := map[string]string{ // id -> email as the old rule stored it
			"00000000-0000-7000-8000-000000000001": "ſam@example.com",
			"00000000-0000-7000-8000-000000000002": "jose\u0301@example.com",
			"00000000-0000-7000-8000-000000000003": "user@xn--bcher-kva.de",
		}
		for id, email := range old {
			if err := st.CreateUser(ctx, &models.User{ID: id, Email: email, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()

		e := start(t, db)
		logins := map[string][]string{
			"00000000-0000-7000-8000-000000000001": {"ſam@example.com", "sam@example.com", "SAM@example.com", "ſAM@Example.com"},
			"00000000-0000-7000-8000-000000000002": {"jose\u0301@example.com", "jos\u00e9@example.com", "JOSÉ@example.com"},
			"00000000-0000-7000-8000-000000000003": {"user@xn--bcher-kva.de", "user@bücher.de", "user@BÜCHER.DE"},
		}
		for id, spellings := range logins {
			for _, s := range spellings {
				if p := e.login(s, pw); p.User.ID != id {
					t.Fatalf("login as %q reached %s, want %s", s, p.User.ID, id)
				}
			}
		}
		if u, _ := e.me(e.login("sam@example.com", pw).AccessToken); u.Email != "sam@example.com" {
			t.Fatalf("stored email %q, want the normalized form", u.Email)
		}
		e.wantCode(req{query: signupQ, vars: map[string]any{"e": "sam@example.com", "p": pw}}, "EMAIL_TAKEN")
	})
}
