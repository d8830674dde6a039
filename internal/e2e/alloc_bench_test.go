package e2e

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/authql/authql/internal/app"
	"github.com/authql/authql/internal/loadtest"
	"github.com/authql/authql/internal/store/storetest"
)

// BenchmarkMeHandler is one me request served by the assembled handler
// without a network or a client in between: its allocs/op are the server's
// (and a dozen of httptest's request and recorder).
//
//	go test ./internal/e2e -run '^$' -bench MeHandler -benchmem
func BenchmarkMeHandler(b *testing.B) {
	eachBackend(b, func(b *testing.B, db storetest.Backend) {
		// Tracing off, as the binary has it without OTLP export.
		a, err := newApp(b, db, []app.Option{app.WithPasswordParams(cheapHash), app.WithTracerProvider(noop.NewTracerProvider())})
		if err != nil {
			b.Fatalf("app: %v", err)
		}
		srv := httptest.NewServer(a.Handler)
		defer srv.Close()
		c := loadtest.NewClient(srv.URL, 1)
		defer c.Close()
		p, err := c.Signup(context.Background(), newEmail(), pw)
		if err != nil {
			b.Fatalf("signup: %v", err)
		}
		body := []byte(`{"query":"{ me { id email } }"}`)
		auth := "Bearer " + p.AccessToken
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", auth)
			rec := httptest.NewRecorder()
			a.Handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"me":{`)) {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
}
