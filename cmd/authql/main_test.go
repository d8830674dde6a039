package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// TestDrainOnSIGTERM runs the real binary through a rolling restart's
// SIGTERM: /readyz turns 503 at once while /healthz stays 200, requests are
// still answered (with Connection: close) for AUTHQL_SHUTDOWN_DELAY, and only
// then does the listener close; a request already in flight when it closes
// still gets its answer, and the process exits 0.
func TestDrainOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const delay = 2 * time.Second
	srv := authqlbin.Start(t, authqlbin.Build(t), "AUTHQL_SHUTDOWN_DELAY="+delay.String(), "AUTHQL_RATE_LIMIT=off")
	addr := strings.TrimPrefix(srv.URL, "http://")

	// A signup whose body is half sent: in flight, to be finished once the
	// listener has closed.
	body := `{"query":"mutation { signup(input: {email: \"inflight@example.com\", password: \"in flight password 1\"}) { user { email } } }"}`
	inflight, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer inflight.Close()
	half := len(body) / 2
	if _, err := fmt.Fprintf(inflight, "POST /graphql HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body[:half]); err != nil {
		t.Fatal(err)
	}

	signalled := time.Now()
	if err := srv.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, srv.URL+"/readyz", http.StatusServiceUnavailable, delay)
	if code, _, _ := get(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz during the drain: %d, want 200", code)
	}
	// Still serving: a login is answered, and asks to close the connection.
	for i := range 3 {
		resp := postGraphQL(t, srv.URL, fmt.Sprintf(`{"query":"mutation { signup(input: {email: \"drain%d@example.com\", password: \"drain password 1\"}) { user { email } } }"}`, i))
		if resp.status != http.StatusOK || !strings.Contains(resp.body, fmt.Sprintf("drain%d@example.com", i)) {
			t.Fatalf("signup during the drain: %d %s", resp.status, resp.body)
		}
		if !resp.close {
			t.Fatalf("answer during the drain keeps the connection open (no Connection: close)")
		}
	}

	// The listener closes once the delay is over, not before.
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Since(signalled) > 20*time.Second {
			t.Fatal("still accepting connections 20s after SIGTERM")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if took := time.Since(signalled); took < delay-200*time.Millisecond {
		t.Fatalf("listener closed %v after SIGTERM, before the %v delay", took, delay)
	}
	select {
	case <-srv.Exited():
		t.Fatalf("exited with a request in flight\n%s", srv.Tail())
	default:
	}

	// The request in flight is finished and answered.
	if _, err := io.WriteString(inflight, body[half:]); err != nil {
		t.Fatal(err)
	}
	_ = inflight.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(inflight), nil)
	if err != nil {
		t.Fatalf("no answer to the request in flight: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), "inflight@example.com") {
		t.Fatalf("request in flight: %d %s", resp.StatusCode, answer)
	}
	if err := srv.Wait(20 * time.Second); err != nil {
		t.Fatalf("exit after the drain: %v\n%s", err, srv.Tail())
	}
	if logs := srv.Log(); !strings.Contains(logs, `"msg":"draining`) || !strings.Contains(logs, "shutting down") {
		t.Fatalf("no drain in the log:\n%s", logs)
	}
}

// TestSecondSignalSkipsDrainDelay: an operator's second Ctrl-C (or an
// orchestrator's second SIGTERM) does not wait out a long drain delay.
func TestSecondSignalSkipsDrainDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	srv := authqlbin.Start(t, authqlbin.Build(t), "AUTHQL_SHUTDOWN_DELAY=10m")
	if err := srv.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, srv.URL+"/readyz", http.StatusServiceUnavailable, 10*time.Second)
	if err := srv.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(60 * time.Second); err != nil {
		t.Fatalf("after a second signal: %v\n%s", err, srv.Tail())
	}
	if !strings.Contains(srv.Log(), "drain delay cut short") {
		t.Fatalf("no word of the second signal in the log:\n%s", srv.Tail())
	}
}

// waitStatus polls url until it answers want, failing after within.
func waitStatus(t *testing.T, url string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, _, err := get(t, url)
		if err == nil && code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d (%v) after %v, want %d", url, code, err, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get is one GET on a connection of its own.
func get(t *testing.T, url string) (int, string, error) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

type answer struct {
	status int
	body   string
	close  bool // the server asked to close the connection
}

// postGraphQL posts body to /graphql over a keep-alive client, which reuses
// the connection unless the server asks to close it.
func postGraphQL(t *testing.T, base, body string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(raw), close: resp.Close}
}
