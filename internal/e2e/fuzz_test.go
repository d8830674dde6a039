package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/authql/authql/internal/app"
	"github.com/authql/authql/internal/config"
)

// fzSecret is the server secret of the fuzzed service: it must never appear
// in an answer.
const fzSecret = "fuzz-e2e-server-secret-0123456789abcdef-0123456789"

// fzLeaks must never appear in an answer unless the request itself carried
// them (gqlgen quotes the offending name or value in parse and validation
// errors): stack traces, SQL and driver text, the secret.
var fzLeaks = []string{"runtime error", "goroutine ", "SQL", "sqlite", "mysql", "gorm", fzSecret}

// fzLog records what the service logs at error level, so that a recovered
// panic (answered with a generic error, which is fine for the client) still
// fails the target.
type fzLog struct {
	mu     sync.Mutex
	panics []string
}

func (l *fzLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *fzLog) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *fzLog) WithGroup(string) slog.Handler                 { return l }
func (l *fzLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		l.mu.Lock()
		l.panics = append(l.panics, b.String())
		l.mu.Unlock()
	}
	return nil
}

func (l *fzLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.panics
	l.panics = nil
	return p
}

// fzApp is authql assembled as the binary assembles it (app.New), on a SQLite
// database of its own, with rate limits off and a cheap password hash.
type fzApp struct {
	h       http.Handler
	log     *fzLog
	access  string // an access token of a live session, sent with every request
	refresh string
	email   string
	pw      string
}

func fzStart(f *testing.F) *fzApp {
	f.Helper()
	dir := f.TempDir()
	vars := map[string]string{
		"AUTHQL_DATABASE_URL": "sqlite://" + dir + "/a.db",
		"AUTHQL_JWT_SECRET":   fzSecret,
		"AUTHQL_RATE_LIMIT":   "off",
		"AUTHQL_KEY_FILE":     dir + "/authql.key",
	}
	cfg, err := config.Load(nil, func(k string) string { return vars[k] })
	if err != nil {
		f.Fatalf("config: %v", err)
	}
	l := &fzLog{}
	a, err := app.New(context.Background(), cfg, slog.New(l), app.WithPasswordParams(cheapHash))
	if err != nil {
		f.Fatalf("app: %v", err)
	}
	f.Cleanup(func() { a.Close() })
	fx := &fzApp{h: a.Handler, log: l, email: "fuzz-user@example.com", pw: "fuzz password 1"}
	body, _ := json.Marshal(map[string]any{"query": signupQ, "variables": map[string]any{"e": fx.email, "p": fx.pw}})
	rec := fx.post("application/json", body)
	var out struct {
		Data struct {
			Signup payload `json:"signup"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Data.Signup.AccessToken == "" {
		f.Fatalf("signup: %d %s", rec.Code, rec.Body)
	}
	fx.access, fx.refresh = out.Data.Signup.AccessToken, out.Data.Signup.refresh()
	return fx
}

func (fx *fzApp) post(contentType string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	if fx.access != "" {
		r.Header.Set("Authorization", "Bearer "+fx.access)
	}
	rec := httptest.NewRecorder()
	fx.h.ServeHTTP(rec, r)
	return rec
}

// fzQuery is a JSON GraphQL request body.
func fzQuery(query string, vars map[string]any) []byte {
	m := map[string]any{"query": query}
	if vars != nil {
		m["variables"] = vars
	}
	b, _ := json.Marshal(m)
	return b
}

// fzSeeds are the seed requests: every operation of the contract done right,
// and requests that are wrong in every layer (media type, JSON, GraphQL
// syntax, validation, variables, arguments, cost).
func fzSeeds(fx *fzApp) []struct {
	ct   string
	body []byte
} {
	const ct = "application/json"
	var out []struct {
		ct   string
		body []byte
	}
	add := func(ct string, body []byte) {
		out = append(out, struct {
			ct   string
			body []byte
		}{ct, body})
	}
	aliases := func(n int, field string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, " a%d: %s", i, field)
		}
		return b.String()
	}
	// The contract's operations.
	add(ct, fzQuery(signupQ, map[string]any{"e": "new-user@example.com", "p": "password123"}))
	add(ct, fzQuery(loginQ, map[string]any{"e": fx.email, "p": fx.pw}))
	add(ct, fzQuery(loginQ, map[string]any{"e": fx.email, "p": "wrong password"}))
	add(ct, fzQuery(refreshQ, map[string]any{"t": fx.refresh}))
	add(ct, fzQuery(logoutQ, map[string]any{"t": "not-a-token"}))
	add(ct, fzQuery(meQ, nil))
	add(ct, fzQuery(sessionsQ, nil))
	add(ct, fzQuery(`{ myAuditEvents(first: 5) { edges { cursor node { id type createdAt sessionId ipAddress userAgent detail } } pageInfo { hasNextPage endCursor } } }`, nil))
	add(ct, fzQuery(`{ myAuditEvents(first: -1, after: "YWU6MA") { pageInfo { hasNextPage } } }`, nil))
	add(ct, fzQuery(`mutation { revokeSession(id: "' OR 1=1 --") }`, nil))
	add(ct, fzQuery(changePwQ, map[string]any{"c": "wrong current", "n": "x"}))
	add(ct, fzQuery(`{ __schema { types { name fields { name type { name ofType { name ofType { name } } } } } } }`, nil))
	// Inputs outside the policy.
	add(ct, fzQuery(signupQ, map[string]any{"e": "Name <a@example.com>", "p": "password123"}))
	add(ct, fzQuery(signupQ, map[string]any{"e": "a@example.com", "p": strings.Repeat("p", 1025)}))
	add(ct, fzQuery(signupQ, map[string]any{"e": "a\u0000@example.com", "p": "short"}))
	add(ct, fzQuery(`mutation { signup(input: {email: "x@example.com'; DROP TABLE users; --", password: "password123"}) { accessToken } }`, nil))
	// Wrong variable types and shapes.
	add(ct, fzQuery(signupQ, map[string]any{"e": 1, "p": true}))
	add(ct, fzQuery(signupQ, map[string]any{"e": []any{"a@example.com"}, "p": map[string]any{"x": 1}}))
	add(ct, fzQuery(signupQ, nil))
	add(ct, []byte(`{"query":"`+strings.ReplaceAll(signupQ, `"`, `\"`)+`","variables":"{\"e\":1}"}`))
	add(ct, []byte(`{"query":"`+strings.ReplaceAll(signupQ, `"`, `\"`)+`","variables":[1,2]}`))
	add(ct, []byte(`{"query":"{ me { id } }","variables":{"a":1e999}}`))
	add(ct, []byte(`{"query":"{ myAuditEvents(first: 99999999999) { pageInfo { hasNextPage } } }"}`))
	add(ct, []byte(`{"query":"query($f: Int) { myAuditEvents(first: $f) { pageInfo { hasNextPage } } }","variables":{"f":"20"}}`))
	// Operation selection.
	add(ct, []byte(`{"query":"query A { me { id } } query B { __typename }"}`))
	add(ct, []byte(`{"query":"query A { me { id } }","operationName":"B"}`))
	add(ct, []byte(`{"query":"query A { me { id } }","operationName":7}`))
	add(ct, []byte(`{"query":"subscription { me { id } }"}`))
	add(ct, []byte(`{"query":"{ ...A } fragment A on Query { ...A }"}`))
	add(ct, []byte(`{"query":"{ me @include(if: $x) { id } }"}`))
	add(ct, []byte(`{"query":"{ __typename }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"abc"}}}`))
	add(ct, []byte(`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"abc"}}}`))
	// Malformed JSON and GraphQL.
	for _, s := range []string{"", "{", "}", "[]", "null", `"x"`, "123", "{}", `{"query":""}`, `{"query":null}`, `{"query":1}`,
		`{"query": "mutation { login(input: {email: "x", password: "secret-pass"}) }`, `{"query":"{"}`, `{"query":"{ me { id }"}`,
		`{"query":"{ me { id } }"} trailing`, `{"query":"{ me { id } }","query":"{ __typename }"}`} {
		add(ct, []byte(s))
	}
	// Batches.
	add(ct, []byte(`[{"query":"{ me { id } }"},{"query":"{ __typename }"}]`))
	add(ct, []byte(`[`+strings.Repeat(`{"query":"{ __typename }"},`, 50)+`{"query":"{ __typename }"}]`))
	// Deep nesting.
	add(ct, []byte(strings.Repeat("[", 20000)+strings.Repeat("]", 20000)))
	add(ct, []byte(`{"query":"{ me { id } }","variables":{"a":`+strings.Repeat(`{"a":`, 5000)+`1`+strings.Repeat("}", 5000)+`}}`))
	add(ct, fzQuery(strings.Repeat("{", 3000)+strings.Repeat("}", 3000), nil))
	add(ct, fzQuery(`{ __schema { types { fields { type`+strings.Repeat(` { ofType`, 200)+` { name }`+strings.Repeat(" }", 200)+` } } } }`, nil))
	add(ct, fzQuery(`mutation { signup(input: {email: `+strings.Repeat("[", 2000)+`"a"`+strings.Repeat("]", 2000)+`, password: "x"}) { accessToken } }`, nil))
	// Many aliases.
	add(ct, fzQuery("{"+aliases(300, "me { id email }")+" }", nil))
	add(ct, fzQuery("{"+aliases(600, "__typename")+" }", nil))
	add(ct, fzQuery("mutation {"+aliases(200, `login(input: {email: "a@example.com", password: "password123"}) { accessToken }`)+" }", nil))
	add(ct, fzQuery("mutation {"+aliases(20, `logout(token: "x")`)+" }", nil))
	// NUL bytes and invalid UTF-8.
	add(ct, []byte("{\"query\":\"{ me { id } }\x00\"}"))
	add(ct, []byte(`{"query":"{ me { id } }\u0000"}`))
	add(ct, []byte("{\"query\":\"{ \xff\xfe }\"}"))
	add(ct, []byte("{\"query\":\"mutation($e: String!, $p: String!) { signup(input: {email: $e, password: $p}) { accessToken } }\",\"variables\":{\"e\":\"\xffa@example.com\",\"p\":\"pass\xc0word1\"}}"))
	add(ct, []byte("\xef\xbb\xbf{\"query\":\"{ __typename }\"}"))
	// Media types.
	q := fzQuery(meQ, nil)
	for _, c := range []string{"", "text/plain", "application/graphql", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
		"APPLICATION/JSON", "application/json; charset=utf-8", "application/json; charset=utf-16", "application/json;;", "application/json\x00"} {
		add(c, q)
	}
	return out
}

// FuzzGraphQLBody posts arbitrary bodies with an arbitrary Content-Type to
// POST /graphql of the assembled service (with a live access token) and
// checks what any client may rely on:
//   - never a 5xx, and never a recovered panic in the logs;
//   - the answer is JSON (Content-Type and body): a GraphQL response object
//     with "data" and/or "errors", errors whenever the status is not 200;
//   - every errors[] entry has a message and a non-empty extensions.code, and
//     no code is INTERNAL_SERVER_ERROR: with a healthy database, a client's
//     request is never "unexpected";
//   - the answer never contains "runtime error", "goroutine ", "SQL",
//     "sqlite", "mysql", "gorm" or the server secret, unless the request
//     itself did (gqlgen quotes offending names in its errors).
func FuzzGraphQLBody(f *testing.F) {
	fx := fzStart(f)
	for _, s := range fzSeeds(fx) {
		f.Add(s.ct, s.body)
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		rec := fx.post(contentType, body)
		fzCheckAnswer(t, fmt.Sprintf("POST /graphql Content-Type %q", contentType), body, rec)
		if p := fx.log.take(); len(p) > 0 {
			t.Fatalf("Content-Type %q body %q: the service panicked: %s", contentType, body, p[0])
		}
	})
}

// fzCheckAnswer asserts the properties of every FuzzGraphQL* target on the
// answer rec to the request described by what, with body.
func fzCheckAnswer(t *testing.T, what string, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	raw := rec.Body.Bytes()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s body %.400q: %d %.600s\n%s", what, body, rec.Code, raw, fmt.Sprintf(format, args...))
	}
	if rec.Code >= 500 {
		fail("a 5xx")
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		fail("Content-Type %q is not JSON", rec.Header().Get("Content-Type"))
	}
	if !json.Valid(raw) {
		fail("the answer is not valid JSON")
	}
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(raw, &resp); err != nil {
		fail("the answer is not a JSON object: %v", err)
	}
	_, hasData := resp["data"]
	errsRaw, hasErrors := resp["errors"]
	if !hasData && !hasErrors {
		fail("neither data nor errors")
	}
	var errs []map[string]any
	if hasErrors {
		if err := json.Unmarshal(errsRaw, &errs); err != nil || len(errs) == 0 {
			fail("errors is not a non-empty array: %v", err)
		}
	}
	if rec.Code != http.StatusOK && len(errs) == 0 {
		fail("status %d without errors", rec.Code)
	}
	for i, e := range errs {
		if msg, _ := e["message"].(string); msg == "" {
			fail("errors[%d] has no message", i)
		}
		ext, _ := e["extensions"].(map[string]any)
		code, _ := ext["code"].(string)
		if code == "" {
			fail("errors[%d] has no extensions.code", i)
		}
		if code == "INTERNAL_SERVER_ERROR" {
			fail("errors[%d] is INTERNAL_SERVER_ERROR: a client's request was treated as unexpected", i)
		}
	}
	echo := strings.ToLower(fzEchoable(body))
	answer := string(raw)
	for _, leak := range fzLeaks {
		if strings.Contains(answer, leak) && !strings.Contains(echo, strings.ToLower(leak)) {
			fail("the answer contains %q", leak)
		}
	}
}

// fzEchoable is everything the request says, as gqlgen may quote it back:
// the raw body, its JSON strings decoded, and those strings with GraphQL
// escapes decoded too.
func fzEchoable(body []byte) string {
	var b strings.Builder
	b.Write(body)
	var v any
	if json.Unmarshal(body, &v) != nil {
		return b.String()
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			b.WriteString("\n" + v)
			if u, err := strconv.Unquote(`"` + strings.ReplaceAll(v, `"`, `\"`) + `"`); err == nil {
				b.WriteString("\n" + u)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				walk(k)
				walk(e)
			}
		}
	}
	walk(v)
	return b.String()
}

// FuzzGraphQLQuery is FuzzGraphQLBody one layer down: the fuzzed GraphQL
// document and variables travel in a well-formed JSON request (variables
// only when they are a JSON object), so that the mutator spends its time in
// the GraphQL parser, validator, complexity limit and resolvers rather than
// in JSON syntax. Same properties as FuzzGraphQLBody.
func FuzzGraphQLQuery(f *testing.F) {
	fx := fzStart(f)
	for _, s := range fzSeeds(fx) {
		if s.ct != "application/json" {
			continue
		}
		var p struct {
			Query     string          `json:"query"`
			Variables json.RawMessage `json:"variables"`
		}
		if json.Unmarshal(s.body, &p) == nil && p.Query != "" {
			f.Add(p.Query, string(p.Variables))
		}
	}
	f.Fuzz(func(t *testing.T, query, variables string) {
		m := map[string]any{"query": query}
		var vars map[string]any
		if json.Unmarshal([]byte(variables), &vars) == nil {
			m["variables"] = json.RawMessage(variables)
		}
		body, err := json.Marshal(m)
		if err != nil {
			t.Skip("not a JSON request")
		}
		rec := fx.post("application/json", body)
		fzCheckAnswer(t, "POST /graphql", body, rec)
		if p := fx.log.take(); len(p) > 0 {
			t.Fatalf("body %q: the service panicked: %s", body, p[0])
		}
	})
}

// FuzzGraphQLRequest varies what FuzzGraphQLBody keeps fixed: the method, the
// URL query string (GET carries the operation there), and one extra request
// header of any name and value, around a fuzzed body. Properties: never a
// 5xx or a panic; OPTIONS gets its empty 204; every other answer is a JSON
// GraphQL response whose errors all carry an extensions.code (not
// INTERNAL_SERVER_ERROR), with no stack trace, SQL or driver text, or secret.
func FuzzGraphQLRequest(f *testing.F) {
	fx := fzStart(f)
	const q = `{"query":"{ me { id email } }"}`
	mutation := `{"query":"mutation { logout(token: \"x\") }"}`
	for _, s := range []struct{ method, query, header, value, body string }{
		{"POST", "", "", "", q},
		{"GET", "query=" + url.QueryEscape(meQ), "", "", ""},
		{"GET", "query=" + url.QueryEscape(`query($f: Int) { myAuditEvents(first: $f) { pageInfo { hasNextPage } } }`) + "&variables=" + url.QueryEscape(`{"f":3}`), "", "", ""},
		{"GET", "query=" + url.QueryEscape(`mutation { logout(token: "x") }`), "", "", ""},
		{"GET", "query=" + url.QueryEscape(meQ) + "&variables=%7Bnot-json", "", "", ""},
		{"GET", "query=" + url.QueryEscape(meQ) + "&extensions=%5B1%5D", "", "", ""},
		{"GET", "query=%ff%fe&operationName=%00", "", "", ""},
		{"GET", "", "", "", ""},
		{"GET", "query=" + url.QueryEscape(meQ), "Upgrade", "websocket", ""},
		{"POST", "", "Upgrade", "websocket", q},
		{"POST", "", "Upgrade", "h2c", mutation},
		{"POST", "", "Origin", "https://evil.example", mutation},
		{"OPTIONS", "", "Origin", "https://evil.example", ""},
		{"OPTIONS", "", "Access-Control-Request-Method", "POST", ""},
		{"PUT", "", "", "", q},
		{"DELETE", "", "", "", ""},
		{"HEAD", "query=" + url.QueryEscape(meQ), "", "", ""},
		{"PATCH", "", "Content-Type", "text/plain", q},
		{"POST", "", "Content-Type", "application/json; charset", q},
		{"POST", "", "Content-Type", "text/plain", q},
		{"POST", "", "Authorization", "Bearer " + strings.Repeat("A", 5000), q},
		{"POST", "", "Authorization", "bearer\t\x00", q},
		{"POST", "", "Authorization", "Basic dXNlcjpwYXNz", q},
		{"POST", "", "Cookie", "__Host-authql_refresh=\x00; a=b", `{"query":"mutation { refreshToken { accessToken } }"}`},
		{"POST", "", "X-Forwarded-For", "1.2.3.4, ::ffff:10.0.0.1, garbage", q},
		{"POST", "", "User-Agent", strings.Repeat("ü", 2000), `{"query":"mutation { login(input: {email: \"a@example.com\", password: \"password123\"}) { accessToken } }"}`},
		{"POST", "", "Content-Encoding", "gzip", q},
		{"POST", "", "Expect", "100-continue", q},
	} {
		f.Add(s.method, s.query, s.header, s.value, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, rawQuery, header, value string, body []byte) {
		r, err := http.NewRequest(method, "/graphql?"+rawQuery, bytes.NewReader(body))
		if err != nil {
			t.Skip("not an HTTP request")
		}
		r.RemoteAddr = "192.0.2.1:1234"
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+fx.access)
		if header != "" {
			r.Header[header] = []string{value}
		}
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, r)
		desc := fmt.Sprintf("%s /graphql?%s with %s: %q", method, rawQuery, header, value)
		if method == http.MethodOptions {
			if rec.Code >= 500 {
				t.Fatalf("%s: %d", desc, rec.Code)
			}
		} else {
			fzCheckAnswer(t, desc, body, rec)
		}
		if p := fx.log.take(); len(p) > 0 {
			t.Fatalf("%s body %q: the service panicked: %s", desc, body, p[0])
		}
	})
}
