package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/authql/authql/graph/graphtest"
)

// Every legitimate request passes the limits, validation and the complexity
// limit with the defaults, and reaches execution.
func TestLegitimateDocumentsPass(t *testing.T) {
	srv, logs := testServer(t, Options{Introspection: true}, true)
	for _, d := range graphtest.Legitimate() {
		t.Run(d.Name, func(t *testing.T) {
			resp := post(t, srv, d.Query, d.Vars)
			if resp.status != http.StatusOK || len(resp.Errors) > 0 || string(resp.Data["executed"]) != "true" {
				t.Fatalf("%d %.600s", resp.status, resp.raw)
			}
		})
	}
	if logs.String() != "" {
		t.Fatalf("logged: %s", logs)
	}
}

// Where the legitimate documents stand: the limits leave room above each.
func TestLegitimateDocumentsMeasure(t *testing.T) {
	for _, d := range graphtest.Legitimate() {
		doc, err := parser.ParseQuery(&ast.Source{Input: d.Query})
		if err != nil {
			t.Fatal(err)
		}
		m := newMeasurer(doc)
		s := m.measure(doc)
		t.Logf("%-25s %5d bytes %5d tokens %4d fields %3d deep %3d aliases %2d fragments %2d spreads %3d values %d overlaps",
			d.Name, len(d.Query), countTokens(d.Query, 1<<30), s.fields, s.depth, s.aliases, s.fragments, s.spreads, s.values, m.overlaps(doc))
		if err := DefaultLimits.check(d.Query); err != nil {
			t.Errorf("%s: %v", d.Name, err)
		}
	}
}

func TestMeasure(t *testing.T) {
	for _, c := range []struct {
		name, query string
		want        shape
		overlaps    int
		cycle       string
	}{
		{"fields and depth", `{ me { id email } sessions { id } }`, shape{fields: 5, depth: 2}, 0, ""},
		{"aliases", `{ a: me { id } b: me { id } me { i: id } }`, shape{fields: 6, depth: 2, aliases: 3}, 0, ""},
		{"same response name", `{ me { id } me { id email } }`, shape{fields: 5, depth: 2}, 2, ""},
		// Operations with their fragments spread out, and each definition.
		{"fragment spread out at each spread", `{ ...F ...F } fragment F on Query { me { id } }`,
			shape{fields: 6, depth: 2, fragments: 1, spreads: 2}, 2, ""},
		{"fragments nested", `{ me { ...U } } fragment U on User { ...V email } fragment V on User { id }`,
			shape{fields: 6, depth: 2, fragments: 2, spreads: 2}, 0, ""},
		{"inline fragments", `{ ... on Query { me { id } } ... on Query { me { id } } }`,
			shape{fields: 4, depth: 2, fragments: 2}, 2, ""},
		{"fragment bomb saturates", bombOf(60), shape{fields: 1 << 40, depth: 1, fragments: 61, spreads: 121}, 0, ""},
		{"cycle", `{ ...A } fragment A on Query { ...B } fragment B on Query { me { ...A } }`, shape{fields: 4, depth: 2, fragments: 2, spreads: 3}, 0, "A"},
		{"self spread", `{ me { ...U } } fragment U on User { id ...U }`, shape{fields: 4, depth: 2, fragments: 1, spreads: 2}, 0, "U"},
		{"unknown fragment", `{ ...X }`, shape{spreads: 1}, 0, ""},
		{"directives", `query Q($a: Int @d) @d { me @skip(if: true) @include(if: true) { id } ...F @d } fragment F on Query @d { __typename }`,
			shape{fields: 4, depth: 2, fragments: 1, spreads: 1, directives: 6, variables: 1, values: 2}, 0, ""},
		{"values", `query($v: [Int] = [1, [2, 3]]) { f(a: {b: [1, 2], c: {d: 1}}, e: 1) }`,
			shape{fields: 1, depth: 1, variables: 1, values: 5 + 7}, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc, err := parser.ParseQuery(&ast.Source{Input: c.query})
			if err != nil {
				t.Fatal(err)
			}
			m := newMeasurer(doc)
			if got := m.measure(doc); got != c.want {
				t.Fatalf("shape %+v, want %+v", got, c.want)
			}
			if m.cycle != c.cycle {
				t.Fatalf("cycle %q, want %q", m.cycle, c.cycle)
			}
			if c.cycle == "" && c.want.fields < 1000 {
				if got := m.overlaps(doc); got != c.overlaps {
					t.Fatalf("overlaps %d, want %d", got, c.overlaps)
				}
			}
		})
	}
}

func bombOf(levels int) string {
	var b strings.Builder
	b.WriteString("{ ...f0 }")
	for i := range levels {
		b.WriteString(" fragment f" + itoa(i) + " on Query { ...f" + itoa(i+1) + " ...f" + itoa(i+1) + " }")
	}
	b.WriteString(" fragment f" + itoa(levels) + " on Query { __typename }")
	return b.String()
}

// Each limit refuses a document one over it, with COMPLEXITY_LIMIT_EXCEEDED
// and a message naming it, and lets one at it through.
func TestDocumentLimits(t *testing.T) {
	small := Limits{Bytes: 400, Tokens: 60, Fields: 6, Overlaps: 3, Aliases: 3, Fragments: 2, Spreads: 3, Depth: 3,
		Directives: 2, Operations: 2, Variables: 2, Values: 4}
	srv, _ := testServer(t, Options{Limits: small}, true)
	for _, c := range []struct {
		name, at, over, message string
	}{
		{"bytes", "{ __typename }" + strings.Repeat(" ", 386), "{ __typename }" + strings.Repeat(" ", 387), "longer than 400 bytes"},
		{"tokens", strings.Repeat("#\n", 57) + "{ __typename }", strings.Repeat("#\n", 58) + "{ __typename }", "longer than 60 tokens"},
		{"fields", "{ a: me { id } b: me { id } c: me { id } }", "{ a: me { id } b: me { id } c: me { id } __typename }", "more than 6 fields"},
		{"overlaps", "{ __typename __typename __typename }", "{ __typename __typename __typename __typename }", "more than 3 pairs"},
		{"aliases", "{ a: __typename b: __typename c: __typename }", "{ a: __typename b: __typename c: __typename d: __typename }", "more than 3 aliases"},
		{"fragments", "{ ...F ... on Query { __typename } } fragment F on Query { __typename }", "{ ...F ... on Query { __typename } ... on Query { __typename } } fragment F on Query { __typename }", "more than 2 fragments"},
		{"spreads", "{ me { ...U ...U ...U } } fragment U on User { id }", "{ me { ...U ...U ...U ...U } } fragment U on User { id }", "more than 3 fragment spreads"},
		{"directives", "{ __typename @skip(if: false) @include(if: true) }", "{ __typename @skip(if: false) @include(if: true) a: __typename @skip(if: false) }", "more than 2 directives"},
		{"operations", "query A { __typename } query B { __typename }", "query A { __typename } query B { __typename } query C { __typename }", "more than 2 operations"},
		{"variables", "query($a: Int, $b: Int) { __typename }", "query($a: Int, $b: Int, $c: Int) { __typename }", "more than 2 variables"},
		{"values", "{ myAuditEvents(first: 1, after: \"x\") { pageInfo { hasNextPage } } }", "query($v: [Int] = [1, 2, 3, 4]) { __typename }", "more than 4 argument values"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if resp := post(t, srv, c.at, nil); resp.code() == CodeQueryTooComplex {
				t.Fatalf("at the limit: %s", resp.raw)
			}
			resp := post(t, srv, c.over, nil)
			if resp.status != http.StatusOK || resp.code() != CodeQueryTooComplex || !strings.Contains(resp.Errors[0].Message, c.message) {
				t.Fatalf("over the limit: %d %s", resp.status, resp.raw)
			}
		})
	}
}

func TestDepthLimit(t *testing.T) {
	srv, _ := testServer(t, Options{Introspection: true, Limits: Limits{Depth: 4}}, true)
	at := `{ __schema { types { fields { name } } } }`
	over := `{ __schema { types { fields { type { name } } } } }`
	viaFragment := `{ __schema { types { ...T } } } fragment T on __Type { fields { ... on __Field { type { name } } } }`
	if resp := post(t, srv, at, nil); resp.code() != "" {
		t.Fatalf("at the limit: %s", resp.raw)
	}
	for _, q := range []string{over, viaFragment} {
		if resp := post(t, srv, q, nil); resp.code() != CodeQueryTooComplex || !strings.Contains(resp.Errors[0].Message, "more than 4 levels") {
			t.Fatalf("%s: %s", q, resp.raw)
		}
	}
}

// A fragment cycle is refused before anything spreads it out.
func TestFragmentCycleRefused(t *testing.T) {
	srv, _ := testServer(t, Options{}, true)
	resp := post(t, srv, `{ ...A } fragment A on Query { ...B } fragment B on Query { me { id } ...A }`, nil)
	if resp.code() != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(resp.Errors[0].Message, "within itself") {
		t.Fatalf("%s", resp.raw)
	}
}

// A syntax error is answered as gqlgen answers it.
func TestParseErrorCoded(t *testing.T) {
	srv, _ := testServer(t, Options{}, true)
	resp := post(t, srv, `{ me { id }`, nil)
	if resp.code() != "GRAPHQL_PARSE_FAILED" || resp.status != http.StatusOK {
		t.Fatalf("%d %s", resp.status, resp.raw)
	}
}

// A document in the query cache passed the limits: it is not measured again.
func TestCachedDocumentsSkipTheLimits(t *testing.T) {
	cache := lru.New[*ast.QueryDocument](10)
	d := documentLimits{limits: Limits{Bytes: 10}.orDefaults(), cache: cache}
	ctx := graphql.WithOperationContext(context.Background(), &graphql.OperationContext{})
	params := &graphql.RawParams{Query: `{ me { id email } }`}
	if err := d.MutateOperationParameters(ctx, params); err == nil {
		t.Fatal("a document over the limits passed")
	}
	cache.Add(ctx, params.Query, &ast.QueryDocument{})
	if err := d.MutateOperationParameters(ctx, params); err != nil {
		t.Fatalf("a cached document was measured again: %v", err)
	}
}

// Validation errors are capped, however many the document has.
func TestValidationErrorsCapped(t *testing.T) {
	srv, _ := testServer(t, Options{}, true)
	var b strings.Builder
	b.WriteString("{")
	for i := range 300 {
		b.WriteString(" unknown" + itoa(i))
	}
	b.WriteString(" }")
	resp := post(t, srv, b.String(), nil)
	if len(resp.Errors) != DefaultLimits.Errors+1 {
		t.Fatalf("%d errors: %.400s", len(resp.Errors), resp.raw)
	}
	last := resp.Errors[len(resp.Errors)-1]
	if last.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(last.Message, "too many validation errors") {
		t.Fatalf("%+v", last)
	}
}

// With introspection off, no error suggests a name of the schema; with it
// on, they do.
func TestSuggestionsFollowIntrospection(t *testing.T) {
	queries := map[string]string{
		"field":       `{ mee { id } }`,
		"argument":    `{ myAuditEvents(frist: 1) { pageInfo { hasNextPage } } }`,
		"type":        `{ ...F } fragment F on Querry { __typename }`,
		"input field": `mutation { login(input: {emial: "a", email: "a", password: "b"}) { accessToken } }`,
	}
	for _, on := range []bool{false, true} {
		srv, _ := testServer(t, Options{Introspection: on}, true)
		for name, q := range queries {
			resp := post(t, srv, q, nil)
			if resp.code() != "GRAPHQL_VALIDATION_FAILED" {
				t.Fatalf("%s: %s", name, resp.raw)
			}
			if suggested := strings.Contains(string(resp.raw), "Did you mean"); suggested != on {
				t.Errorf("introspection %v, %s: %s", on, name, resp.raw)
			}
		}
	}
}

// With introspection off, __schema and __type are validation errors, logged
// nowhere; __typename still answers.
func TestIntrospectionRefusedBeforeExecution(t *testing.T) {
	srv, logs := testServer(t, Options{}, false)
	for _, q := range []string{
		`{ __schema { queryType { name } } }`,
		`{ __type(name: "User") { name } }`,
		`{ ... on Query { __schema { types { name } } } }`,
		`{ ...F } fragment F on Query { __type(name: "Query") { name } }`,
		"{" + aliases(200, `__type(name: "User") { name }`) + " }",
		graphtest.IntrospectionQuery,
	} {
		resp := post(t, srv, q, nil)
		if resp.status != http.StatusOK || resp.code() != "GRAPHQL_VALIDATION_FAILED" || resp.Data != nil {
			t.Fatalf("%.80s: %d %.300s", q, resp.status, resp.raw)
		}
		for _, e := range resp.Errors {
			if e.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
				t.Fatalf("%.80s: %+v", q, e)
			}
		}
	}
	if resp := post(t, srv, `{ __typename }`, nil); resp.code() != "" || string(resp.Data["__typename"]) != `"Query"` {
		t.Fatalf("__typename: %s", resp.raw)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("logged: %s", logs)
	}
	on, _ := testServer(t, Options{Introspection: true}, false)
	resp := post(t, on, graphtest.IntrospectionQuery, nil)
	if resp.code() != "" || !strings.Contains(string(resp.Data["__schema"]), `"myAuditEvents"`) {
		t.Fatalf("introspection on: %.300s", resp.raw)
	}
}

// A list field costs its selection once per item it may hold: the complexity
// limit lets a page of each list through in one query, and refuses many.
func TestListCosts(t *testing.T) {
	srv, _ := testServer(t, Options{}, true)
	for _, c := range []struct {
		name, query string
		refused     bool
	}{
		{"full pages", graphtest.FullPages, false},
		{"a page of audit events past 100 is the resolver's to refuse", `{ myAuditEvents(first: 100000) { edges { node { id type createdAt sessionId ipAddress userAgent detail } } } }`, false},
		{"500 aliased sessions", "{" + aliases(500, "sessions { userAgent }") + " }", true},
		{"30 aliased sessions", "{" + aliases(30, "sessions { userAgent }") + " }", true},
		{"249 aliased audit pages", "{" + aliases(249, "myAuditEvents(first: 100) { edges { node { userAgent } } }") + " }", true},
		{"8 aliased audit pages", "{" + aliases(8, "myAuditEvents(first: 100) { edges { cursor node { userAgent } } }") + " }", true},
		{"audit pages by a variable", `query($n: Int) {` + aliases(8, "myAuditEvents(first: $n) { edges { cursor node { userAgent } } }") + " }", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := post(t, srv, c.query, map[string]any{"n": 100})
			if refused := resp.code() == CodeQueryTooComplex; refused != c.refused || (!refused && resp.code() != "") {
				t.Fatalf("%s", resp.raw)
			}
		})
	}
}

// A response over the cap is withheld: RESPONSE_TOO_LARGE, data null, 200.
func TestResponseCap(t *testing.T) {
	srv, _ := testServer(t, Options{Introspection: true, MaxResponseBytes: 500}, false)
	resp := post(t, srv, `{ __schema { types { name } } }`, nil)
	if resp.status != http.StatusOK || resp.code() != CodeResponseTooLarge || len(resp.Errors) != 1 || string(resp.Data["__schema"]) != "" || len(resp.raw) > 500 {
		t.Fatalf("%d %s", resp.status, resp.raw)
	}
	if resp := post(t, srv, `{ __schema { queryType { name } } }`, nil); resp.code() != "" {
		t.Fatalf("under the cap: %s", resp.raw)
	}
}

// The complexity of an operation without variables is remembered per
// document and operation name, never across them, and never for one with
// variables, whose values change a list's length. Each request below is
// sent twice, so the second meets whatever the first left remembered.
func TestComplexityRemembered(t *testing.T) {
	srv, _ := testServer(t, Options{}, true)
	twoOps := `query Small { me { id } } query Big {` + aliases(30, "sessions { userAgent }") + " }"
	byVariable := `query($n: Int) {` + aliases(8, "myAuditEvents(first: $n) { edges { cursor node { userAgent } } }") + " }"
	for _, c := range []struct {
		name, query, operation string
		vars                   map[string]any
		refused                bool
	}{
		{"the small operation", twoOps, "Small", nil, false},
		{"the big operation of the same document", twoOps, "Big", nil, true},
		{"the small one again", twoOps, "Small", nil, false},
		{"a variable making a short page", byVariable, "", map[string]any{"n": 1}, false},
		{"the same document with a long page", byVariable, "", map[string]any{"n": 100}, true},
	} {
		for range 2 {
			body, _ := json.Marshal(map[string]any{"query": c.query, "operationName": c.operation, "variables": c.vars})
			r := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			resp := &gqlResponse{}
			if err := json.Unmarshal(w.Body.Bytes(), resp); err != nil {
				t.Fatalf("%s: not JSON: %s", c.name, w.Body)
			}
			if refused := resp.code() == CodeQueryTooComplex; refused != c.refused || (!refused && resp.code() != "") {
				t.Fatalf("%s: %s", c.name, w.Body)
			}
		}
	}
}
