// Package e2e drives authql end to end: the assembled handler behind a real
// HTTP server, on SQLite and (when configured) MySQL, through GraphQL requests
// as a client sends them.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authql/authql/internal/app"
	"github.com/authql/authql/internal/clock"
	"github.com/authql/authql/internal/config"
	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/store/storetest"
)

const testSecret = "e2e-test-secret-0123456789abcdef0123456789"

// cheapHash keeps argon2id's shape at a test's price: hundreds of accounts
// in seconds, under -race too. password's own tests cover the real cost.
var cheapHash = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// env is a running authql.
type env struct {
	t   testing.TB
	URL string
	App *app.App
	db  storetest.Backend
}

// start runs authql on db with the given settings over the test defaults.
func start(t testing.TB, db storetest.Backend, settings ...string) *env {
	t.Helper()
	return startWith(t, db, nil, settings...)
}

// startClocked is start on a clock the test advances: tests step through
// token lifetimes, grace windows and session ends instead of sleeping.
func startClocked(t testing.TB, db storetest.Backend, clk *clock.Fake, settings ...string) *env {
	t.Helper()
	return startWith(t, db, []app.Option{app.WithClock(clk.Now)}, settings...)
}

// newClock is a stopped clock at the current whole second: token times are
// whole seconds, so lifetimes end exactly a lifetime after it.
func newClock() *clock.Fake { return clock.NewFake(time.Now().Truncate(time.Second)) }

// startWith is start with options over the cheap password hash.
func startWith(t testing.TB, db storetest.Backend, opts []app.Option, settings ...string) *env {
	t.Helper()
	a, err := newApp(t, db, append([]app.Option{app.WithPasswordParams(cheapHash)}, opts...), settings...)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close) // runs before newApp's cleanup: requests end, then the app closes
	return &env{t: t, URL: srv.URL, App: a, db: db}
}

// newApp assembles authql on db with the given options and settings over the
// test defaults, closing it when the test ends.
func newApp(t testing.TB, db storetest.Backend, opts []app.Option, settings ...string) (*app.App, error) {
	t.Helper()
	vars := map[string]string{
		"AUTHQL_DATABASE_URL": db.URL,
		"AUTHQL_JWT_SECRET":   testSecret,
		"AUTHQL_RATE_LIMIT":   "off",
		"AUTHQL_KEY_FILE":     t.TempDir() + "/authql.key",
	}
	for _, kv := range settings {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return vars[k] })
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	w := &testWriter{t: t}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(context.Background(), cfg, log, opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		a.Close()
		w.done.Store(true) // nothing may log to a finished test
	})
	return a, nil
}

// testWriter sends the service's warnings to the test log, so a failure shows them.
type testWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// gqlError is one entry of errors[].
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// response is a GraphQL response with its HTTP envelope.
type response struct {
	Status int
	Header http.Header
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqlError                 `json:"errors"`
	Raw    []byte
}

// code is the first error's extensions.code, "" without errors.
func (r *response) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// req is one GraphQL request.
type req struct {
	query   string
	vars    map[string]any
	headers map[string]string
	cookies []*http.Cookie
}

func (e *env) do(r req) *response {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": r.query, "variables": r.vars})
	hr, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql", bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	for _, c := range r.cookies {
		hr.AddCookie(c)
	}
	return e.send(hr)
}

func (e *env) send(hr *http.Request) *response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, raw)
		}
	}
	return out
}

// query runs a request that must succeed and decodes data.field into out.
func (e *env) must(r req, field string, out any) {
	e.t.Helper()
	resp := e.do(r)
	if len(resp.Errors) > 0 || resp.Status != http.StatusOK {
		e.t.Fatalf("%s: status %d, errors %+v", field, resp.Status, resp.Errors)
	}
	if err := json.Unmarshal(resp.Data[field], out); err != nil {
		e.t.Fatalf("%s: decode %s: %v", field, resp.Data[field], err)
	}
}

// wantCode asserts that the request fails with code (and no data leak).
func (e *env) wantCode(r req, code string) *response {
	e.t.Helper()
	resp := e.do(r)
	if resp.code() != code {
		e.t.Fatalf("want %s, got status %d body %s", code, resp.Status, resp.Raw)
	}
	return resp
}

type user struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"createdAt"`
}

type payload struct {
	AccessToken           string    `json:"accessToken"`
	RefreshToken          *string   `json:"refreshToken"`
	TokenType             string    `json:"tokenType"`
	ExpiresIn             int       `json:"expiresIn"`
	AccessTokenExpiresAt  time.Time `json:"accessTokenExpiresAt"`
	RefreshTokenExpiresAt time.Time `json:"refreshTokenExpiresAt"`
	User                  user      `json:"user"`
}

func (p payload) refresh() string {
	if p.RefreshToken == nil {
		return ""
	}
	return *p.RefreshToken
}

const payloadFields = `accessToken refreshToken tokenType expiresIn accessTokenExpiresAt refreshTokenExpiresAt user { id email createdAt }`

var (
	signupQ   = `mutation($e: String!, $p: String!) { signup(input: {email: $e, password: $p}) { ` + payloadFields + ` } }`
	loginQ    = `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { ` + payloadFields + ` } }`
	refreshQ  = `mutation($t: String) { refreshToken(token: $t) { ` + payloadFields + ` } }`
	logoutQ   = `mutation($t: String) { logout(token: $t) }`
	meQ       = `{ me { id email createdAt } }`
	sessionsQ = `{ sessions { id createdAt lastUsedAt expiresAt userAgent ipAddress current } }`
	changePwQ = `mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) { ` + payloadFields + ` } }`
)

var emailSeq atomic.Int64

// newEmail is an address no other test uses.
func newEmail() string {
	return fmt.Sprintf("user%d-%d@example.com", time.Now().UnixNano()%1e9, emailSeq.Add(1))
}

func (e *env) signup(email, pw string) payload {
	e.t.Helper()
	var p payload
	e.must(req{query: signupQ, vars: map[string]any{"e": email, "p": pw}}, "signup", &p)
	return p
}

func (e *env) login(email, pw string) payload {
	e.t.Helper()
	var p payload
	e.must(req{query: loginQ, vars: map[string]any{"e": email, "p": pw}}, "login", &p)
	return p
}

func (e *env) refresh(token string) (payload, *response) {
	e.t.Helper()
	resp := e.do(req{query: refreshQ, vars: map[string]any{"t": token}})
	var p payload
	if len(resp.Errors) == 0 {
		_ = json.Unmarshal(resp.Data["refreshToken"], &p)
	}
	return p, resp
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// me asks who the access token belongs to; "" and the error code when refused.
func (e *env) me(access string) (user, string) {
	e.t.Helper()
	resp := e.do(req{query: meQ, headers: bearer(access)})
	var u user
	if len(resp.Errors) == 0 {
		_ = json.Unmarshal(resp.Data["me"], &u)
	}
	return u, resp.code()
}
