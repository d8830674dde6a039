package graph

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authql/authql/internal/reqctx"
)

// TestTransportRefusals pins every refusal made before GraphQL runs: its
// status, its code and its message, each answered as a GraphQL response, and
// none quoting the request.
func TestTransportRefusals(t *testing.T) {
	srv, _ := testServer(t, Options{MaxBodyBytes: 256}, true)
	const ctJSON = "application/json"
	big := `{"query":"{ __typename }","variables":{"x":"` + strings.Repeat("a", 300) + `"}}`
	cases := []struct {
		name                 string
		method, target, body string
		header               map[string]string
		chunked              bool
		status               int
		code, message, allow string
	}{
		{name: "websocket upgrade", method: "GET", target: "/graphql", header: map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"},
			status: 400, code: "BAD_REQUEST", message: "protocol upgrades (websockets) are not supported"},
		{name: "upgrade on a preflight", method: "OPTIONS", target: "/graphql", header: map[string]string{"Upgrade": "h2c"},
			status: 400, code: "BAD_REQUEST", message: "protocol upgrades (websockets) are not supported"},
		{name: "PUT", method: "PUT", target: "/graphql", body: `{"query":"{ __typename }"}`, header: map[string]string{"Content-Type": ctJSON},
			status: 405, code: "BAD_REQUEST", message: "use POST (or GET for queries)", allow: "GET, POST, OPTIONS"},
		{name: "form post", method: "POST", target: "/graphql", body: "query=mutation", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			status: 415, code: "BAD_REQUEST", message: "POST /graphql requires Content-Type: application/json"},
		{name: "no media type", method: "POST", target: "/graphql", body: `{"query":"{ __typename }"}`,
			status: 415, code: "BAD_REQUEST", message: "POST /graphql requires Content-Type: application/json"},
		{name: "declared length over the limit", method: "POST", target: "/graphql", body: big, header: map[string]string{"Content-Type": ctJSON},
			status: 413, code: "REQUEST_TOO_LARGE", message: "the request body is too large"},
		{name: "chunked body over the limit", method: "POST", target: "/graphql", body: big, header: map[string]string{"Content-Type": ctJSON}, chunked: true,
			status: 413, code: "REQUEST_TOO_LARGE", message: "the request body is too large"},
		{name: "batch", method: "POST", target: "/graphql", body: `[{"query":"{ __typename }"}]`, header: map[string]string{"Content-Type": ctJSON},
			status: 400, code: "BAD_REQUEST", message: `the request body is not a JSON GraphQL request ({"query": ..., "variables": {...}}); batches are not supported`},
		{name: "malformed body", method: "POST", target: "/graphql", body: `{"query": "mutation { login(password: "secret-pass") }`, header: map[string]string{"Content-Type": ctJSON},
			status: 400, code: "BAD_REQUEST", message: `the request body is not a JSON GraphQL request ({"query": ..., "variables": {...}}); batches are not supported`},
		{name: "malformed query string", method: "GET", target: "/graphql?query=%zz",
			status: 400, code: "BAD_REQUEST", message: "the query string is malformed"},
		{name: "variables not an object", method: "GET", target: "/graphql?query=%7B__typename%7D&variables=secret-pass",
			status: 400, code: "BAD_REQUEST", message: "variables must be a JSON object"},
		{name: "extensions not an object", method: "GET", target: "/graphql?query=%7B__typename%7D&extensions=%5B1%5D",
			status: 400, code: "BAD_REQUEST", message: "extensions must be a JSON object"},
		{name: "mutation over GET", method: "GET", target: "/graphql?query=mutation%7Blogout%7D",
			status: 405, code: "BAD_REQUEST", message: "GET runs queries only: send mutations with POST", allow: "POST"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(c.body)
			if c.chunked {
				body = io.MultiReader(body) // hides the length
			}
			r := httptest.NewRequest(c.method, c.target, body)
			if c.chunked {
				r.ContentLength = -1
			}
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			var resp gqlResponse
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatalf("not JSON (%d): %s", w.Code, w.Body)
			}
			if w.Code != c.status || resp.code() != c.code || len(resp.Errors) != 1 || resp.Errors[0].Message != c.message {
				t.Fatalf("%d %s, want %d %s %q", w.Code, w.Body, c.status, c.code, c.message)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if got := w.Header().Get("Allow"); got != c.allow {
				t.Fatalf("Allow %q, want %q", got, c.allow)
			}
			if strings.Contains(w.Body.String(), "secret-pass") || resp.Data != nil {
				t.Fatalf("quotes the request or answers data: %s", w.Body)
			}
		})
	}
	t.Run("preflight", func(t *testing.T) {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodOptions, "/graphql", nil))
		if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("within the limits it runs", func(t *testing.T) {
		if resp := post(t, srv, "{ __typename }", nil); resp.status != 200 || resp.code() != "" {
			t.Fatalf("%d %s", resp.status, resp.raw)
		}
	})
}

// TestForeignMutationIsForbidden: a mutation from a foreign origin is refused
// through the presenter, with the contract's code and message.
func TestForeignMutationIsForbidden(t *testing.T) {
	srv, _ := testServer(t, Options{}, true)
	for _, c := range []struct {
		name, query string
		code        string
	}{
		{"mutation", "mutation { logout }", "FORBIDDEN"},
		{"query", "{ __typename }", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"query": c.query})
			r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
			r.Header.Set("Content-Type", "application/json")
			r = r.WithContext(reqctx.With(r.Context(), &reqctx.Request{ForeignOrigin: true}, nil))
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			var resp gqlResponse
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			if resp.code() != c.code {
				t.Fatalf("%s", w.Body)
			}
			if c.code != "" && (resp.Errors[0].Message != "mutations are not allowed from this origin" || w.Code != 200) {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		})
	}
}

// TestGraphQLOverHTTPConformance pins the GraphQL-over-HTTP points the
// graphql-http audits check beyond the refusals above: a request that never
// executes has no data entry; a body without a query is malformed (400);
// refusals speak the media type the client accepts; an Accept naming no
// served media type is 406; the served schema has no @defer.
func TestGraphQLOverHTTPConformance(t *testing.T) {
	srv, _ := testServer(t, Options{Introspection: true}, false)
	const modern = "application/graphql-response+json"
	do := func(method, target, body string, header map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		for k, v := range header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	cases := []struct {
		name, method, target, body string
		header                     map[string]string
		status                     int
		contentType, code          string
	}{
		{"parse failure", "POST", "/graphql", `{"query":"{"}`, map[string]string{"Content-Type": "application/json", "Accept": modern}, 400, modern, "GRAPHQL_PARSE_FAILED"},
		{"validation failure", "POST", "/graphql", `{"query":"{ nope }"}`, map[string]string{"Content-Type": "application/json", "Accept": modern}, 400, modern, "GRAPHQL_VALIDATION_FAILED"},
		{"validation failure, legacy", "POST", "/graphql", `{"query":"{ nope }"}`, map[string]string{"Content-Type": "application/json"}, 200, "application/json", "GRAPHQL_VALIDATION_FAILED"},
		{"misspelt query", "POST", "/graphql", `{"qeury":"{ __typename }"}`, map[string]string{"Content-Type": "application/json"}, 400, "application/json", "BAD_REQUEST"},
		{"empty query", "GET", "/graphql?query=", "", nil, 400, "application/json", "BAD_REQUEST"},
		{"mutation over GET, modern", "GET", "/graphql?query=mutation%7Blogout%7D", "", map[string]string{"Accept": modern}, 405, modern, "BAD_REQUEST"},
		{"media type refused, modern", "POST", "/graphql", `query=x`, map[string]string{"Content-Type": "text/plain", "Accept": modern}, 415, modern, "BAD_REQUEST"},
		{"html only", "GET", "/graphql?query=%7B__typename%7D", "", map[string]string{"Accept": "text/html"}, 406, "application/json", "BAD_REQUEST"},
		{"@defer is not served", "POST", "/graphql", `{"query":"{ ... @defer { __typename } }"}`, map[string]string{"Content-Type": "application/json", "Accept": modern}, 400, modern, "GRAPHQL_VALIDATION_FAILED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := do(c.method, c.target, c.body, c.header)
			var body map[string]json.RawMessage
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("not JSON (%d): %s", w.Code, w.Body)
			}
			var resp gqlResponse
			_ = json.Unmarshal(w.Body.Bytes(), &resp)
			if w.Code != c.status || w.Header().Get("Content-Type") != c.contentType || resp.code() != c.code {
				t.Fatalf("%d %q %s, want %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body, c.status, c.contentType, c.code)
			}
			if _, ok := body["data"]; ok {
				t.Fatalf("a data entry for a request never executed: %s", w.Body)
			}
		})
	}
	t.Run("an executed error keeps data", func(t *testing.T) {
		w := do("POST", "/graphql", `{"query":"{ me { id } }"}`, map[string]string{"Content-Type": "application/json"})
		if !strings.Contains(w.Body.String(), `"data":null`) {
			t.Fatalf("%s", w.Body)
		}
	})
	t.Run("browsers' Accept is served JSON", func(t *testing.T) {
		w := do("GET", "/graphql?query=%7B__typename%7D", "", map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%d %s", w.Code, w.Header())
		}
	})
	t.Run("no @defer in the schema", func(t *testing.T) {
		resp := post(t, srv, `{ __schema { directives { name } } }`, nil)
		if strings.Contains(string(resp.Data["__schema"]), `"defer"`) || !strings.Contains(string(resp.Data["__schema"]), `"auth"`) {
			t.Fatalf("%s", resp.raw)
		}
	})
}
