package token

import (
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestGenConstants(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	secret := []byte("authql-fuzz-secret-0123456789abcdef-0123456789")
	mk := func(clock time.Time) *Service {
		s, err := New(Config{Secret: secret, Issuer: "authql", Audience: "authql", AccessTTL: 15 * time.Minute, Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	mked := func(clock time.Time) *Service {
		s, err := New(Config{Secret: secret, Issuer: "authql", Audience: "authql", AccessTTL: 15 * time.Minute, Now: func() time.Time { return clock },
			Keys: []Key{{ID: "ed-1", Method: jwt.SigningMethodEdDSA, SignKey: priv, VerifyKey: priv.Public()}}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	far := now.Add(24 * time.Hour)
	p := func(name string, s *Service, user, sess string, notAfter time.Time) {
		tok, _, err := s.IssueAccess(user, sess, notAfter)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("%s = %q\n", name, tok)
	}
	p("hsValid1", mk(now), "0190f0f0-0000-7000-8000-000000000001", "0190f0f0-0000-7000-8000-0000000000a1", far)
	p("hsValid2", mk(now.Add(-10*time.Minute)), "0190f0f0-0000-7000-8000-000000000002", "0190f0f0-0000-7000-8000-0000000000a2", far)
	p("hsExpired", mk(now.Add(-time.Hour)), "0190f0f0-0000-7000-8000-000000000003", "0190f0f0-0000-7000-8000-0000000000a3", far)
	p("hsExpNow", mk(now.Add(-15*time.Minute)), "0190f0f0-0000-7000-8000-000000000004", "0190f0f0-0000-7000-8000-0000000000a4", far)
	p("hsFuture", mk(now.Add(time.Hour)), "0190f0f0-0000-7000-8000-000000000005", "0190f0f0-0000-7000-8000-0000000000a5", far.Add(time.Hour))
	p("edValid1", mked(now), "0190f0f0-0000-7000-8000-000000000006", "0190f0f0-0000-7000-8000-0000000000a6", far)
	p("edExpired", mked(now.Add(-time.Hour)), "0190f0f0-0000-7000-8000-000000000007", "0190f0f0-0000-7000-8000-0000000000a7", far)
}
