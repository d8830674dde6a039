package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"

	"github.com/authql/authql/internal/testkit/logbuf"
)

// testServer is NewHandler without an auth service. With stop, a request ends
// where execution would begin, after the document limits, validation and the
// complexity limit, answering {"data":{"executed":true}}.
func testServer(t testing.TB, opts Options, stop bool) (*handler.Server, *logbuf.Buffer) {
	t.Helper()
	logs := &logbuf.Buffer{}
	opts.Log = slog.New(slog.NewTextHandler(logs, nil))
	srv := NewHandler(nil, opts)
	if stop {
		srv.AroundOperations(func(context.Context, graphql.OperationHandler) graphql.ResponseHandler {
			return graphql.OneShot(&graphql.Response{Data: json.RawMessage(`{"executed":true}`)})
		})
	}
	return srv, logs
}

type gqlResponse struct {
	status int
	raw    []byte
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// code is the first error's code, "" without errors.
func (r *gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

func post(t testing.TB, h http.Handler, query string, vars map[string]any) *gqlResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	r := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	raw, _ := io.ReadAll(w.Body)
	out := &gqlResponse{status: w.Code, raw: raw}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("not JSON (%d): %.300s", w.Code, raw)
	}
	return out
}

// aliases repeats field n times, aliased a0, a1, ...
func aliases(n int, field string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(" a")
		b.WriteString(itoa(i))
		b.WriteString(": ")
		b.WriteString(field)
	}
	return b.String()
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
