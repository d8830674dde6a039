package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authql/authql/graph/graphtest"
	"github.com/authql/authql/internal/app"
	"github.com/authql/authql/internal/config"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/testkit/logbuf"
)

// logged runs authql like start, and keeps what it logs (every level).
func logged(t *testing.T, settings ...string) (*env, *logbuf.Buffer) {
	t.Helper()
	db := storetest.SQLite(t)
	vars := map[string]string{
		"AUTHQL_DATABASE_URL": db.URL, "AUTHQL_JWT_SECRET": testSecret,
		"AUTHQL_RATE_LIMIT": "off", "AUTHQL_KEY_FILE": t.TempDir() + "/authql.key",
	}
	for _, kv := range settings {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), app.WithPasswordParams(cheapHash))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); a.Close() })
	return &env{t: t, URL: srv.URL, App: a, db: db}, logs
}

func aliased(n int, field string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " l%d: %s", i, field)
	}
	return b.String()
}

// Every pathological shape, as large as the body limit allows, is refused
// with its code, before validation (see BenchmarkPathological for the time).
func TestPathologicalQueriesRefused(t *testing.T) {
	e, logs := logged(t, "AUTHQL_INTROSPECTION=off")
	const size = 1<<20 - len(`{"query":"","variables":null}`)
	for _, s := range graphtest.Shapes() {
		t.Run(s.Name, func(t *testing.T) {
			resp := e.do(req{query: s.Build(size)})
			if resp.code() != s.Code {
				t.Fatalf("want %s, got %d %.300s", s.Code, resp.Status, resp.Raw)
			}
		})
	}
	if errs := logs.Lines("level=ERROR"); len(errs) > 0 {
		t.Fatalf("logged: %v", errs)
	}
}

// The legitimate requests nearest the limits still run, in development
// (the playground's introspection query) and in production.
func TestLegitimateQueriesRun(t *testing.T) {
	for _, intro := range []string{"on", "off"} {
		e, logs := logged(t, "AUTHQL_INTROSPECTION="+intro)
		p := e.signup(newEmail(), pw)
		for _, d := range graphtest.Legitimate() {
			resp := e.do(req{query: d.Query, vars: d.Vars, headers: bearer(p.AccessToken)})
			for _, err := range resp.Errors {
				switch code := err.Extensions["code"]; {
				case d.Name == "introspection" && intro == "off" && code == "GRAPHQL_VALIDATION_FAILED":
				case code == "GRAPHQL_PARSE_FAILED", code == "GRAPHQL_VALIDATION_FAILED", code == "COMPLEXITY_LIMIT_EXCEEDED", code == "RESPONSE_TOO_LARGE", code == "INTERNAL_SERVER_ERROR":
					t.Fatalf("introspection %s, %s: %.400s", intro, d.Name, resp.Raw)
				}
			}
		}
		if errs := logs.Lines("level=ERROR"); len(errs) > 0 {
			t.Fatalf("logged: %v", errs)
		}
	}
}

// A whole page of sessions and a whole page of audit events, every field,
// each user agent at its 512 bytes of characters JSON escapes at six, fit
// both the complexity limit and the response cap; many pages fit neither.
func TestListCostsAndResponseCap(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	email := newEmail()
	e.signup(email, pw)
	ua := map[string]string{"User-Agent": strings.Repeat("<", 512)}
	var p payload
	for range 100 {
		resp := e.do(req{query: loginQ, vars: map[string]any{"e": email, "p": pw}, headers: ua})
		if err := json.Unmarshal(resp.Data["login"], &p); err != nil || resp.code() != "" {
			t.Fatalf("%s", resp.Raw)
		}
	}
	auth := bearer(p.AccessToken)
	auth["User-Agent"] = ua["User-Agent"]
	full := e.do(req{query: graphtest.FullPages, headers: auth})
	var pages struct {
		Sessions      []json.RawMessage `json:"sessions"`
		MyAuditEvents struct {
			Edges []json.RawMessage `json:"edges"`
		} `json:"myAuditEvents"`
	}
	if full.code() != "" || json.Unmarshal(full.Raw, &struct{ Data any }{&pages}) != nil || len(pages.Sessions) < 100 || len(pages.MyAuditEvents.Edges) != 100 {
		t.Fatalf("full pages: %d sessions, %d events: %.300s", len(pages.Sessions), len(pages.MyAuditEvents.Edges), full.Raw)
	}
	t.Logf("full pages: %d bytes", len(full.Raw))

	for _, c := range []struct {
		name, query, code string
	}{
		{"500 aliased session lists (14 kB)", "{" + aliased(500, "sessions { userAgent }") + " }", "COMPLEXITY_LIMIT_EXCEEDED"},
		{"249 aliased audit pages", "{" + aliased(249, "myAuditEvents(first: 100) { edges { node { userAgent } } }") + " }", "COMPLEXITY_LIMIT_EXCEEDED"},
		{"29 aliased session lists, within the complexity limit", "{" + aliased(29, "sessions { userAgent }") + " }", "RESPONSE_TOO_LARGE"},
	} {
		resp := e.do(req{query: c.query, headers: auth})
		if resp.code() != c.code || len(resp.Raw) > 1<<20 {
			t.Fatalf("%s: %d %.300s", c.name, len(resp.Raw), resp.Raw)
		}
	}
}

// Each root mutation field runs at most ten times per request; each further
// alias answers RATE_LIMITED (retryAfter 1) without running its resolver.
func TestMutationAliasesBounded(t *testing.T) {
	e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=on")
	resp := e.do(req{query: "mutation($t: String) {" + aliased(400, "logout(token: $t)") + " }", vars: map[string]any{"t": "not-a-token"}})
	codes := codesByAlias(t, resp, 400)
	for i, c := range codes {
		// A resolver that ran answers INVALID_REFRESH_TOKEN: ten ran.
		want := "INVALID_REFRESH_TOKEN"
		if i >= 10 {
			want = "RATE_LIMITED"
		}
		if c != want {
			t.Fatalf("alias %d: %q, want %s", i, c, want)
		}
	}
	for _, err := range resp.Errors[10:] {
		if err.Extensions["retryAfter"] != float64(1) {
			t.Fatalf("%+v", err)
		}
	}
	// A valid token: one logout, nine idempotent ones, the rest refused; no
	// other session is touched.
	s := e.signup(newEmail(), pw)
	other := e.login(s.User.Email, pw)
	resp = e.do(req{query: "mutation($t: String) {" + aliased(50, "logout(token: $t)") + " }", vars: map[string]any{"t": s.refresh()}})
	if codes := codesByAlias(t, resp, 50); codes[9] != "" || codes[10] != "RATE_LIMITED" || codes[49] != "RATE_LIMITED" {
		t.Fatalf("%v", codes)
	}
	if _, code := e.me(other.AccessToken); code != "" {
		t.Fatalf("other session: %s", code)
	}
}

// With introspection off, __schema and __type are refused as validation
// errors without an error logged, and no error suggests a name; with it on,
// errors suggest.
func TestIntrospectionOff(t *testing.T) {
	e, logs := logged(t, "AUTHQL_INTROSPECTION=off")
	for _, q := range []string{
		`{ __schema { types { name } } }`,
		`{ __type(name: "User") { name } }`,
		"{" + aliased(200, `__type(name: "User") { name }`) + " }",
		graphtest.IntrospectionQuery,
	} {
		resp := e.do(req{query: q})
		if resp.code() != "GRAPHQL_VALIDATION_FAILED" || resp.Data["__schema"] != nil {
			t.Fatalf("%.60s: %d %.300s", q, resp.Status, resp.Raw)
		}
		for _, err := range resp.Errors {
			if err.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
				t.Fatalf("%.60s: %+v", q, err)
			}
		}
	}
	if resp := e.do(req{query: `{ __typename }`}); resp.code() != "" {
		t.Fatalf("__typename: %s", resp.Raw)
	}
	if errs := logs.Lines("level=ERROR"); len(errs) > 0 {
		t.Fatalf("logged %d errors: %s", len(errs), errs[0])
	}
	resp := e.do(req{query: `{ mee { id } }`})
	if resp.code() != "GRAPHQL_VALIDATION_FAILED" || strings.Contains(string(resp.Raw), "Did you mean") {
		t.Fatalf("introspection off: %s", resp.Raw)
	}
	dev, _ := logged(t, "AUTHQL_INTROSPECTION=on")
	resp = dev.do(req{query: `{ mee { id } }`})
	if resp.code() != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(string(resp.Raw), `Did you mean \"me\"?`) {
		t.Fatalf("introspection on: %s", resp.Raw)
	}
}
