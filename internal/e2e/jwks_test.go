package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"

	"github.com/authql/authql/internal/keys"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/testkit/jwtforge"
	"github.com/authql/authql/verify"
)

// fetchJWKS reads the served key set with an independent JOSE implementation.
func fetchJWKS(t *testing.T, e *env) (jose.JSONWebKeySet, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(e.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("go-jose cannot read the JWKS: %v\n%s", err, raw)
	}
	return set, raw, resp.Header
}

var joseAlg = map[string]jose.SignatureAlgorithm{keys.AlgEdDSA: jose.EdDSA, keys.AlgES256: jose.ES256, keys.AlgRS256: jose.RS256}

// joseVerify verifies an access token with go-jose against the served JWKS,
// as a third-party service would.
func joseVerify(t *testing.T, set jose.JSONWebKeySet, tok string) josejwt.Claims {
	t.Helper()
	parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256})
	if err != nil {
		t.Fatalf("go-jose parse: %v", err)
	}
	kid := parsed.Headers[0].KeyID
	found := set.Key(kid)
	if len(found) != 1 {
		t.Fatalf("kid %q not in the served JWKS", kid)
	}
	var claims josejwt.Claims
	if err := parsed.Claims(found[0].Key, &claims); err != nil {
		t.Fatalf("go-jose verify: %v", err)
	}
	if err := claims.ValidateWithLeeway(josejwt.Expected{Issuer: "authql", AnyAudience: josejwt.Audience{"authql"}, Time: time.Now()}, 0); err != nil {
		t.Fatalf("go-jose claims: %v", err)
	}
	return claims
}

func TestAsymmetricKeysEndToEnd(t *testing.T) {
	for _, alg := range []string{keys.AlgEdDSA, keys.AlgES256, keys.AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "jwks.json")
			kid, err := keys.Create(file, alg)
			if err != nil {
				t.Fatal(err)
			}
			e := start(t, storetest.SQLite(t), "AUTHQL_JWKS_FILE="+file)
			s := e.signup(newEmail(), pw)
			tok, _, _ := jwt.NewParser().ParseUnverified(s.AccessToken, jwt.MapClaims{})
			if tok.Header["alg"] != alg || tok.Header["kid"] != kid || tok.Header["typ"] != "at+jwt" {
				t.Fatalf("header %v", tok.Header)
			}
			if _, code := e.me(s.AccessToken); code != "" {
				t.Fatalf("me: %s", code)
			}
			set, raw, header := fetchJWKS(t, e)
			if !strings.HasPrefix(header.Get("Cache-Control"), "public, max-age=") {
				t.Fatalf("Cache-Control %q", header.Get("Cache-Control"))
			}
			assertPublicOnly(t, raw)
			if len(set.Keys) != 1 || set.Keys[0].Algorithm != string(joseAlg[alg]) || !set.Keys[0].IsPublic() {
				t.Fatalf("served set %s", raw)
			}
			claims := joseVerify(t, set, s.AccessToken)
			if claims.Subject != s.User.ID {
				t.Fatalf("sub %q", claims.Subject)
			}
			// Refresh tokens stay HS256 with the server secret.
			rt, _, _ := jwt.NewParser().ParseUnverified(s.refresh(), jwt.MapClaims{})
			if rt.Header["alg"] != "HS256" {
				t.Fatalf("refresh token alg %v", rt.Header["alg"])
			}
		})
	}
}

// assertPublicOnly fails if a served JWK has any private or symmetric member.
func assertPublicOnly(t *testing.T, raw []byte) {
	t.Helper()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range doc.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := k[private]; ok {
				t.Fatalf("served JWK %v has private member %q", k["kid"], private)
			}
		}
		if k["kty"] == "oct" {
			t.Fatal("served a symmetric key")
		}
	}
}

func TestKeyRotationLogsNobodyOut(t *testing.T) {
	db := storetest.SQLite(t)
	file := filepath.Join(t.TempDir(), "jwks.json")
	oldKID, err := keys.Create(file, keys.AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	before := start(t, db, "AUTHQL_JWKS_FILE="+file)
	s := before.signup(newEmail(), pw)

	newKID, err := keys.Rotate(file, keys.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	after := start(t, db, "AUTHQL_JWKS_FILE="+file) // a restarted instance reads the rotated file
	// A token signed by the now verify-only key is still accepted.
	if _, code := after.me(s.AccessToken); code != "" {
		t.Fatalf("old token after rotation: %s", code)
	}
	// The refresh token (server secret) survives too, and new tokens use the new key.
	r, resp := after.refresh(s.refresh())
	if resp.code() != "" {
		t.Fatalf("refresh after rotation: %s", resp.Raw)
	}
	tok, _, _ := jwt.NewParser().ParseUnverified(r.AccessToken, jwt.MapClaims{})
	if tok.Header["kid"] != newKID || tok.Header["alg"] != "ES256" {
		t.Fatalf("new token header %v", tok.Header)
	}
	set, raw, _ := fetchJWKS(t, after)
	if len(set.Key(oldKID)) != 1 || len(set.Key(newKID)) != 1 {
		t.Fatalf("both keys must be published: %s", raw)
	}
	joseVerify(t, set, s.AccessToken)
	joseVerify(t, set, r.AccessToken)

	// Once the old key is retired, its tokens stop working.
	if err := keys.Retire(file, oldKID); err != nil {
		t.Fatal(err)
	}
	retired := start(t, db, "AUTHQL_JWKS_FILE="+file)
	if _, code := retired.me(s.AccessToken); code != "UNAUTHENTICATED" {
		t.Fatalf("token of a retired key: %q", code)
	}
	if _, code := retired.me(r.AccessToken); code != "" {
		t.Fatalf("token of the current key: %q", code)
	}
}

func TestAsymmetricRefusals(t *testing.T) {
	file := filepath.Join(t.TempDir(), "jwks.json")
	if _, err := keys.Create(file, keys.AlgEdDSA); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Rotate(file, keys.AlgRS256); err != nil {
		t.Fatal(err)
	}
	set, err := keys.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var edKey, rsaKey *keys.Key
	for _, k := range set.Keys() {
		switch k.Algorithm {
		case keys.AlgEdDSA:
			edKey = k
		case keys.AlgRS256:
			rsaKey = k
		}
	}
	e := start(t, storetest.SQLite(t), "AUTHQL_JWKS_FILE="+file)
	s := e.signup(newEmail(), pw)
	claims := claimsOf(t, s.AccessToken)
	sign := func(method jwt.SigningMethod, kid string, key any) string {
		return jwtforge.Sign(t, method, key, map[string]any{"typ": "at+jwt", "kid": kid}, claims)
	}
	rsaPub, _ := x509.MarshalPKIXPublicKey(rsaKey.Public())
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	cases := map[string]string{
		"control: a token of the verify-only key": "", // must pass, below
		"unknown kid":                         sign(jwt.SigningMethodRS256, "no-such-kid", rsaKey.Private),
		"alg differs from its key":            sign(jwt.SigningMethodRS256, edKey.ID, rsaKey.Private),
		"HS256 with the public key as secret": sign(jwt.SigningMethodHS256, rsaKey.ID, rsaPEM),
		"HS256 with the raw Ed25519 key":      sign(jwt.SigningMethodHS256, edKey.ID, []byte(edKey.Public().(ed25519.PublicKey))),
		"HS256 with the server secret":        sign(jwt.SigningMethodHS256, edKey.ID, []byte(testSecret)),
		"right kid, another key":              sign(jwt.SigningMethodRS256, rsaKey.ID, otherRSA),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if tok == "" {
				if _, code := e.me(sign(jwt.SigningMethodEdDSA, edKey.ID, edKey.Private)); code != "" {
					t.Fatalf("control refused: %s", code)
				}
				return
			}
			if _, code := e.me(tok); code != "UNAUTHENTICATED" {
				t.Fatalf("got %q", code)
			}
		})
	}
}

func TestBadKeyFilesAreRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, _ := keys.Generate(keys.AlgEdDSA)
	b, _ := keys.Generate(keys.AlgES256)
	verifyOnly := strings.Replace(string(a), `"sign"`, `"verify"`, 1)
	badCrv := strings.Replace(string(b), `"P-256"`, `"P-384"`, 1)
	for name, content := range map[string]string{
		"no signing key":   `{"keys":[` + verifyOnly + `]}`,
		"two signing keys": `{"keys":[` + string(a) + `,` + string(b) + `]}`,
		"bad crv":          `{"keys":[` + badCrv + `]}`,
		"not JSON":         `{`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newApp(t, storetest.SQLite(t), nil, "AUTHQL_JWKS_FILE="+write(strings.ReplaceAll(name, " ", "_")+".json", content))
			if err == nil || !strings.Contains(err.Error(), "AUTHQL_JWKS_FILE") {
				t.Fatalf("started anyway or vague error: %v", err)
			}
			t.Logf("refused: %v", err)
		})
	}
}

func TestVerifierPackageAgainstAuthql(t *testing.T) {
	file := filepath.Join(t.TempDir(), "jwks.json")
	if _, err := keys.Create(file, keys.AlgES256); err != nil {
		t.Fatal(err)
	}
	e := start(t, storetest.SQLite(t), "AUTHQL_JWKS_FILE="+file)
	v, err := verify.New(context.Background(), verify.Config{
		JWKSURL: e.URL + "/.well-known/jwks.json", Issuer: "authql", Audience: "authql",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := e.signup(newEmail(), pw)
	c, err := v.Verify(context.Background(), s.AccessToken)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if c.Subject != s.User.ID || c.SessionID == "" {
		t.Fatalf("claims %+v", c)
	}
	if _, err := v.Verify(context.Background(), s.refresh()); err == nil {
		t.Fatal("verifier accepted a refresh token")
	}
	if _, err := v.Verify(context.Background(), tamper(s.AccessToken)); err == nil {
		t.Fatal("verifier accepted a tampered token")
	}
	// The middleware hands the claims to another service's handler.
	protected := v.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFromContext(r.Context())
		_, _ = io.WriteString(w, c.Subject)
	}))
	for token, want := range map[string]int{s.AccessToken: 200, "": 401, "garbage": 401} {
		rec := httptest.NewRecorder()
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		protected.ServeHTTP(rec, r)
		if rec.Code != want || (want == 200 && rec.Body.String() != s.User.ID) {
			t.Fatalf("token %.10q: %d %s", token, rec.Code, rec.Body)
		}
	}
}
