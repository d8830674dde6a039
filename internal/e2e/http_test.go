package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authql/authql/internal/reqctx"
	"github.com/authql/authql/internal/store/storetest"
)

func TestHTTPSurface(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	get := func(path string) (*http.Response, []byte) {
		resp, err := http.Get(e.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	t.Run("healthz", func(t *testing.T) {
		if resp, _ := get("/healthz"); resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("readyz", func(t *testing.T) {
		if resp, _ := get("/readyz"); resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("jwks without asymmetric keys", func(t *testing.T) {
		resp, body := get("/.well-known/jwks.json")
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"keys":[]}` {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
			t.Fatalf("Cache-Control %q", cc)
		}
	})
	t.Run("playground is served from the binary", func(t *testing.T) {
		resp, body := get("/")
		if resp.StatusCode != 200 || !strings.Contains(string(body), "/graphql") {
			t.Fatalf("%d", resp.StatusCode)
		}
		if strings.Contains(string(body), "https://") {
			t.Fatal("playground loads something from the internet")
		}
	})
	t.Run("GET runs queries", func(t *testing.T) {
		resp, body := get("/graphql?query=" + url.QueryEscape(`{ __typename }`))
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"Query"`) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("GET never runs mutations", func(t *testing.T) {
		q := url.QueryEscape(`mutation { signup(input: {email: "get@example.com", password: "password123"}) { accessToken } }`)
		resp, body := get("/graphql?query=" + q)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || strings.Contains(string(body), "accessToken\":\"") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		e.wantCode(req{query: loginQ, vars: map[string]any{"e": "get@example.com", "p": "password123"}}, "INVALID_CREDENTIALS")
	})
	mutation := `{"query":"mutation { signup(input: {email: \"csrf@example.com\", password: \"password123\"}) { accessToken } }"}`
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		t.Run("POST "+ct+" is refused", func(t *testing.T) {
			hr, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql", strings.NewReader(mutation))
			if ct != "" {
				hr.Header.Set("Content-Type", ct)
			}
			resp := e.send(hr)
			if resp.Status != http.StatusUnsupportedMediaType || len(resp.Errors) == 0 {
				t.Fatalf("%d %s", resp.Status, resp.Raw)
			}
		})
	}
	e.wantCode(req{query: loginQ, vars: map[string]any{"e": "csrf@example.com", "p": "password123"}}, "INVALID_CREDENTIALS")
	t.Run("malformed JSON is a 400 that echoes nothing", func(t *testing.T) {
		hr, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql", strings.NewReader(`{"query": "mutation { login(input: {email: "x", password: "secret-pass"}) }`))
		hr.Header.Set("Content-Type", "application/json")
		resp := e.send(hr)
		if resp.Status != http.StatusBadRequest || len(resp.Errors) == 0 || strings.Contains(string(resp.Raw), "secret-pass") {
			t.Fatalf("%d %s", resp.Status, resp.Raw)
		}
	})
	t.Run("batched requests are not supported", func(t *testing.T) {
		// One operation per request keeps every limit per request meaningful.
		hr, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql", strings.NewReader(`[{"query":"{ __typename }"},{"query":"{ __typename }"}]`))
		hr.Header.Set("Content-Type", "application/json")
		if resp := e.send(hr); resp.Status != http.StatusBadRequest || len(resp.Errors) == 0 {
			t.Fatalf("%d %s", resp.Status, resp.Raw)
		}
	})
	t.Run("20 MB body gets 413", func(t *testing.T) {
		big := bytes.Repeat([]byte("a"), 20<<20)
		hr, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql", bytes.NewReader(big))
		hr.Header.Set("Content-Type", "application/json")
		if resp := e.send(hr); resp.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d", resp.Status)
		}
	})
	t.Run("chunked body over the limit gets 413", func(t *testing.T) {
		body := io.MultiReader(strings.NewReader(`{"query":"{ __typename }","variables":{"x":"`), bytes.NewReader(bytes.Repeat([]byte("a"), 2<<20)), strings.NewReader(`"}}`))
		hr, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql", body)
		hr.ContentLength = -1
		hr.Header.Set("Content-Type", "application/json")
		if resp := e.send(hr); resp.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d", resp.Status)
		}
	})
	t.Run("token responses are not cacheable", func(t *testing.T) {
		resp := e.do(req{query: `{ __typename }`})
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", resp.Header.Get("Cache-Control"))
		}
	})
}

func TestQueryCostIsBounded(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	var b strings.Builder
	b.WriteString("{")
	for i := range 5000 {
		b.WriteString(" a")
		b.WriteString(strings.Repeat("x", i%3))
		b.WriteString(itoa(i))
		b.WriteString(": __typename")
	}
	b.WriteString(" }")
	began := time.Now()
	resp := e.do(req{query: b.String()})
	took := time.Since(began)
	if resp.code() != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("5000 aliases: %d %.300s", resp.Status, resp.Raw)
	}
	t.Logf("5000-alias query refused in %v", took)
	// A request of sixty aliased logins stays within the limit: it must reach
	// the rate limiter, not be refused wholesale.
	var m strings.Builder
	m.WriteString("mutation {")
	for i := range 60 {
		m.WriteString(" l" + itoa(i) + `: login(input: {email: "a@example.com", password: "password123"}) { accessToken refreshToken tokenType expiresIn user { id email } }`)
	}
	m.WriteString(" }")
	if resp := e.do(req{query: m.String()}); resp.code() != "INVALID_CREDENTIALS" {
		t.Fatalf("60 aliased logins: %.300s", resp.Raw)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestCookieMode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db, "AUTHQL_REFRESH_COOKIE=on")
		resp := e.do(req{query: signupQ, vars: map[string]any{"e": newEmail(), "p": pw}})
		var p payload
		if err := json.Unmarshal(resp.Data["signup"], &p); err != nil || resp.code() != "" {
			t.Fatalf("%s", resp.Raw)
		}
		if p.RefreshToken != nil {
			t.Fatal("refresh token in the payload in cookie mode")
		}
		c := refreshCookie(t, resp.Header)
		if c == nil || c.Value == "" {
			t.Fatalf("no refresh cookie: %v", resp.Header.Values("Set-Cookie"))
		}
		raw := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
		for _, attr := range []string{"Path=/", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age="} {
			if !strings.Contains(raw, attr) {
				t.Errorf("cookie lacks %s: %s", attr, raw)
			}
		}
		if c.MaxAge < 167*3600 || c.MaxAge > 168*3600 {
			t.Errorf("Max-Age %d", c.MaxAge)
		}
		// refreshToken without an argument reads the cookie and sets the next one.
		resp = e.do(req{query: `mutation { refreshToken { accessToken refreshToken } }`, cookies: []*http.Cookie{c}})
		if resp.code() != "" || !strings.Contains(string(resp.Data["refreshToken"]), `"refreshToken":null`) {
			t.Fatalf("cookie refresh: %s", resp.Raw)
		}
		next := refreshCookie(t, resp.Header)
		if next == nil || next.Value == c.Value {
			t.Fatal("cookie not rotated")
		}
		// With neither argument nor cookie.
		e.wantCode(req{query: `mutation { refreshToken { accessToken } }`}, "INVALID_REFRESH_TOKEN")
		// logout reads the cookie and clears it.
		resp = e.do(req{query: `mutation { logout }`, cookies: []*http.Cookie{next}})
		if resp.code() != "" || string(resp.Data["logout"]) != "true" {
			t.Fatalf("logout: %s", resp.Raw)
		}
		if cleared := refreshCookie(t, resp.Header); cleared == nil || cleared.MaxAge >= 0 || !strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), ""), "Max-Age=0") {
			t.Fatalf("cookie not cleared: %v", resp.Header.Values("Set-Cookie"))
		}
		if _, resp := e.refresh(next.Value); resp.code() != "INVALID_REFRESH_TOKEN" {
			t.Fatalf("refresh after logout: %s", resp.Raw)
		}
	})
}

func refreshCookie(t *testing.T, h http.Header) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == reqctx.CookieName {
			return c
		}
	}
	return nil
}

func TestOriginsAndCORS(t *testing.T) {
	e := start(t, storetest.SQLite(t), "AUTHQL_REFRESH_COOKIE=on", "AUTHQL_CORS_ORIGINS=https://app.example.com")
	signup := func(origin string) *response {
		return e.do(req{query: signupQ, vars: map[string]any{"e": newEmail(), "p": pw}, headers: map[string]string{"Origin": origin}})
	}
	t.Run("allowed origin gets a credentialed grant", func(t *testing.T) {
		resp := signup("https://app.example.com")
		if resp.code() != "" {
			t.Fatalf("%s", resp.Raw)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("headers %v", resp.Header)
		}
	})
	t.Run("foreign origin gets no grant and no mutation", func(t *testing.T) {
		resp := signup("https://evil.example.com")
		if resp.code() != "FORBIDDEN" || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%s %v", resp.Raw, resp.Header)
		}
		if len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Fatal("cookie set for a foreign origin")
		}
	})
	t.Run("foreign origin may still run queries", func(t *testing.T) {
		resp := e.do(req{query: `{ __typename }`, headers: map[string]string{"Origin": "https://evil.example.com"}})
		if resp.code() != "" || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%s", resp.Raw)
		}
	})
	t.Run("same origin (the playground) may mutate", func(t *testing.T) {
		if resp := signup(e.URL); resp.code() != "" {
			t.Fatalf("%s", resp.Raw)
		}
	})
	t.Run("preflight", func(t *testing.T) {
		hr, _ := http.NewRequest(http.MethodOptions, e.URL+"/graphql", nil)
		hr.Header.Set("Origin", "https://app.example.com")
		hr.Header.Set("Access-Control-Request-Method", "POST")
		// As browsers send it (Fetch): lower case, sorted.
		hr.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp := e.send(hr)
		if resp.Status != http.StatusNoContent || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
			t.Fatalf("%d %v", resp.Status, resp.Header)
		}
		hr.Header.Set("Origin", "https://evil.example.com")
		if resp := e.send(hr); resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatal("preflight granted to a foreign origin")
		}
	})
}
