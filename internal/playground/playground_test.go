package playground

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPage(t *testing.T) {
	tests := []struct {
		name, title, endpoint string
		wantInBody            []string
		notInBody             []string
		wantConnectSrc        string
	}{
		{
			name:           "plain",
			title:          "AuthQL",
			endpoint:       "/graphql",
			wantInBody:     []string{"<title>AuthQL</title>", `data-endpoint="/graphql"`},
			wantConnectSrc: "connect-src 'self';",
		},
		{
			name:     "escaped title and endpoint",
			title:    `AuthQL </title><script>alert(1)</script> & "x"`,
			endpoint: `/graphql?a="b"&c=<d>`,
			wantInBody: []string{
				"<title>AuthQL &lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;x&#34;</title>",
				`data-endpoint="/graphql?a=&#34;b&#34;&amp;c=&lt;d&gt;"`,
			},
			notInBody:      []string{"<script>alert(1)", `"b"`},
			wantConnectSrc: "connect-src 'self';",
		},
		{
			name:           "empty title defaults",
			title:          "",
			endpoint:       "/api/graphql",
			wantInBody:     []string{"<title>GraphiQL</title>", `data-endpoint="/api/graphql"`},
			wantConnectSrc: "connect-src 'self';",
		},
		{
			name:           "absolute endpoint is allowed by connect-src",
			title:          "t",
			endpoint:       "https://api.example.com:8443/graphql",
			wantInBody:     []string{`data-endpoint="https://api.example.com:8443/graphql"`},
			wantConnectSrc: "connect-src 'self' https://api.example.com:8443;",
		},
		{
			name:           "header injection via endpoint is not copied into CSP",
			title:          "t",
			endpoint:       "https://evil.example;script-src *",
			wantConnectSrc: "connect-src 'self';",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, Handler(tt.title, tt.endpoint), http.MethodGet, "/", nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control = %q, want no-cache", got)
			}
			body := rec.Body.String()
			for _, s := range tt.wantInBody {
				if !strings.Contains(body, s) {
					t.Errorf("body does not contain %q:\n%s", s, body)
				}
			}
			for _, s := range tt.notInBody {
				if strings.Contains(body, s) {
					t.Errorf("body contains %q:\n%s", s, body)
				}
			}
			csp := rec.Header().Get("Content-Security-Policy") + ";"
			if !strings.Contains(csp, tt.wantConnectSrc) {
				t.Errorf("CSP %q does not contain %q", csp, tt.wantConnectSrc)
			}
		})
	}
}

var nonceAttrRE = regexp.MustCompile(`<script [^>]*nonce="([^"]+)"`)

func TestCSP(t *testing.T) {
	h := Handler("AuthQL", "/graphql")
	rec := get(t, h, http.MethodGet, "/", nil)
	csp := rec.Header().Get("Content-Security-Policy")
	if csp == "" {
		t.Fatal("no Content-Security-Policy header")
	}
	m := nonceAttrRE.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no script nonce in page:\n%s", rec.Body.String())
	}
	nonce := m[1]
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	want := map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"style-src":       "'self' 'nonce-" + nonce + "'",
		"font-src":        "'self' data:",
		"img-src":         "'self' data:",
		"connect-src":     "'self'",
		"base-uri":        "'none'",
		"form-action":     "'none'",
		"frame-ancestors": "'none'",
	}
	for name, value := range want {
		if directives[name] != value {
			t.Errorf("CSP %s = %q, want %q (CSP: %s)", name, directives[name], value, csp)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows unsafe-*: %s", csp)
	}
	if strings.Contains(rec.Body.String(), "<script>") || strings.Contains(rec.Body.String(), "style=") {
		t.Error("page contains an inline script or style attribute")
	}

	// The nonce changes with every response.
	rec2 := get(t, h, http.MethodGet, "/", nil)
	if m2 := nonceAttrRE.FindStringSubmatch(rec2.Body.String()); m2 == nil || m2[1] == nonce {
		t.Errorf("nonce not fresh per response: %q then %v", nonce, m2)
	}
}

var refRE = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

func TestReferencedAssets(t *testing.T) {
	h := Handler("AuthQL", "/graphql")
	page := get(t, h, http.MethodGet, "/", nil).Body.String()
	var refs []string
	for _, m := range refRE.FindAllStringSubmatch(page, -1) {
		if m[1] == "data:," { // empty favicon
			continue
		}
		refs = append(refs, m[1])
	}
	wantNames := []string{"graphiql.min.css", "playground.css", "react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "playground.js"}
	if len(refs) != len(wantNames) {
		t.Fatalf("page references %d URLs %q, want %d", len(refs), refs, len(wantNames))
	}
	for i, ref := range refs {
		t.Run(path.Base(ref), func(t *testing.T) {
			if path.Base(ref) != wantNames[i] {
				t.Errorf("reference %d = %q, want .../%s", i, ref, wantNames[i])
			}
			if !strings.HasPrefix(ref, AssetPrefix) {
				t.Fatalf("reference %q is not under %s", ref, AssetPrefix)
			}
			rec := get(t, h, http.MethodGet, ref, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s: status %d", ref, rec.Code)
			}
			wantCT := map[string]string{
				".js":  "text/javascript; charset=utf-8",
				".css": "text/css; charset=utf-8",
			}[path.Ext(ref)]
			if got := rec.Header().Get("Content-Type"); got != wantCT {
				t.Errorf("Content-Type = %q, want %q", got, wantCT)
			}
			if got := rec.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control = %q", got)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if want := assetsByName[path.Base(ref)].data; !bytes.Equal(rec.Body.Bytes(), want) || len(want) == 0 {
				t.Errorf("body (%d bytes) differs from embedded file (%d bytes)", rec.Body.Len(), len(want))
			}

			// Conditional requests are answered from the ETag.
			etag := rec.Header().Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			if rec := get(t, h, http.MethodGet, ref, map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified {
				t.Errorf("If-None-Match: status %d, want 304", rec.Code)
			}
		})
	}
}

func TestAssetURLsAreContentAddressed(t *testing.T) {
	for name, a := range assetsByName {
		sum := sha256.Sum256(a.data)
		want := AssetPrefix + hex.EncodeToString(sum[:8]) + "/" + name
		if a.urlPath != want {
			t.Errorf("%s: URL %q, want %q", name, a.urlPath, want)
		}
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	h := Handler("AuthQL", "/graphql")
	js, err := assetURL("graphiql.min.js")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, target string
		want           int
	}{
		{http.MethodGet, "/", http.StatusOK},
		{http.MethodHead, "/", http.StatusOK},
		{http.MethodGet, js, http.StatusOK},
		{http.MethodHead, js, http.StatusOK},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodDelete, js, http.StatusMethodNotAllowed},
		{http.MethodGet, "/index.html", http.StatusNotFound},
		{http.MethodGet, "/graphql", http.StatusNotFound},
		{http.MethodGet, "/favicon.ico", http.StatusNotFound},
		{http.MethodPost, "/unknown", http.StatusNotFound},
		{http.MethodGet, AssetPrefix, http.StatusNotFound},
		{http.MethodGet, AssetPrefix + "graphiql.min.js", http.StatusNotFound},
		{http.MethodGet, AssetPrefix + "0000000000000000/graphiql.min.js", http.StatusNotFound},
		{http.MethodGet, js + "/", http.StatusNotFound},
		{http.MethodGet, js + ".map", http.StatusNotFound},
		{http.MethodGet, path.Dir(js) + "/../" + path.Base(js), http.StatusNotFound},
		{http.MethodGet, path.Dir(js) + "/index.html", http.StatusNotFound},
		{http.MethodGet, path.Dir(js) + "/", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			rec := get(t, h, tt.method, tt.target, nil)
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d", rec.Code, tt.want)
			}
			if tt.want == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", rec.Header().Get("Allow"))
			}
		})
	}
}

// cdnURL matches any absolute http(s) URL. The page and its bootstrap code
// must not load anything from another origin.
var cdnURL = regexp.MustCompile(`(?i)https?://`)

func TestNoExternalURLs(t *testing.T) {
	rendered := get(t, Handler("AuthQL", "/graphql"), http.MethodGet, "/", nil).Body.Bytes()
	tests := []struct {
		name string
		data []byte
	}{
		{"rendered page", rendered},
	}
	for _, name := range []string{"index.html", "static/playground.js", "static/playground.css"} {
		data, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name string
			data []byte
		}{name, data})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if loc := cdnURL.FindIndex(tt.data); loc != nil {
				end := min(loc[1]+60, len(tt.data))
				t.Errorf("contains an absolute URL: %q", tt.data[loc[0]:end])
			}
		})
	}

	// The vendored bundles must not pull in anything remote either: no
	// sourceMappingURL or import of an absolute URL, no @import in the CSS.
	remoteLoad := regexp.MustCompile(`(?i)(import\(\s*["']https?:|@import|url\(\s*["']?https?:|src=["']https?:)`)
	for _, name := range []string{"graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"} {
		if m := remoteLoad.Find(assetsByName[name].data); m != nil {
			t.Errorf("%s loads a remote resource: %q", name, m)
		}
	}
}

// TestVersionsFile checks that assets/VERSIONS, written by update.sh, matches
// the embedded vendor files.
func TestVersionsFile(t *testing.T) {
	data, err := fs.ReadFile(files, "assets/VERSIONS")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	packages := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "package":
			packages++
		case "file":
			if len(f) != 4 {
				t.Fatalf("bad line %q", sc.Text())
			}
			name, sum := f[1], strings.TrimPrefix(f[2], "sha256:")
			b, err := fs.ReadFile(files, "assets/"+name)
			if err != nil {
				t.Errorf("VERSIONS lists %s: %v", name, err)
				continue
			}
			got := sha256.Sum256(b)
			if hex.EncodeToString(got[:]) != sum {
				t.Errorf("%s: sha256 %x, VERSIONS says %s; rerun update.sh", name, got, sum)
			}
			listed[name] = true
		default:
			t.Errorf("unknown line %q", sc.Text())
		}
	}
	if packages != 3 {
		t.Errorf("VERSIONS lists %d packages, want 3 (graphiql, react, react-dom)", packages)
	}
	entries, err := fs.ReadDir(files, "assets")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "VERSIONS" && !listed[e.Name()] {
			t.Errorf("assets/%s is not listed in VERSIONS", e.Name())
		}
	}
	for _, lic := range []string{"LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom"} {
		if !listed[lic] {
			t.Errorf("%s missing", lic)
		}
	}
}
