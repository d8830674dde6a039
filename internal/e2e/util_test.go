package e2e

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/authql/authql/internal/app"
	"github.com/authql/authql/internal/config"
	"github.com/authql/authql/internal/store/storetest"
)

type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return rand.Read(p) }

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// loadApp assembles authql without serving it, for start-up failures.
func loadApp(t *testing.T, settings ...string) (*app.App, error) {
	t.Helper()
	vars := map[string]string{
		"AUTHQL_DATABASE_URL": storetest.SQLite(t).URL,
		"AUTHQL_JWT_SECRET":   testSecret,
		"AUTHQL_KEY_FILE":     t.TempDir() + "/authql.key",
	}
	for _, kv := range settings {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return vars[k] })
	if err != nil {
		return nil, err
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Cleanup(func() { a.Close() })
	}
	return a, err
}
