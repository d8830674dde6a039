// Package spa_test drives the example SPA in headless Chromium against a real
// authql: the built app and authql share one origin (as with the Vite dev
// server's proxy), refresh tokens travel as the HttpOnly cookie, and mail goes
// to a real SMTP server whose links the browser then opens.
package spa_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authql/authql/internal/app"
	"github.com/authql/authql/internal/config"
	"github.com/authql/authql/internal/mail/mailtest"
	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/store/storetest"
)

// envRequired turns a missing browser, node or build into a failure: CI sets
// it, so that the suite cannot silently stop running there.
const envRequired = "AUTHQL_TEST_BROWSER_REQUIRED"

// accessTTL is short so that the suite sees access tokens expire and the SPA
// refresh them, without a fake clock the browser could not share.
const accessTTL = 2 * time.Second

func TestBrowser(t *testing.T) {
	chromium, nodeBin := prerequisites(t)

	mailer := mailtest.Start(t, mailtest.Options{})
	// The SPA's origin: known before authql starts, which puts it in mail links.
	spa := httptest.NewUnstartedServer(nil)
	origin := "http://" + spa.Listener.Addr().String()

	authql := httptest.NewServer(newAuthql(t, map[string]string{
		"AUTHQL_REFRESH_COOKIE":   "on",
		"AUTHQL_ACCESS_TOKEN_TTL": accessTTL.String(),
		"AUTHQL_SMTP_URL":         mailer.URL(),
		"AUTHQL_APP_URL":          origin,
	}))
	t.Cleanup(authql.Close)

	spa.Config.Handler = spaHandler(t, authql.URL, mailer)
	spa.Start()
	t.Cleanup(spa.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "e2e/run.mjs")
	cmd.Env = append(os.Environ(),
		"SPA_URL="+origin,
		"CHROMIUM="+chromium,
		"ACCESS_TOKEN_TTL_MS="+strconv.FormatInt(accessTTL.Milliseconds(), 10),
		"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1",
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("node e2e/run.mjs: %v", err)
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		t.Log(lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser suite failed: %v", err)
	}
}

// prerequisites finds Chromium, node, playwright-core and the built SPA, and
// skips (or, under envRequired, fails) the test when one is missing.
func prerequisites(t *testing.T) (chromium, nodeBin string) {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		msg := "browser tests need " + what + "; see examples/spa/README.md"
		if os.Getenv(envRequired) != "" {
			t.Fatal(msg + " (" + envRequired + " is set)")
		}
		t.Skip(msg)
	}
	chromium = os.Getenv("AUTHQL_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("Chromium at " + chromium + " (apt-get install chromium, or set AUTHQL_CHROMIUM)")
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		missing("node on PATH")
	}
	if _, err := os.Stat("node_modules/playwright-core"); err != nil {
		missing("node_modules (npm ci in examples/spa)")
	}
	if _, err := os.Stat("dist/index.html"); err != nil {
		missing("the built SPA (npm run build in examples/spa)")
	}
	return chromium, nodeBin
}

// newAuthql assembles authql as the binary does, on a SQLite database of the
// test's own, with a cheap password hash and no rate limits.
func newAuthql(t *testing.T, settings map[string]string) http.Handler {
	t.Helper()
	vars := map[string]string{
		"AUTHQL_DATABASE_URL": storetest.SQLite(t).URL,
		"AUTHQL_JWT_SECRET":   "browser-test-secret-0123456789abcdef0123456789",
		"AUTHQL_KEY_FILE":     filepath.Join(t.TempDir(), "authql.key"),
		"AUTHQL_RATE_LIMIT":   "off",
	}
	for k, v := range settings {
		vars[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cheap := password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	a, err := app.New(context.Background(), cfg, log, app.WithPasswordParams(cheap))
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a.Handler
}

// spaHandler serves dist as a single-page app, forwards /graphql to authql as
// Vite's proxy does (the Host header kept), and lets the browser suite read
// the link of the newest mail to an address.
func spaHandler(t *testing.T, authqlURL string, mailer *mailtest.Server) http.Handler {
	target, _ := url.Parse(authqlURL)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
		r.SetXForwarded()
	}}
	files := http.FileServer(http.Dir("dist"))
	mux := http.NewServeMux()
	mux.Handle("/graphql", proxy)
	mux.HandleFunc("GET /__test/mail", func(w http.ResponseWriter, r *http.Request) {
		link, err := waitForLink(r.Context(), mailer, r.URL.Query().Get("to"), r.URL.Query().Get("kind"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, link)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(filepath.Join("dist", filepath.FromSlash(r.URL.Path))); r.URL.Path != "/" && err == nil {
			files.ServeHTTP(w, r)
			return
		}
		http.ServeFile(w, r, "dist/index.html") // every route is the app's
	})
	return mux
}

var linkRE = regexp.MustCompile(`https?://\S+/(reset-password|verify-email)#token=\S+`)

// waitForLink waits up to 10 s for a mail to addr carrying a link of kind
// (reset-password or verify-email), and returns the newest such link.
func waitForLink(ctx context.Context, mailer *mailtest.Server, addr, kind string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		msgs := mailer.Messages()
		for i := len(msgs) - 1; i >= 0; i-- {
			if !sentTo(msgs[i], addr) {
				continue
			}
			for _, m := range linkRE.FindAllStringSubmatch(plainText(msgs[i].Data), -1) {
				if m[1] == kind {
					return m[0], nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", errors.New("no " + kind + " mail to " + addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func sentTo(m mailtest.Received, addr string) bool {
	for _, to := range m.To {
		if strings.EqualFold(to, addr) {
			return true
		}
	}
	return false
}

// plainText is the decoded text/plain part of a message (the whole decoded
// body when it is not multipart).
func plainText(raw []byte) string {
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		return ""
	}
	return decodePart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
}

func decodePart(contentType, encoding string, body io.Reader) string {
	mediaType, params, _ := mime.ParseMediaType(contentType)
	if strings.HasPrefix(mediaType, "multipart/") {
		parts := multipart.NewReader(body, params["boundary"])
		for {
			p, err := parts.NextRawPart()
			if err != nil {
				return ""
			}
			if text := decodePart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); text != "" {
				return text
			}
		}
	}
	if mediaType != "" && mediaType != "text/plain" {
		return ""
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, _ := io.ReadAll(body)
	return string(b)
}
