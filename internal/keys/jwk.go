package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// jwk is the wire form of a private key as read from the JWKS file. Fields
// are plain strings because an absent member and an empty one are equally
// wrong for every member we read.
type jwk struct {
	Kty    string          `json:"kty"`
	Kid    string          `json:"kid"`
	Use    string          `json:"use"`
	KeyOps []string        `json:"key_ops"`
	Alg    string          `json:"alg"`
	Crv    string          `json:"crv"`
	X      string          `json:"x"`
	Y      string          `json:"y"`
	N      string          `json:"n"`
	E      string          `json:"e"`
	D      string          `json:"d"`
	P      string          `json:"p"`
	Q      string          `json:"q"`
	DP     string          `json:"dp"`
	DQ     string          `json:"dq"`
	QI     string          `json:"qi"`
	Oth    json.RawMessage `json:"oth"`
}

// publicJWK is what /.well-known/jwks.json serves. It is a separate type
// with no private members so that leaking d, p, q, ... is impossible rather
// than merely avoided.
type publicJWK struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
}

// privateJWKOut is what Generate writes; member order is chosen so the file
// reads naturally (identity first, secrets last).
type privateJWKOut struct {
	publicJWK
	D  string `json:"d"`
	P  string `json:"p,omitempty"`
	Q  string `json:"q,omitempty"`
	DP string `json:"dp,omitempty"`
	DQ string `json:"dq,omitempty"`
	QI string `json:"qi,omitempty"`
}

const (
	opSign   = "sign"
	opVerify = "verify"
)

// algKty and algCrv tie each alg to the only key shape it may use. Checking
// this on load is what stops, say, an ES256 alg on a P-384 key from failing
// later at signing time, or worse, producing tokens nobody can verify.
var (
	algKty = map[string]string{AlgEdDSA: "OKP", AlgES256: "EC", AlgRS256: "RSA"}
	algCrv = map[string]string{AlgEdDSA: "Ed25519", AlgES256: "P-256"}
)

// privateKey validates the JWK and returns the key it describes. The order
// of checks is chosen so the first error names the root cause: shape (kty,
// use, key_ops, alg, crv) before material, and "no d" before decoding d.
func (j *jwk) privateKey() (*Key, error) {
	if j.Kid == "" {
		return nil, errors.New(`missing "kid"; every key needs a unique kid so tokens can name the key that signed them`)
	}
	switch j.Kty {
	case "":
		return nil, errors.New(`missing "kty"`)
	case "oct":
		return nil, errors.New(`kty "oct" (symmetric key) is not supported: its secret would have to be published to verify tokens; use an EdDSA, ES256 or RS256 key`)
	case "OKP", "EC", "RSA":
	default:
		return nil, fmt.Errorf(`unsupported kty %q (want OKP, EC or RSA)`, j.Kty)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf(`"use" is %q; signing keys must have "use":"sig" or omit it`, j.Use)
	}
	canSign := false
	for i, op := range j.KeyOps {
		switch op {
		case opSign:
			canSign = true
		case opVerify:
		default:
			return nil, fmt.Errorf(`unsupported key_ops value %q (allowed: "sign", "verify")`, op)
		}
		if slices.Contains(j.KeyOps[:i], op) {
			return nil, fmt.Errorf(`key_ops lists %q twice`, op)
		}
	}
	if j.Alg == "" {
		// Each supported key shape admits exactly one of our algorithms, so a
		// JWK exported without "alg" (as many JOSE tools do) is not ambiguous.
		switch {
		case j.Kty == "OKP" && j.Crv == "Ed25519":
			j.Alg = AlgEdDSA
		case j.Kty == "EC" && j.Crv == "P-256":
			j.Alg = AlgES256
		case j.Kty == "RSA":
			j.Alg = AlgRS256
		default:
			return nil, fmt.Errorf(`missing "alg", and kty %q crv %q fits none of EdDSA (Ed25519), ES256 (P-256) or RS256`, j.Kty, j.Crv)
		}
	}
	wantKty, ok := algKty[j.Alg]
	if !ok {
		return nil, fmt.Errorf(`unsupported alg %q (want EdDSA, ES256 or RS256)`, j.Alg)
	}
	if j.Kty != wantKty {
		return nil, fmt.Errorf(`alg %q requires kty %q, but the key has kty %q`, j.Alg, wantKty, j.Kty)
	}
	if wantCrv := algCrv[j.Alg]; wantCrv != "" && j.Crv != wantCrv {
		if j.Crv == "" {
			return nil, fmt.Errorf(`alg %q requires crv %q, but "crv" is missing`, j.Alg, wantCrv)
		}
		return nil, fmt.Errorf(`alg %q requires crv %q, but the key has crv %q`, j.Alg, wantCrv, j.Crv)
	}
	if j.D == "" {
		return nil, errors.New(`public-only key (no "d"): the JWKS file must hold private keys; public keys are derived from them`)
	}

	var priv crypto.Signer
	var err error
	switch j.Kty {
	case "OKP":
		priv, err = j.ed25519()
	case "EC":
		priv, err = j.p256()
	case "RSA":
		priv, err = j.rsa()
	}
	if err != nil {
		return nil, err
	}
	return &Key{ID: j.Kid, Algorithm: j.Alg, Private: priv, CanSign: canSign}, nil
}

func (j *jwk) ed25519() (crypto.Signer, error) {
	x, err := decodeFixed("x", j.X, ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	d, err := decodeFixed("d", j.D, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(d)
	if !priv.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(x)) {
		return nil, errors.New(`private key "d" does not match public key "x"`)
	}
	return priv, nil
}

func (j *jwk) p256() (crypto.Signer, error) {
	const size = 32
	x, err := decodeFixed("x", j.X, size)
	if err != nil {
		return nil, err
	}
	y, err := decodeFixed("y", j.Y, size)
	if err != nil {
		return nil, err
	}
	d, err := decodeFixed("d", j.D, size)
	if err != nil {
		return nil, err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
	if err != nil {
		return nil, fmt.Errorf(`"x"/"y" are not a point on P-256: %w`, err)
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, fmt.Errorf(`invalid P-256 private key "d": %w`, err)
	}
	if !priv.PublicKey.Equal(pub) {
		return nil, errors.New(`private key "d" does not match public key "x"/"y"`)
	}
	return priv, nil
}

func (j *jwk) rsa() (crypto.Signer, error) {
	if len(j.Oth) > 0 && string(j.Oth) != "null" {
		return nil, errors.New(`multi-prime RSA keys ("oth") are not supported`)
	}
	n, err := decodeInt("n", j.N)
	if err != nil {
		return nil, err
	}
	if bits := n.BitLen(); bits < minRSABits {
		return nil, fmt.Errorf("RSA key is %d bits; at least %d are required", bits, minRSABits)
	}
	e, err := decodeInt("e", j.E)
	if err != nil {
		return nil, err
	}
	if e.BitLen() > 31 {
		return nil, errors.New(`RSA public exponent "e" is too large`)
	}
	d, err := decodeInt("d", j.D)
	if err != nil {
		return nil, err
	}
	// Without the primes Go's RSA cannot sign efficiently (or at all in
	// FIPS mode) and cannot check that d belongs to n, so they are required.
	if j.P == "" || j.Q == "" {
		return nil, errors.New(`RSA private key must include the primes "p" and "q"`)
	}
	p, err := decodeInt("p", j.P)
	if err != nil {
		return nil, err
	}
	q, err := decodeInt("q", j.Q)
	if err != nil {
		return nil, err
	}
	priv := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: n, E: int(e.Int64())},
		D:         d,
		Primes:    []*big.Int{p, q},
	}
	if err := priv.Validate(); err != nil {
		return nil, fmt.Errorf(`RSA private key does not match public key "n"/"e" (or is otherwise inconsistent): %w`, err)
	}
	priv.Precompute()
	// CRT values from the file are optional, but if present they must be
	// the ones Go derived; a mismatch means the file was assembled from
	// pieces of different keys.
	for _, c := range []struct {
		name, val string
		want      *big.Int
	}{{"dp", j.DP, priv.Precomputed.Dp}, {"dq", j.DQ, priv.Precomputed.Dq}, {"qi", j.QI, priv.Precomputed.Qinv}} {
		if c.val == "" {
			continue
		}
		got, err := decodeInt(c.name, c.val)
		if err != nil {
			return nil, err
		}
		if c.want != nil && got.Cmp(c.want) != 0 {
			return nil, fmt.Errorf(`RSA CRT parameter %q does not match "p"/"q"/"d"`, c.name)
		}
	}
	return priv, nil
}

// b64 is strict base64url without padding (RFC 7515 §2). Strict mode also
// rejects non-canonical trailing bits, so each value has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

func decode(name, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("missing %q", name)
	}
	// The decoder silently skips CR and LF; reject them so a mangled file
	// is reported rather than half-understood.
	if i := strings.IndexAny(s, "=\r\n"); i >= 0 {
		return nil, fmt.Errorf("malformed base64url in %q: illegal character %q at offset %d (want unpadded base64url)", name, s[i], i)
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("malformed base64url in %q: %w", name, err)
	}
	return b, nil
}

// decodeFixed enforces the exact lengths RFC 7518/8037 require for curve
// coordinates and scalars; a short value usually means a stripped leading
// zero from a buggy exporter, and guessing the padding would hide it.
func decodeFixed(name, s string, size int) ([]byte, error) {
	b, err := decode(name, s)
	if err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("%q is %d bytes; want exactly %d", name, len(b), size)
	}
	return b, nil
}

func decodeInt(name, s string) (*big.Int, error) {
	b, err := decode(name, s)
	if err != nil {
		return nil, err
	}
	v := new(big.Int).SetBytes(b)
	if v.Sign() == 0 {
		return nil, fmt.Errorf("%q is zero", name)
	}
	return v, nil
}

func encInt(v *big.Int) string { return b64.EncodeToString(v.Bytes()) }

func generateSigner(alg string) (crypto.Signer, error) {
	switch alg {
	case AlgEdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case AlgES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgRS256:
		return rsa.GenerateKey(rand.Reader, minRSABits)
	}
	return nil, fmt.Errorf("keys: unsupported alg %q (want EdDSA, ES256 or RS256)", alg)
}

// publicOf encodes the public half of a key. The kid is left empty; callers
// set it, because Generate derives it from this very encoding.
func publicOf(pub crypto.PublicKey, alg string) (publicJWK, error) {
	j := publicJWK{Use: "sig", KeyOps: []string{opVerify}, Alg: alg}
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64.EncodeToString(pub)
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return j, fmt.Errorf("keys: unsupported ECDSA curve %s", pub.Curve.Params().Name)
		}
		b, err := pub.Bytes()
		if err != nil {
			return j, fmt.Errorf("keys: encoding ECDSA public key: %w", err)
		}
		j.Kty, j.Crv = "EC", "P-256"
		j.X, j.Y = b64.EncodeToString(b[1:33]), b64.EncodeToString(b[33:65])
	case *rsa.PublicKey:
		j.Kty = "RSA"
		j.N, j.E = encInt(pub.N), encInt(big.NewInt(int64(pub.E)))
	default:
		return j, fmt.Errorf("keys: unsupported public key type %T", pub)
	}
	return j, nil
}

func marshalPublicSet(ks []*Key) ([]byte, error) {
	out := struct {
		Keys []publicJWK `json:"keys"`
	}{Keys: make([]publicJWK, 0, len(ks))}
	for _, k := range ks {
		j, err := publicOf(k.Public(), k.Algorithm)
		if err != nil {
			return nil, err
		}
		j.Kid = k.ID
		out.Keys = append(out.Keys, j)
	}
	return json.Marshal(out)
}

// thumbprint is the RFC 7638 SHA-256 JWK thumbprint: the hash of the
// required public members in lexicographic order with no whitespace. All
// values are base64url or fixed names, so no JSON escaping is needed.
func thumbprint(j publicJWK) string {
	var canon string
	switch j.Kty {
	case "EC":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, j.Crv, j.X, j.Y)
	case "OKP":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, j.Crv, j.X)
	case "RSA":
		canon = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, j.E, j.N)
	}
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

func privateJWK(priv crypto.Signer, alg string) (privateJWKOut, error) {
	pub, err := publicOf(priv.Public(), alg)
	if err != nil {
		return privateJWKOut{}, err
	}
	pub.Kid = thumbprint(pub)
	pub.KeyOps = []string{opSign}
	out := privateJWKOut{publicJWK: pub}
	switch priv := priv.(type) {
	case ed25519.PrivateKey:
		out.D = b64.EncodeToString(priv.Seed())
	case *ecdsa.PrivateKey:
		d, err := priv.Bytes()
		if err != nil {
			return out, fmt.Errorf("keys: encoding ECDSA private key: %w", err)
		}
		out.D = b64.EncodeToString(d)
	case *rsa.PrivateKey:
		if len(priv.Primes) != 2 {
			return out, errors.New("keys: multi-prime RSA keys are not supported")
		}
		priv.Precompute()
		out.D = encInt(priv.D)
		out.P, out.Q = encInt(priv.Primes[0]), encInt(priv.Primes[1])
		out.DP, out.DQ, out.QI = encInt(priv.Precomputed.Dp), encInt(priv.Precomputed.Dq), encInt(priv.Precomputed.Qinv)
	default:
		return out, fmt.Errorf("keys: unsupported private key type %T", priv)
	}
	return out, nil
}
