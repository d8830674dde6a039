// rsa1024min=0 lets the tests generate a 1024-bit RSA key, solely to prove
// that Parse rejects it.
//
//go:debug rsa1024min=0
package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// fixtures are generated once per test binary: RSA generation dominates the
// run time, especially under -race.
var fixtures = sync.OnceValue(func() map[string][]byte {
	m := map[string][]byte{}
	for name, alg := range map[string]string{
		"ed": AlgEdDSA, "ed2": AlgEdDSA,
		"ec": AlgES256, "ec2": AlgES256,
		"rsa": AlgRS256, "rsa2": AlgRS256,
	} {
		b, err := Generate(alg)
		if err != nil {
			panic(err)
		}
		m[name] = b
	}
	// A 1024-bit RSA key is only reachable through the internal encoder,
	// since Generate never makes one.
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	j, err := privateJWK(small, AlgRS256)
	if err != nil {
		panic(err)
	}
	m["rsa1024"], _ = json.Marshal(j)
	// Curves the package must refuse, encoded by hand with real material.
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		panic(err)
	}
	pb, _ := p384.PublicKey.Bytes()
	db, _ := p384.Bytes()
	m["p384"], _ = json.Marshal(map[string]any{
		"kty": "EC", "crv": "P-384", "kid": "p384", "alg": "ES256", "key_ops": []string{"sign"},
		"x": b64.EncodeToString(pb[1:49]), "y": b64.EncodeToString(pb[49:]), "d": b64.EncodeToString(db),
	})
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	m["x25519"], _ = json.Marshal(map[string]any{
		"kty": "OKP", "crv": "X25519", "kid": "x25519", "alg": "EdDSA", "key_ops": []string{"sign"},
		"x": b64.EncodeToString(x25519.PublicKey().Bytes()), "d": b64.EncodeToString(x25519.Bytes()),
	})
	return m
})

// jwkMap returns a fresh, mutable copy of a fixture key with edits applied.
func jwkMap(t *testing.T, name string, edits ...func(map[string]any)) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixtures()[name], &m); err != nil {
		t.Fatal(err)
	}
	for _, e := range edits {
		e(m)
	}
	return m
}

func field(t *testing.T, name, member string) string {
	t.Helper()
	return jwkMap(t, name)[member].(string)
}

func set(t *testing.T, keys ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func with(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
func without(k string) func(map[string]any)     { return func(m map[string]any) { delete(m, k) } }

var verifyOnly = with("key_ops", []string{"verify"})

func TestParseErrors(t *testing.T) {
	edKid := field(t, "ed", "kid")
	ed2Kid := field(t, "ed2", "kid")
	tests := []struct {
		name string
		data func(t *testing.T) []byte
		want []string // substrings of the error; "!x" means x must be absent
	}{
		{"empty document", func(*testing.T) []byte { return []byte(" \n") }, []string{"empty"}},
		{"not JSON", func(*testing.T) []byte { return []byte("keys: []") }, []string{"not a JSON object"}},
		{"empty set", func(*testing.T) []byte { return []byte(`{"keys":[]}`) }, []string{"no keys"}},
		{"keys missing", func(*testing.T) []byte { return []byte(`{}`) }, []string{"no keys"}},
		{"single JWK instead of set", func(t *testing.T) []byte { return fixtures()["ed"] }, []string{"single JWK"}},
		{"key is not an object", func(*testing.T) []byte { return []byte(`{"keys":["x"]}`) }, []string{"keys[0]", "not a valid JWK"}},
		{"no signing key", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", verifyOnly), jwkMap(t, "ec", without("key_ops")))
		}, []string{"no signing key", `"sign"`}},
		{"two signing keys", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed"), jwkMap(t, "ed2"))
		}, []string{"2 keys", edKid, ed2Kid, "exactly one"}},
		{"missing kid", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed"), jwkMap(t, "ec", verifyOnly, without("kid")))
		}, []string{"keys[1]", `missing "kid"`}},
		{"empty kid", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", with("kid", "")))
		}, []string{"keys[0]", `missing "kid"`}},
		{"duplicate kid", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", with("kid", "same")), jwkMap(t, "ec", verifyOnly, with("kid", "same")))
		}, []string{`keys[1] (kid "same")`, "duplicate kid", "keys[0]"}},
		{"missing alg on a shape no alg fits", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ec", without("alg"), with("crv", "P-384")))
		}, []string{`missing "alg"`, "P-384"}},
		{"unsupported alg HS256", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", with("alg", "HS256")))
		}, []string{`unsupported alg "HS256"`}},
		{"unsupported alg none", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", with("alg", "none")))
		}, []string{`unsupported alg "none"`}},
		{"unsupported alg ES384", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ec", with("alg", "ES384")))
		}, []string{`unsupported alg "ES384"`}},
		{"ES256 with P-384", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "p384"))
		}, []string{`kid "p384"`, `alg "ES256" requires crv "P-256"`, `crv "P-384"`}},
		{"ES256 without crv", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ec", without("crv")))
		}, []string{`requires crv "P-256"`, `"crv" is missing`}},
		{"EdDSA with X25519", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "x25519"))
		}, []string{`alg "EdDSA" requires crv "Ed25519"`, `crv "X25519"`}},
		{"EdDSA with Ed448", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", with("crv", "Ed448")))
		}, []string{`requires crv "Ed25519"`, `"Ed448"`}},
		{"RS256 on EC key", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ec", with("alg", "RS256")))
		}, []string{`alg "RS256" requires kty "RSA"`, `kty "EC"`}},
		{"ES256 on RSA key", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "rsa", with("alg", "ES256")))
		}, []string{`alg "ES256" requires kty "EC"`, `kty "RSA"`}},
		{"EdDSA on EC key", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ec", with("alg", "EdDSA")))
		}, []string{`alg "EdDSA" requires kty "OKP"`}},
		{"oct key", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed"), map[string]any{"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "c2VjcmV0", "key_ops": []string{"verify"}})
		}, []string{`keys[1] (kid "hmac")`, `"oct"`, "symmetric"}},
		{"missing kty", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", without("kty")))
		}, []string{`missing "kty"`}},
		{"unknown kty", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", with("kty", "AKP")))
		}, []string{`unsupported kty "AKP"`}},
		{"public-only OKP", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", without("d")))
		}, []string{edKid, "public-only", `"d"`}},
		{"public-only EC", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed"), jwkMap(t, "ec", verifyOnly, without("d")))
		}, []string{"keys[1]", "public-only"}},
		{"public-only RSA", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "rsa", without("d"), without("p"), without("q"), without("dp"), without("dq"), without("qi")))
		}, []string{"public-only"}},
		{"RSA 1024 bits", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "rsa1024"))
		}, []string{"1024 bits", "at least 2048"}},
		{"RSA without primes", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "rsa", without("p"), without("q")))
		}, []string{`"p" and "q"`}},
		{"RSA multi-prime", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "rsa", with("oth", []any{map[string]any{"r": "AQ", "d": "AQ", "t": "AQ"}})))
		}, []string{"multi-prime"}},
		{"malformed base64 illegal char", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", with("x", "not*base64")))
		}, []string{`malformed base64url in "x"`}},
		{"malformed base64 std alphabet", func(t *testing.T) []byte {
			d := field(t, "ec", "d")
			return set(t, jwkMap(t, "ec", with("d", "+/"+d[2:])))
		}, []string{`malformed base64url in "d"`}},
		{"malformed base64 padding", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "rsa", with("e", "AQAB=")))
		}, []string{`malformed base64url in "e"`, "unpadded"}},
		{"malformed base64 embedded newline", func(t *testing.T) []byte {
			x := field(t, "ed", "x")
			return set(t, jwkMap(t, "ed", with("x", x[:10]+"\n"+x[10:])))
		}, []string{`malformed base64url in "x"`}},
		{"malformed base64 in RSA n", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "rsa", with("n", "%%%")))
		}, []string{`malformed base64url in "n"`}},
		{"EC coordinate wrong length", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ec", with("y", "AQID")))
		}, []string{`"y" is 3 bytes`, "32"}},
		{"EC point not on curve", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ec", with("y", field(t, "ec", "x"))))
		}, []string{"not a point on P-256"}},
		{"Ed25519 d does not match x", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", with("x", field(t, "ed2", "x"))))
		}, []string{edKid, `"d" does not match public key "x"`}},
		{"P-256 d does not match x/y", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ec", with("x", field(t, "ec2", "x")), with("y", field(t, "ec2", "y"))))
		}, []string{`"d" does not match public key "x"/"y"`}},
		{"RSA private key does not match n", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "rsa", with("n", field(t, "rsa2", "n"))))
		}, []string{`does not match public key "n"/"e"`}},
		{"RSA private key does not match e", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "rsa", with("e", "AQAD")))
		}, []string{`does not match public key "n"/"e"`}},
		{"RSA CRT value from another key", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "rsa", with("dp", field(t, "rsa2", "dp"))))
		}, []string{`"dp" does not match`}},
		{"unknown key_ops value", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", with("key_ops", []string{"sign", "frobnicate"})))
		}, []string{`unsupported key_ops value "frobnicate"`}},
		{"encryption key_ops", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed"), jwkMap(t, "rsa", with("key_ops", []string{"encrypt"})))
		}, []string{"keys[1]", `"encrypt"`}},
		{"duplicate key_ops", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", with("key_ops", []string{"sign", "sign"})))
		}, []string{`"sign" twice`}},
		{"use enc", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", with("use", "enc")))
		}, []string{`"use" is "enc"`}},
		{"every bad key is reported", func(t *testing.T) []byte {
			return set(t,
				jwkMap(t, "ed"),
				jwkMap(t, "ec", verifyOnly, with("kid", "bad-ec"), with("alg", "ES384")),
				jwkMap(t, "rsa", verifyOnly, with("kid", "bad-rsa"), without("d")))
		}, []string{`keys[1] (kid "bad-ec")`, "ES384", `keys[2] (kid "bad-rsa")`, "public-only"}},
		{"broken signing key is not also reported as missing", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", without("d")), jwkMap(t, "ec", verifyOnly))
		}, []string{edKid, "public-only", "!no signing key"}},
		{"two signers named even if one is broken", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed"), jwkMap(t, "ed2", with("alg", "ES256")))
		}, []string{"2 keys", edKid, ed2Kid, `alg "ES256" requires kty "EC"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.data(t))
			if err == nil {
				t.Fatalf("Parse succeeded (signer %q), want error containing %q", s.Signer().ID, tt.want)
			}
			for _, w := range tt.want {
				if absent, ok := strings.CutPrefix(w, "!"); ok {
					if strings.Contains(err.Error(), absent) {
						t.Errorf("error %q\ncontains misleading %q", err, absent)
					}
				} else if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name     string
		data     func(t *testing.T) []byte
		wantKeys int
		wantAlgs []string
	}{
		{"one key per alg", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "rsa", verifyOnly), jwkMap(t, "ed"), jwkMap(t, "ec", verifyOnly))
		}, 3, []string{AlgES256, AlgEdDSA, AlgRS256}},
		{"use omitted, key_ops omitted means verify-only", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ec", without("use")), jwkMap(t, "ec2", without("key_ops")))
		}, 2, []string{AlgES256}},
		{"sign and verify together", func(t *testing.T) []byte {
			return set(t, jwkMap(t, "ed", with("key_ops", []string{"verify", "sign"})))
		}, 1, []string{AlgEdDSA}},
		{"unknown members are ignored", func(t *testing.T) []byte {
			b, _ := json.Marshal(map[string]any{
				"comment": "managed by authql",
				"keys":    []any{jwkMap(t, "rsa", with("x5t", "ignored"), with("ext", true))},
			})
			return b
		}, 1, []string{AlgRS256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.data(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(s.Keys()); got != tt.wantKeys {
				t.Errorf("len(Keys()) = %d, want %d", got, tt.wantKeys)
			}
			var algs []string
			for _, k := range s.Keys() {
				if !slices.Contains(algs, k.Algorithm) {
					algs = append(algs, k.Algorithm)
				}
			}
			if slices.Sort(algs); !slices.Equal(algs, tt.wantAlgs) {
				t.Errorf("algorithms %q, want %q", algs, tt.wantAlgs)
			}
			signers := 0
			for _, k := range s.Keys() {
				if k.CanSign {
					signers++
					if k != s.Signer() {
						t.Errorf("signing key %q is not Signer()", k.ID)
					}
				}
				if got, ok := s.Lookup(k.ID); !ok || got != k {
					t.Errorf("Lookup(%q) = %v, %v", k.ID, got, ok)
				}
			}
			if signers != 1 {
				t.Errorf("%d keys can sign, want 1", signers)
			}
			if _, ok := s.Lookup("no-such-kid"); ok {
				t.Error("Lookup of unknown kid succeeded")
			}
		})
	}
}

func TestGenerateRejectsUnsupportedAlg(t *testing.T) {
	for _, alg := range []string{"", "HS256", "none", "ES384", "PS256", "Ed25519"} {
		if _, err := Generate(alg); err == nil {
			t.Errorf("Generate(%q) succeeded", alg)
		}
	}
}

func claims(sub string) josejwt.Claims {
	now := time.Now()
	return josejwt.Claims{
		Issuer:   "authql-test",
		Subject:  sub,
		IssuedAt: josejwt.NewNumericDate(now),
		Expiry:   josejwt.NewNumericDate(now.Add(5 * time.Minute)),
	}
}

// signWith signs c with k, naming kid when it is not empty: what any JWS
// library makes of the set's keys.
func signWith(k *Key, kid string, c josejwt.Claims) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: k.Private}, opts)
	if err != nil {
		return "", err
	}
	return josejwt.Signed(signer).Claims(c).Serialize()
}

// sign issues a token with the set's signer, carrying its kid, as
// internal/token does in the service.
func sign(s *Set, c josejwt.Claims) (string, error) {
	return signWith(s.Signer(), s.Signer().ID, c)
}

// verified is a token that verified: its header and claims.
type verified struct {
	header jose.Header
	claims josejwt.Claims
}

// verify checks a token against the set: the key named by kid, with that
// key's own algorithm (internal/token's rule; its tests cover the refusals).
func verify(t *testing.T, s *Set, token string) (*verified, error) {
	t.Helper()
	algs := []jose.SignatureAlgorithm{AlgEdDSA, AlgES256, AlgRS256}
	tok, err := josejwt.ParseSigned(token, algs)
	if err != nil {
		return nil, err
	}
	h := tok.Headers[0]
	k, ok := s.Lookup(h.KeyID)
	if !ok || h.Algorithm != k.Algorithm {
		return nil, errors.New("unknown kid or alg mismatch")
	}
	var c josejwt.Claims
	if err := tok.Claims(k.Public(), &c); err != nil {
		return nil, err
	}
	if c.Expiry == nil {
		return nil, errors.New("no exp")
	}
	if err := c.ValidateWithLeeway(josejwt.Expected{Issuer: "authql-test", Time: time.Now()}, 0); err != nil {
		return nil, err
	}
	return &verified{header: h, claims: c}, nil
}

// verifyWith checks token's signature with pub alone, for alg.
func verifyWith(token string, alg string, pub any) error {
	tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		return err
	}
	var c josejwt.Claims
	return tok.Claims(pub, &c)
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range []string{AlgEdDSA, AlgES256, AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			priv, err := Generate(alg)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(priv, &m); err != nil {
				t.Fatal(err)
			}
			if m["alg"] != alg || m["use"] != "sig" || !slices.Equal(toStrings(m["key_ops"]), []string{"sign"}) {
				t.Errorf("generated JWK header members = alg %v use %v key_ops %v", m["alg"], m["use"], m["key_ops"])
			}
			// The kid is the RFC 7638 thumbprint, checked against an
			// independent implementation.
			var jk jose.JSONWebKey
			if err := jk.UnmarshalJSON(priv); err != nil {
				t.Fatalf("go-jose rejects generated key: %v", err)
			}
			if !jk.Valid() || jk.IsPublic() {
				t.Errorf("go-jose: Valid=%v IsPublic=%v, want a valid private key", jk.Valid(), jk.IsPublic())
			}
			tp, err := jk.Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if want := b64.EncodeToString(tp); m["kid"] != want {
				t.Errorf("kid = %v, want RFC 7638 thumbprint %s", m["kid"], want)
			}

			s, err := Parse([]byte(`{"keys":[` + string(priv) + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			k := s.Signer()
			if k.ID != m["kid"] || k.Algorithm != alg || !k.CanSign {
				t.Fatalf("Signer() = %+v", k)
			}
			token, err := sign(s, claims("user-1"))
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := verify(t, s, token)
			if err != nil {
				t.Fatalf("token does not verify: %v", err)
			}
			if parsed.header.KeyID != k.ID || parsed.header.Algorithm != alg {
				t.Errorf("header = %+v", parsed.header)
			}
			if sub := parsed.claims.Subject; sub != "user-1" {
				t.Errorf("sub = %q", sub)
			}

			// Signing directly with the Key's own method, as an integrator
			// might, works with the public half too.
			direct, err := signWith(k, "", claims("user-2"))
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyWith(direct, alg, k.Public()); err != nil {
				t.Errorf("direct token does not verify with Public(): %v", err)
			}

			// Flip a byte of the payload: the signature must no longer hold.
			parts := strings.Split(token, ".")
			payload := []byte(parts[1])
			payload[len(payload)/2] ^= 1
			tampered := strings.Join([]string{parts[0], string(payload), parts[2]}, ".")
			if _, err := verify(t, s, tampered); err == nil {
				t.Error("tampered token verified")
			}
		})
	}
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

var forbiddenMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth", "r", "t"}

func TestPublicJWKS(t *testing.T) {
	inputs := []map[string]any{
		jwkMap(t, "ed"),
		jwkMap(t, "ec", verifyOnly),
		jwkMap(t, "rsa", without("key_ops"), without("use")),
		jwkMap(t, "ed2", verifyOnly),
	}
	s, err := Parse(set(t, inputs...))
	if err != nil {
		t.Fatal(err)
	}
	raw := s.PublicJWKS()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != len(inputs) {
		t.Fatalf("public JWKS has %d keys, want %d (verify-only keys must be published)", len(doc.Keys), len(inputs))
	}
	required := map[string][]string{"OKP": {"crv", "x"}, "EC": {"crv", "x", "y"}, "RSA": {"n", "e"}}
	for i, pub := range doc.Keys {
		in := inputs[i]
		t.Run(in["kid"].(string), func(t *testing.T) {
			for _, f := range forbiddenMembers {
				if _, ok := pub[f]; ok {
					t.Errorf("public key has private member %q", f)
				}
			}
			for _, f := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if v, ok := in[f].(string); ok && bytes.Contains(raw, []byte(v)) {
					t.Errorf("private value of %q appears in the public JWKS", f)
				}
			}
			for _, f := range append([]string{"kty", "kid", "alg"}, required[in["kty"].(string)]...) {
				if pub[f] != in[f] {
					t.Errorf("%s = %v, want %v", f, pub[f], in[f])
				}
			}
			if pub["use"] != "sig" {
				t.Errorf("use = %v, want sig", pub["use"])
			}
			if ops := toStrings(pub["key_ops"]); !slices.Equal(ops, []string{"verify"}) {
				t.Errorf("key_ops = %q, want [verify]", ops)
			}
		})
	}

	raw[0] = 'X'
	if again := s.PublicJWKS(); again[0] != '{' {
		t.Error("mutating the returned slice changed the Set's copy")
	}
}

// TestGoJoseInterop checks our encoding against an independent JOSE
// implementation: relying parties will not be using this package.
func TestGoJoseInterop(t *testing.T) {
	s, err := Parse(set(t, jwkMap(t, "ed"), jwkMap(t, "ec", verifyOnly), jwkMap(t, "rsa", verifyOnly)))
	if err != nil {
		t.Fatal(err)
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(s.PublicJWKS(), &jwks); err != nil {
		t.Fatalf("go-jose cannot parse the public JWKS: %v", err)
	}
	for _, k := range s.Keys() {
		t.Run(k.Algorithm, func(t *testing.T) {
			found := jwks.Key(k.ID)
			if len(found) != 1 {
				t.Fatalf("go-jose finds %d keys for kid %q", len(found), k.ID)
			}
			pub := found[0]
			if !pub.Valid() || !pub.IsPublic() || pub.Algorithm != k.Algorithm || pub.Use != "sig" {
				t.Errorf("go-jose key: valid=%v public=%v alg=%q use=%q", pub.Valid(), pub.IsPublic(), pub.Algorithm, pub.Use)
			}
			str, err := signWith(k, k.ID, claims("interop"))
			if err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSignedCompact(str, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256})
			if err != nil {
				t.Fatal(err)
			}
			if got := jws.Signatures[0].Header.KeyID; got != k.ID {
				t.Errorf("kid header = %q, want %q", got, k.ID)
			}
			payload, err := jws.Verify(pub)
			if err != nil {
				t.Fatalf("go-jose does not verify our token: %v", err)
			}
			if !bytes.Contains(payload, []byte(`"sub":"interop"`)) {
				t.Errorf("payload = %s", payload)
			}
		})
	}
}

// TestParseAcceptsGoJoseKeys covers keys an operator produced with another
// tool rather than Generate.
func TestParseAcceptsGoJoseKeys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaPriv, _ := rsa.GenerateKey(rand.Reader, 2048)
	s0, err := Parse(set(t, jwkMap(t, "ed")))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		alg string
		key any
	}{{AlgEdDSA, s0.Signer().Private}, {AlgES256, ec}, {AlgRS256, rsaPriv}} {
		t.Run(tc.alg, func(t *testing.T) {
			b, err := jose.JSONWebKey{Key: tc.key, KeyID: "from-jose", Algorithm: tc.alg, Use: "sig"}.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			m["key_ops"] = []string{"sign"}
			s, err := Parse(set(t, m))
			if err != nil {
				t.Fatalf("Parse rejects go-jose key: %v", err)
			}
			token, err := sign(s, claims("jose"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verify(t, s, token); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // defeat umask
		t.Fatal(err)
	}
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
		t.Errorf("mode of %s = %v, want -rw-------", path, fi.Mode())
	}
}

func checkNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
}

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jwks.json")
	ecKid := field(t, "ec", "kid")
	b, _ := json.Marshal(map[string]any{
		"comment": "top-level members survive",
		"keys":    []any{jwkMap(t, "ed"), jwkMap(t, "ec", verifyOnly, with("note", "keep me"))},
	})
	writeFile(t, path, b, 0o644)

	s0, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	oldKid := s0.Signer().ID
	oldToken, err := sign(s0, claims("before-rotation"))
	if err != nil {
		t.Fatal(err)
	}

	newKid, err := Rotate(path, AlgRS256)
	if err != nil {
		t.Fatal(err)
	}
	checkMode(t, path)
	checkNoTempFiles(t, dir)

	s1, err := Load(path)
	if err != nil {
		t.Fatalf("rotated file does not load: %v", err)
	}
	if s1.Signer().ID != newKid || s1.Signer().Algorithm != AlgRS256 {
		t.Errorf("signer = %q (%s), want new key %q", s1.Signer().ID, s1.Signer().Algorithm, newKid)
	}
	if got := len(s1.Keys()); got != 3 {
		t.Errorf("%d keys after rotation, want 3", got)
	}
	old, ok := s1.Lookup(oldKid)
	if !ok || old.CanSign {
		t.Fatalf("old signer after rotation: found=%v CanSign=%v, want verify-only", ok, old != nil && old.CanSign)
	}
	if _, ok := s1.Lookup(ecKid); !ok {
		t.Error("unrelated verify-only key was dropped")
	}
	if _, err := verify(t, s1, oldToken); err != nil {
		t.Errorf("token signed before rotation no longer verifies: %v", err)
	}
	if err := verifyWith(oldToken, old.Algorithm, old.Public()); err != nil {
		t.Errorf("old token does not verify with Lookup(oldKid).Public(): %v", err)
	}
	newToken, err := sign(s1, claims("after-rotation"))
	if err != nil {
		t.Fatal(err)
	}
	if parsed, err := verify(t, s1, newToken); err != nil || parsed.header.KeyID != newKid {
		t.Errorf("new token: err=%v", err)
	}
	// A server still running on the old set must not accept the new kid,
	// which is why rotation has to be followed by a reload.
	if _, err := verify(t, s0, newToken); err == nil {
		t.Error("old set accepted a token from a key it never had")
	}

	raw, _ := os.ReadFile(path)
	var doc struct {
		Comment string           `json:"comment"`
		Keys    []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Comment == "" || doc.Keys[1]["note"] != "keep me" {
		t.Error("unknown members were not preserved")
	}
	if ops := toStrings(doc.Keys[0]["key_ops"]); !slices.Equal(ops, []string{"verify"}) {
		t.Errorf("old signer key_ops = %q, want [verify]", ops)
	}

	// A second rotation demotes the first rotated key and keeps all others.
	newer, err := Rotate(path, AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := s2.Lookup(newKid); k == nil || k.CanSign || s2.Signer().ID != newer || len(s2.Keys()) != 4 {
		t.Errorf("after second rotation: signer %q, %d keys", s2.Signer().ID, len(s2.Keys()))
	}
	if _, err := verify(t, s2, oldToken); err != nil {
		t.Errorf("oldest token no longer verifies: %v", err)
	}
	checkMode(t, path)
}

func TestRotateRefusals(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content []byte // nil: file does not exist
		alg     string
		want    string
	}{
		{"missing file", nil, AlgEdDSA, "no such file"},
		{"invalid set", set(t, jwkMap(t, "ed"), jwkMap(t, "ed2")), AlgEdDSA, "refusing to modify an invalid set"},
		{"unsupported alg", set(t, jwkMap(t, "ed")), "HS256", `unsupported alg "HS256"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".json")
			if tt.content != nil {
				writeFile(t, path, tt.content, 0o600)
			}
			if _, err := Rotate(path, tt.alg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Rotate error = %v, want one containing %q", err, tt.want)
			}
			if tt.content != nil {
				if got, _ := os.ReadFile(path); !bytes.Equal(got, tt.content) {
					t.Error("file was modified by a failed rotation")
				}
			}
		})
	}
	checkNoTempFiles(t, dir)
}

func TestRotateThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.json")
	link := filepath.Join(dir, "jwks.json")
	writeFile(t, target, set(t, jwkMap(t, "ec")), 0o600)
	if err := os.Symlink("real.json", link); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	kid, err := Rotate(link, AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Error("symlink was replaced by a regular file")
	}
	s, err := Load(target)
	if err != nil || s.Signer().ID != kid {
		t.Errorf("link target not rotated: %v", err)
	}
	checkMode(t, target)
}

func TestRetire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, path, set(t, jwkMap(t, "ed"), jwkMap(t, "ec", verifyOnly), jwkMap(t, "rsa", verifyOnly)), 0o600)
	edKid, ecKid := field(t, "ed", "kid"), field(t, "ec", "kid")

	tests := []struct {
		name string
		kid  string
		want string // "" means success
	}{
		{"verify-only key", ecKid, ""},
		{"already removed", ecKid, "no key with kid"},
		{"signing key", edKid, "signing key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Retire(path, tt.kid)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Retire error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Lookup(ecKid); ok || len(s.Keys()) != 2 || s.Signer().ID != edKid {
		t.Errorf("after Retire: %d keys, signer %q", len(s.Keys()), s.Signer().ID)
	}
	checkMode(t, path)
}

func TestCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	kid, err := Create(path, AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	checkMode(t, path)
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Signer().ID != kid || len(s.Keys()) != 1 {
		t.Errorf("created set: signer %q, %d keys", s.Signer().ID, len(s.Keys()))
	}
	before, _ := os.ReadFile(path)
	if _, err := Create(path, AlgEdDSA); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Create error = %v, want fs.ErrExist", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("Create overwrote an existing set")
	}
}

func TestLoadErrorNamesPath(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, []byte(`{"keys":[]}`), 0o600)
	for _, path := range []string{bad, filepath.Join(dir, "missing.json")} {
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), filepath.Base(path)) {
			t.Errorf("Load(%s) error = %v, want one naming the file", path, err)
		}
	}
}

// TestConcurrentUse exercises the Set from many goroutines for -race.
func TestConcurrentUse(t *testing.T) {
	s, err := Parse(set(t, jwkMap(t, "ec"), jwkMap(t, "ed", verifyOnly)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			token, err := sign(s, claims("concurrent"))
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := verify(t, s, token); err != nil {
				t.Error(err)
			}
			_ = s.PublicJWKS()
			_ = s.Keys()
		})
	}
	wg.Wait()
}

// TestLenientButUnambiguous: JWKs as JOSE tools export them (no alg, no
// key_ops) load when nothing is left to guess, and only then.
func TestLenientButUnambiguous(t *testing.T) {
	for _, c := range []struct{ fixture, alg string }{{"ed", AlgEdDSA}, {"ec", AlgES256}, {"rsa", AlgRS256}} {
		t.Run("alg inferred for "+c.fixture, func(t *testing.T) {
			s, err := Parse(set(t, jwkMap(t, c.fixture, without("alg"))))
			if err != nil {
				t.Fatal(err)
			}
			if s.Signer().Algorithm != c.alg {
				t.Fatalf("alg %s, want %s", s.Signer().Algorithm, c.alg)
			}
		})
	}
	t.Run("a lone key without key_ops signs", func(t *testing.T) {
		s, err := Parse(set(t, jwkMap(t, "ed", without("key_ops"))))
		if err != nil || !s.Signer().CanSign {
			t.Fatalf("%v", err)
		}
	})
	t.Run("two keys without key_ops must name their signer", func(t *testing.T) {
		if _, err := Parse(set(t, jwkMap(t, "ed", without("key_ops")), jwkMap(t, "ec", without("key_ops")))); err == nil || !strings.Contains(err.Error(), "no signing key") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("a lone verify-only key does not sign", func(t *testing.T) {
		if _, err := Parse(set(t, jwkMap(t, "ed", verifyOnly))); err == nil {
			t.Fatal("accepted")
		}
	})
}
