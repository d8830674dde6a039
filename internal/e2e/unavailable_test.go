package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/authql/authql/internal/app"
	"github.com/authql/authql/internal/config"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/testkit/tcpproxy"
)

// TestUnavailableCauseIsLogged: with the database gone, every request answers
// SERVICE_UNAVAILABLE and the operator's log says why: a warning carrying
// the cause, naming the store operation, once per kind of cause rather than
// once per request, and quoting no token or password.
func TestUnavailableCauseIsLogged(t *testing.T) {
	db := storetest.MySQL(t)
	u, _ := url.Parse(db.URL)
	px := tcpproxy.New(t, u.Host)
	u.Host = px.Addr()
	backend := storetest.Backend{Name: "mysql", URL: u.String()}
	cfg, err := config.Load(nil, func(k string) string {
		return map[string]string{
			"AUTHQL_DATABASE_URL": backend.URL,
			"AUTHQL_JWT_SECRET":   testSecret,
			"AUTHQL_RATE_LIMIT":   "off",
			"AUTHQL_KEY_FILE":     t.TempDir() + "/authql.key",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})), app.WithPasswordParams(cheapHash))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); a.Close() })
	e := &env{t: t, URL: srv.URL, App: a, db: backend}
	email := newEmail()
	s := e.signup(email, pw)

	px.Cut()
	const requests = 30
	for range requests {
		e.wantCode(req{query: meQ, headers: bearer(s.AccessToken)}, "SERVICE_UNAVAILABLE")
		e.wantCode(req{query: loginQ, vars: map[string]any{"e": email, "p": pw}}, "SERVICE_UNAVAILABLE")
	}

	var lines []string
	classes := map[string]bool{}
	class := regexp.MustCompile(`class="([^"]*)"`)
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if !strings.Contains(l, `msg="service unavailable"`) {
			continue
		}
		lines = append(lines, l)
		m := class.FindStringSubmatch(l)
		if !strings.Contains(l, "level=WARN") || m == nil || classes[m[1]] {
			t.Fatalf("want one warning per class of cause, got:\n%s", strings.Join(lines, "\n"))
		}
		classes[m[1]] = true
		for _, secret := range []string{s.AccessToken, s.refresh(), pw} {
			if strings.Contains(l, secret) {
				t.Fatalf("a secret in the log: %s", l)
			}
		}
	}
	if len(lines) == 0 || len(lines) > 4 {
		t.Fatalf("%d warnings for %d failed requests:\n%s", len(lines), 2*requests, logs.String())
	}
	if named := regexp.MustCompile(`cause="[^"]*store\.[A-Z]\w+: `); !named.MatchString(lines[0]) {
		t.Fatalf("the cause does not name the store's operation: %s", lines[0])
	}
	t.Logf("%d failed requests, %d warnings:\n%s", 2*requests, len(lines), strings.Join(lines, "\n"))
}

// lockedBuffer collects log lines written from the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
