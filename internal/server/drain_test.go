package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authql/authql/internal/testkit/logbuf"
)

// TestDrain: once the drain begins, /readyz answers 503 while /healthz and
// GraphQL answer as before, every answer with Connection: close; before it,
// nothing asks to close.
func TestDrain(t *testing.T) {
	log, _ := logbuf.New()
	drain := new(Drain)
	h := New(Options{
		GraphQL: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"data":{}}`)) }),
		Ready:   func(context.Context) error { return nil },
		Log:     log,
		Drain:   drain,
	})
	serve := func(method, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		return w
	}
	want := func(phase string, path string, code int, closing bool) {
		t.Helper()
		method := http.MethodGet
		if path == "/graphql" {
			method = http.MethodPost
		}
		w := serve(method, path)
		if w.Code != code || (w.Header().Get("Connection") == "close") != closing {
			t.Errorf("%s: %s %d Connection %q; want %d, close %v", phase, path, w.Code, w.Header().Get("Connection"), code, closing)
		}
	}
	for _, p := range []string{"/readyz", "/healthz", "/graphql"} {
		want("serving", p, http.StatusOK, false)
	}
	drain.Begin()
	want("draining", "/readyz", http.StatusServiceUnavailable, true)
	want("draining", "/healthz", http.StatusOK, true)
	want("draining", "/graphql", http.StatusOK, true)
	if (*Drain)(nil).Draining() {
		t.Error("a nil Drain drains")
	}
}
