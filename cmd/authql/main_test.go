package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authql/authql/internal/keys"
	"github.com/authql/authql/internal/testkit/authqlbin"
)

func TestProductionRefusesToStartWithoutKeys(t *testing.T) {
	t.Setenv("AUTHQL_ENV", "production")
	t.Setenv("AUTHQL_JWT_SECRET", "")
	t.Setenv("AUTHQL_DATABASE_URL", "sqlite://"+filepath.Join(t.TempDir(), "a.db"))
	err := run(nil, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "AUTHQL_JWT_SECRET is required in production") {
		t.Fatalf("started or said something else: %v", err)
	}
}

func TestKeysCommands(t *testing.T) {
	for _, alg := range []string{keys.AlgEdDSA, keys.AlgES256, keys.AlgRS256} {
		t.Run("generate "+alg, func(t *testing.T) {
			var out bytes.Buffer
			if err := run([]string{"keys", "generate", "--alg", alg}, &out, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			var jwk map[string]any
			if err := json.Unmarshal(out.Bytes(), &jwk); err != nil {
				t.Fatalf("not a JWK: %s", out.String())
			}
			if jwk["alg"] != alg || jwk["kid"] == "" || jwk["d"] == nil {
				t.Fatalf("JWK %v", jwk)
			}
			if _, err := keys.Parse([]byte(`{"keys":[` + out.String() + `]}`)); err != nil {
				t.Fatalf("generated key does not load: %v", err)
			}
		})
	}
	t.Run("generate refuses an unknown alg", func(t *testing.T) {
		if err := run([]string{"keys", "generate", "--alg", "HS256"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Fatal("accepted HS256")
		}
	})
	t.Run("rotate creates, then rotates", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "jwks.json")
		if err := run([]string{"keys", "rotate", "--alg", "EdDSA", file}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		first, err := keys.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := run([]string{"keys", "rotate", "--alg", "ES256", file}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		second, err := keys.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		old, ok := second.Lookup(first.Signer().ID)
		if !ok || old.CanSign || second.Signer().Algorithm != "ES256" || len(second.Keys()) != 2 {
			t.Fatalf("after rotation: signer %s, old key kept=%v", second.Signer().Algorithm, ok)
		}
		info, _ := os.Stat(file)
		if info.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v", info.Mode())
		}
	})
}

// TestServeAndDrainOnSIGTERM runs the real binary: it serves with no
// configuration but a data directory, and exits cleanly on SIGTERM.
func TestServeAndDrainOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	srv := authqlbin.Start(t, authqlbin.Build(t))
	for _, f := range []string{"authql.db", "authql.key"} {
		if _, err := os.Stat(filepath.Join(srv.Dir, f)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if err := srv.Stop(20 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.Tail())
	}
	logs := srv.Log()
	if !strings.Contains(logs, "shutting down") {
		t.Fatalf("no shutdown log:\n%s", logs)
	}
	if strings.Contains(logs, "secret_from\":\"AUTHQL") {
		t.Fatal("expected the generated key file in development")
	}
}

// TestMetricsListener: with AUTHQL_METRICS_ADDR the binary serves /metrics
// there, and the public address answers 404 for it.
func TestMetricsListener(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := authqlbin.Start(t, authqlbin.Build(t), "AUTHQL_METRICS_ADDR="+addr)
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get(srv.URL + "/metrics"); code != http.StatusNotFound {
		t.Fatalf("public /metrics: %d", code)
	}
	code, body := get("http://" + addr + "/metrics")
	if code != http.StatusOK || !strings.Contains(body, "authql_token_refreshes_total") || !strings.Contains(body, "go_sql_") {
		t.Fatalf("%d %.300s", code, body)
	}
}
