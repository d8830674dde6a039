// Package keys owns the JSON Web Key Set of private signing keys that authql
// uses for its access tokens (the file named by AUTHQL_JWKS_FILE).
//
// The file holds private keys so that one process can both sign and verify,
// and so that rotation is a file edit rather than a coordinated deploy: the
// single key whose key_ops contains "sign" signs new tokens, while the other
// keys stay in the set only so that tokens they signed earlier keep verifying
// until those tokens expire. The public halves of all keys are what relying
// parties fetch from /.well-known/jwks.json.
//
// Validation is deliberately strict and reports every problem it finds at
// once: the set is read at server start, where a precise message is cheap and
// a silently misconfigured signing key is not.
package keys

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Supported JWS algorithms. The list is closed on purpose: HMAC would put
// the verification secret in every relying party's hands, and "none" or
// RSA-PSS variants would widen what a verifier has to accept.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
)

// minRSABits is the smallest modulus accepted; smaller keys are factorable
// within reach of a well-funded attacker for the lifetime of a token set.
const minRSABits = 2048

// Key is one private key of the set.
//
// Keys handed out by a Set are shared with it and must not be modified.
type Key struct {
	ID        string        // kid
	Algorithm string        // AlgEdDSA, AlgES256 or AlgRS256
	Private   crypto.Signer // ed25519.PrivateKey, *ecdsa.PrivateKey or *rsa.PrivateKey
	CanSign   bool          // key_ops contains "sign"
}

// Public returns the verification key (ed25519.PublicKey, *ecdsa.PublicKey or
// *rsa.PublicKey), the form JWT libraries verify with.
func (k *Key) Public() crypto.PublicKey {
	return k.Private.Public()
}

// Set is a validated key set: exactly one signing key, unique kids.
// It is immutable after Parse and safe for concurrent use.
type Set struct {
	keys   []*Key
	byID   map[string]*Key
	signer *Key
	public []byte
}

// Load reads and validates the key set at path. The path is part of every
// error because the message is meant for an operator at server start.
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: reading JWKS file: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("keys: %s: %w", path, err)
	}
	return s, nil
}

// Parse validates a JWK Set of private keys. It keeps going after the first
// bad key so that an operator fixing the file sees every problem in one
// start attempt; all problems are joined into the returned error, each
// naming the offending keys[index] and kid.
func Parse(data []byte) (*Set, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("invalid JWKS: document is empty")
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
		Kty  json.RawMessage   `json:"kty"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid JWKS: not a JSON object of the form {\"keys\":[...]}: %w", err)
	}
	if len(doc.Keys) == 0 {
		if doc.Kty != nil {
			return nil, errors.New(`invalid JWKS: document is a single JWK; wrap it as {"keys":[...]}`)
		}
		return nil, errors.New(`invalid JWKS: the set has no keys ("keys" is missing or empty)`)
	}

	var errs []error
	s := &Set{byID: make(map[string]*Key, len(doc.Keys))}
	firstIndex := make(map[string]int, len(doc.Keys))
	var signers []string
	anyOps := false
	for i, raw := range doc.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			errs = append(errs, fmt.Errorf("keys[%d]: not a valid JWK object: %w", i, err))
			continue
		}
		where := keyRef(i, j.Kid)
		anyOps = anyOps || len(j.KeyOps) > 0
		if slices.Contains(j.KeyOps, opSign) {
			signers = append(signers, fmt.Sprintf("%q", j.Kid))
		}
		if j.Kid != "" {
			if prev, dup := firstIndex[j.Kid]; dup {
				errs = append(errs, fmt.Errorf("%s: duplicate kid, already used by keys[%d]", where, prev))
			} else {
				firstIndex[j.Kid] = i
			}
		}
		k, err := j.privateKey()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		s.byID[k.ID] = k
		s.keys = append(s.keys, k)
	}
	// A set of one key that declares no key_ops at all is unambiguous: that
	// key signs. Any set that uses key_ops must name its signer.
	if len(signers) == 0 && !anyOps && len(doc.Keys) == 1 && len(s.keys) == 1 {
		s.keys[0].CanSign = true
		signers = append(signers, fmt.Sprintf("%q", s.keys[0].ID))
	}
	// Signers are counted from the declared key_ops, broken keys included,
	// so a typo in the signing key is not also misreported as "no signing
	// key", and two declared signers are named even if one is broken.
	switch {
	case len(signers) > 1:
		errs = append(errs, fmt.Errorf(`%d keys have "sign" in key_ops (kids %s); exactly one may sign, mark the others ["verify"]`,
			len(signers), strings.Join(signers, ", ")))
	case len(signers) == 0:
		errs = append(errs, errors.New(`no signing key: exactly one key must have "sign" in key_ops`))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid JWKS: %w", errors.Join(errs...))
	}

	for _, k := range s.keys {
		if k.CanSign {
			s.signer = k
		}
	}
	pub, err := marshalPublicSet(s.keys)
	if err != nil {
		return nil, fmt.Errorf("invalid JWKS: %w", err)
	}
	s.public = pub
	return s, nil
}

func keyRef(i int, kid string) string {
	if kid == "" {
		return fmt.Sprintf("keys[%d]", i)
	}
	return fmt.Sprintf("keys[%d] (kid %q)", i, kid)
}

// Signer returns the one key that signs new tokens.
func (s *Set) Signer() *Key { return s.signer }

// Lookup finds a key by kid: Rotate refuses a new key whose kid is taken.
func (s *Set) Lookup(kid string) (*Key, bool) {
	k, ok := s.byID[kid]
	return k, ok
}

// Keys returns every key in file order. The slice is a copy; the keys are not.
func (s *Set) Keys() []*Key { return slices.Clone(s.keys) }

// PublicJWKS returns the document served at /.well-known/jwks.json: the
// public half of every key, verify-only ones included, because relying
// parties must keep accepting tokens issued before the last rotation. It is
// built from types that have no private members at all, so a private
// parameter cannot leak by omission. Encoded once in Parse; each call returns
// a fresh copy so a handler cannot corrupt it for the next request.
func (s *Set) PublicJWKS() []byte { return bytes.Clone(s.public) }

// Generate makes a new private key as a JWK object. The kid is the key's
// RFC 7638 SHA-256 thumbprint (base64url): unique for a fresh random key,
// reproducible by anyone holding the public key, and it needs no extra
// randomness or registry. The key is marked "sign"; Rotate is what demotes
// the previous signer.
func Generate(alg string) ([]byte, error) {
	priv, err := generateSigner(alg)
	if err != nil {
		return nil, err
	}
	j, err := privateJWK(priv, alg)
	if err != nil {
		return nil, err
	}
	return json.Marshal(j)
}
