package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authql/authql/internal/requestid"
	"github.com/authql/authql/internal/testkit/logbuf"
)

// TestPanicAnswerQuotesTheRequestID: a panic outside GraphQL answers 500
// INTERNAL_SERVER_ERROR whose extensions.requestId is the id of the response
// header and of the log line that records the panic.
func TestPanicAnswerQuotesTheRequestID(t *testing.T) {
	log, logs := logbuf.New()
	log = slog.New(requestid.NewHandler(log.Handler()))
	h := New(Options{
		GraphQL: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
		Log:     log,
	})
	r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	r.Header.Set(requestid.Header, "client-id-1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body struct {
		Errors []struct{ Extensions map[string]any } `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusInternalServerError || len(body.Errors) != 1 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if got := body.Errors[0].Extensions["requestId"]; got != "client-id-1" || w.Header().Get(requestid.Header) != "client-id-1" {
		t.Fatalf("requestId %v, header %q", got, w.Header().Get(requestid.Header))
	}
	if len(logs.Lines("request_id=client-id-1")) != 1 {
		t.Fatalf("the panic's log line lacks the id:\n%s", logs)
	}
}
