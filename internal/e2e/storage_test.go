package e2e

import (
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite" // "sqlite" driver, to read the raw database

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/testkit/tcpproxy"
)

// rawDump reads every row of every authql table as text, as someone holding a
// copy of the database would.
func rawDump(t *testing.T, db storetest.Backend) string {
	t.Helper()
	var conn *sql.DB
	var err error
	if storetest.IsMySQL(db.URL) {
		dsn, derr := store.MySQLDSN(db.URL)
		if derr != nil {
			t.Fatal(derr)
		}
		conn, err = sql.Open("mysql", dsn)
	} else {
		conn, err = sql.Open("sqlite", strings.TrimPrefix(db.URL, "sqlite://"))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return dumpTables(t, conn, "users", "sessions", "refresh_tokens", "audit_events")
}

func TestDatabaseCopyHoldsNoSecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		const password = "my very secret passphrase"
		s := e.signup(newEmail(), password)
		r, _ := e.refresh(s.refresh())
		dump := rawDump(t, db)
		if !strings.Contains(dump, s.User.Email) {
			t.Fatal("the dump misses the user: the test reads the wrong database")
		}
		for name, secret := range map[string]string{
			"password":                  password,
			"first refresh token":       s.refresh(),
			"current refresh token":     r.refresh(),
			"current refresh signature": r.refresh()[strings.LastIndexByte(r.refresh(), '.')+1:],
			"access token signature":    r.AccessToken[strings.LastIndexByte(r.AccessToken, '.')+1:],
			"server secret":             testSecret,
		} {
			if strings.Contains(dump, secret) {
				t.Errorf("the database holds the %s", name)
			}
		}
		if !strings.Contains(dump, "$argon2id$") {
			t.Error("password not stored as an argon2id hash")
		}
		// What is stored cannot be presented as a token.
		for _, field := range strings.FieldsFunc(dump, func(r rune) bool { return r == '|' || r == '\n' }) {
			if len(field) == 64 {
				if _, resp := e.refresh(field); resp.code() != "INVALID_REFRESH_TOKEN" {
					t.Fatalf("a stored value works as a refresh token: %s", resp.Raw)
				}
			}
		}
	})
}

func TestTwoInstancesShareOneDatabase(t *testing.T) {
	db := storetest.MySQL(t)
	a := start(t, db, "AUTHQL_REFRESH_REUSE_GRACE=0s")
	b := start(t, db, "AUTHQL_REFRESH_REUSE_GRACE=0s")
	s := a.signup(newEmail(), pw)
	if _, code := b.me(s.AccessToken); code != "" {
		t.Fatalf("B refuses A's access token: %s", code)
	}
	r1, resp := b.refresh(s.refresh())
	if resp.code() != "" {
		t.Fatalf("B refuses A's refresh token: %s", resp.Raw)
	}
	if _, code := a.me(r1.AccessToken); code != "" {
		t.Fatalf("A refuses B's access token: %s", code)
	}
	// A sees that the token B rotated is spent: reuse, detected across instances.
	if _, resp := a.refresh(s.refresh()); resp.code() != "INVALID_REFRESH_TOKEN" {
		t.Fatalf("reuse on A: %s", resp.Raw)
	}
	assertRevoked(t, b, r1)
	assertRevoked(t, a, r1)

	// Racing refreshes of one token split across two instances (with the
	// default grace window) converge on one token.
	a, b = start(t, db), start(t, db)
	s2 := b.signup(newEmail(), pw)
	var wg sync.WaitGroup
	got := make([]string, 10)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := a
			if i%2 == 1 {
				e = b
			}
			p, resp := e.refresh(s2.refresh())
			if resp.code() != "" {
				t.Errorf("goroutine %d: %s", i, resp.Raw)
			}
			got[i] = p.refresh()
		}()
	}
	wg.Wait()
	for i := range got {
		if got[i] != got[0] {
			t.Fatalf("instances handed out different tokens")
		}
	}
}

func TestDatabaseUnavailable(t *testing.T) {
	db := storetest.MySQL(t)
	u, _ := url.Parse(db.URL)
	px := tcpproxy.New(t, u.Host)
	u.Host = px.Addr()
	e := start(t, storetest.Backend{Name: "mysql", URL: u.String()})
	email := newEmail()
	s := e.signup(email, pw)

	px.Cut()
	ready, err := http.Get(e.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready.Body.Close()
	if ready.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database down: %d", ready.StatusCode)
	}
	for name, r := range map[string]req{
		"me":      {query: meQ, headers: bearer(s.AccessToken)},
		"login":   {query: loginQ, vars: map[string]any{"e": email, "p": pw}},
		"signup":  {query: signupQ, vars: map[string]any{"e": newEmail(), "p": pw}},
		"refresh": {query: refreshQ, vars: map[string]any{"t": s.refresh()}},
	} {
		t.Run(name, func(t *testing.T) {
			resp := e.wantCode(r, "SERVICE_UNAVAILABLE")
			if resp.Status >= 500 {
				t.Fatalf("HTTP %d", resp.Status)
			}
			for _, leak := range []string{"dial", "tcp", "127.0.0.1", "mysql", "connection", "refused"} {
				if strings.Contains(strings.ToLower(resp.Errors[0].Message), leak) {
					t.Fatalf("driver detail leaked: %q", resp.Errors[0].Message)
				}
			}
		})
	}

	px.Restore(t)
	if _, code := e.me(s.AccessToken); code != "" {
		t.Fatalf("after the database came back: %s", code)
	}
	// Nothing stored was lost; the refresh token refused during the outage still works.
	if _, resp := e.refresh(s.refresh()); resp.code() != "" {
		t.Fatalf("refresh after recovery: %s", resp.Raw)
	}
}
