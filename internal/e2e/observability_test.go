package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/authql/authql/internal/app"
	"github.com/authql/authql/internal/config"
	"github.com/authql/authql/internal/requestid"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/testkit/logbuf"
)

// scrape reads GET /metrics into series → value, a series spelled as in the
// text format: name{label="value",...}.
func (e *env) scrape() map[string]float64 {
	e.t.Helper()
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		e.t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			e.t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics does each counted thing over HTTP and finds it counted in
// GET /metrics, each series present at zero beforehand.
func TestMetrics(t *testing.T) {
	e := start(t, storetest.SQLite(t), "AUTHQL_RATE_LIMIT=on", "AUTHQL_RATE_LIMIT_LOGIN=2/15m", "AUTHQL_REFRESH_REUSE_GRACE=1h")
	before := e.scrape()
	email := newEmail()
	a := e.signup(email, pw)
	e.login(email, pw)
	victim := newEmail()
	e.signup(victim, pw)
	for _, code := range []string{"INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "RATE_LIMITED"} {
		e.wantCode(req{query: loginQ, vars: map[string]any{"e": victim, "p": "wrong password"}}, code)
	}

	next, _ := e.refresh(a.refresh())                         // rotated
	if _, resp := e.refresh(a.refresh()); resp.code() != "" { // the predecessor within the grace window
		t.Fatalf("grace: %s", resp.Raw)
	}
	e.refresh("not-a-token")                                     // invalid
	if _, resp := e.refresh(next.refresh()); resp.code() != "" { // rotated again
		t.Fatalf("%s", resp.Raw)
	}
	e.refresh(a.refresh()) // two generations back: reuse, the session is revoked

	b := e.login(email, pw)
	e.must(req{query: logoutQ, vars: map[string]any{"t": b.refresh()}}, "logout", new(bool))
	c := e.login(email, pw)
	e.login(email, pw)
	e.must(req{query: `mutation { logoutAll }`, headers: bearer(c.AccessToken)}, "logoutAll", new(bool))
	e.do(req{query: `{ me { id `}) // does not parse

	after := e.scrape()
	want := map[string]float64{
		`authql_logins_total{result="success"}`:                                4,
		`authql_logins_total{result="invalid_credentials"}`:                    2,
		`authql_logins_total{result="rate_limited"}`:                           1,
		`authql_token_refreshes_total{result="rotated"}`:                       2,
		`authql_token_refreshes_total{result="grace"}`:                         1,
		`authql_token_refreshes_total{result="invalid"}`:                       1,
		`authql_token_refreshes_total{result="reuse_detected"}`:                1,
		`authql_sessions_revoked_total{reason="reuse"}`:                        1,
		`authql_sessions_revoked_total{reason="logout"}`:                       1,
		`authql_sessions_revoked_total{reason="logout_all"}`:                   3, // the first login, c and the last
		`authql_rate_limited_total{limit="login-account-ip"}`:                  1,
		`authql_graphql_requests_total{operation="login"}`:                     7,
		`authql_graphql_requests_total{operation="refreshToken"}`:              5,
		`authql_graphql_requests_total{operation="invalid"}`:                   1,
		`authql_graphql_request_duration_seconds_count{operation="logout"}`:    1,
		`authql_graphql_request_duration_seconds_count{operation="logoutAll"}`: 1,
	}
	for series, n := range want {
		if _, ok := before[series]; !ok {
			t.Errorf("%s absent before its first event", series)
		}
		if got := after[series] - before[series]; got != n {
			t.Errorf("%s grew by %v, want %v", series, got, n)
		}
	}
	for _, series := range []string{`go_goroutines`, `process_resident_memory_bytes`, `go_sql_open_connections{db_name="write"}`, `authql_mail_queue_depth`, `authql_mails_sent_total{result="sent"}`} {
		if _, ok := after[series]; !ok {
			t.Errorf("%s not exported", series)
		}
	}
}

// TestMetricsOnTheirOwnListener: with AUTHQL_METRICS_ADDR set, the public
// listener answers 404 for /metrics (the binary serves them on that address,
// see cmd/authql).
func TestMetricsOnTheirOwnListener(t *testing.T) {
	e := start(t, storetest.SQLite(t), "AUTHQL_METRICS_ADDR=127.0.0.1:0")
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics on the public listener: %d", resp.StatusCode)
	}
	srv := httptest.NewServer(e.App.Metrics.Handler())
	defer srv.Close()
	resp, err = http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "authql_logins_total") {
		t.Fatalf("%s", body)
	}
}

// startTraced is start with the spans recorded in memory.
func startTraced(t *testing.T) (*env, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return startWith(t, storetest.SQLite(t), []app.Option{app.WithTracerProvider(tp)}), exp
}

// TestTracing: a refreshToken request is one operation span with the spans of
// its database statements under it, and no span carries a token, the email,
// or a value bound to a statement.
func TestTracing(t *testing.T) {
	e, exp := startTraced(t)
	email := newEmail()
	a := e.signup(email, pw)
	exp.Reset()
	next, resp := e.refresh(a.refresh())
	if resp.code() != "" {
		t.Fatalf("%s", resp.Raw)
	}
	spans := exp.GetSpans()
	var op *tracetest.SpanStub
	for i := range spans {
		if spans[i].Name == "mutation refreshToken" {
			op = &spans[i]
		}
	}
	if op == nil {
		t.Fatalf("no operation span among %d", len(spans))
	}
	var statements int
	for _, s := range spans {
		if strings.HasPrefix(s.Name, "db.") {
			statements++
			if s.Parent.SpanID() != op.SpanContext.SpanID() {
				t.Errorf("%s is not under the operation span", s.Name)
			}
		}
	}
	if statements < 3 { // the session, the token, its successor at least
		t.Fatalf("%d statement spans", statements)
	}
	secrets := []string{a.refresh(), a.AccessToken, next.refresh(), next.AccessToken, email, a.User.ID}
	for _, s := range spans {
		for _, kv := range s.Attributes {
			v := kv.Value.String()
			for _, secret := range secrets {
				if strings.Contains(v, secret) {
					t.Errorf("span %s attribute %s carries a secret: %s", s.Name, kv.Key, v)
				}
			}
			if kv.Key == "db.query.text" && strings.Contains(v, "'") {
				t.Errorf("span %s: a literal in the statement: %s", s.Name, v)
			}
		}
	}
}

// TestRequestIDs: each response names its request; a client's safe id is
// kept; every line logged for the request carries it.
func TestRequestIDs(t *testing.T) {
	db := storetest.SQLite(t)
	cfg, err := config.Load(nil, func(k string) string {
		return map[string]string{"AUTHQL_DATABASE_URL": db.URL, "AUTHQL_JWT_SECRET": testSecret, "AUTHQL_RATE_LIMIT": "off", "AUTHQL_KEY_FILE": t.TempDir() + "/k", "AUTHQL_REFRESH_REUSE_GRACE": "0s"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	log, logs := logbuf.New()
	a, err := app.New(context.Background(), cfg, log, app.WithPasswordParams(cheapHash))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler)
	defer srv.Close()
	e := &env{t: t, URL: srv.URL, App: a, db: db}

	p := e.signup(newEmail(), pw)
	e.refresh(p.refresh())
	resp := e.do(req{query: refreshQ, vars: map[string]any{"t": p.refresh()}, headers: map[string]string{requestid.Header: "reuse-1"}})
	if resp.code() != "INVALID_REFRESH_TOKEN" || resp.Header.Get(requestid.Header) != "reuse-1" {
		t.Fatalf("%s %v", resp.Raw, resp.Header)
	}
	lines := logs.Lines("reuse detected")
	if len(lines) != 1 || !strings.Contains(lines[0], "request_id=reuse-1") {
		t.Fatalf("the reuse warning lacks the request id:\n%s", logs)
	}
	other := e.do(req{query: meQ, headers: map[string]string{requestid.Header: "bad id"}})
	if id := other.Header.Get(requestid.Header); !requestid.Valid(id) || id == resp.Header.Get(requestid.Header) {
		t.Fatalf("id %q", id)
	}
}

// TestTracingMe: the @auth check's reads, which the store runs on
// database/sql itself rather than through GORM, are spans under the
// operation's like every other statement, and carry no bound value.
func TestTracingMe(t *testing.T) {
	e, exp := startTraced(t)
	email := newEmail()
	a := e.signup(email, pw)
	exp.Reset()
	if u, code := e.me(a.AccessToken); code != "" || u.Email != email {
		t.Fatalf("me: %+v %s", u, code)
	}
	spans := exp.GetSpans()
	var op *tracetest.SpanStub
	for i := range spans {
		if spans[i].Name == "query me" {
			op = &spans[i]
		}
	}
	if op == nil {
		t.Fatalf("no operation span among %d", len(spans))
	}
	var names []string
	for _, s := range spans {
		if !strings.HasPrefix(s.Name, "db.") {
			continue
		}
		names = append(names, s.Name)
		if s.Parent.SpanID() != op.SpanContext.SpanID() {
			t.Errorf("%s is not under the operation span", s.Name)
		}
		for _, kv := range s.Attributes {
			v := kv.Value.String()
			if strings.Contains(v, a.User.ID) || strings.Contains(v, a.AccessToken) || (kv.Key == "db.query.text" && strings.Contains(v, "'")) {
				t.Errorf("span %s attribute %s carries a value: %s", s.Name, kv.Key, v)
			}
		}
	}
	// One statement reads the session with its user (store.LiveSessionUser).
	if len(names) != 1 || names[0] != "db.query sessions" {
		t.Fatalf("statement spans %q, want the one read of the session", names)
	}
}
