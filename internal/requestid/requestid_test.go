package requestid

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMiddleware: a safe id a client or proxy sent is kept; any other, or
// none, is replaced by a fresh one; the handler and the response see the same.
func TestMiddleware(t *testing.T) {
	cases := []struct {
		name, sent string
		kept       bool
	}{
		{"none", "", false},
		{"uuid", "0b1e2f6a-8a55-4d43-9f6e-3c1b2a6d7e8f", true},
		{"proxy style", "req_01HZX.abc:42", true},
		{"at the length limit", strings.Repeat("a", MaxLen), true},
		{"over the length limit", strings.Repeat("a", MaxLen+1), false},
		{"space", "a b", false},
		{"newline forging a log line", "a\nlevel=ERROR msg=forged", false},
		{"quote", `a"b`, false},
		{"non-ascii", "idé", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var seen string
			h := Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = From(r.Context()) }))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if c.sent != "" {
				r.Header.Set(Header, c.sent)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Header().Get(Header)
			if got != seen || !Valid(got) {
				t.Fatalf("answered %q, handler saw %q", got, seen)
			}
			if (got == c.sent) != c.kept {
				t.Fatalf("sent %q, answered %q; kept want %v", c.sent, got, c.kept)
			}
		})
	}
}

func TestNewIsUniqueAndValid(t *testing.T) {
	a, b := New(), New()
	if a == b || !Valid(a) || len(a) != 32 {
		t.Fatalf("%q %q", a, b)
	}
}

// TestHandlerStamps: every record logged with a request's context carries
// its id, through loggers derived with attributes; records without one do not.
func TestHandlerStamps(t *testing.T) {
	var out strings.Builder
	log := slog.New(NewHandler(slog.NewTextHandler(&out, nil))).With("component", "x")
	ctx := With(context.Background(), "req-1")
	log.InfoContext(ctx, "inside")
	log.Info("outside")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "request_id=req-1") || strings.Contains(lines[1], "request_id") {
		t.Fatalf("%q", lines)
	}
	if NewHandler(log.Handler()) != log.Handler() {
		t.Fatal("wrapping a stamping handler again would stamp twice")
	}
}
