// Package totp implements time-based one-time passwords (RFC 6238) as the
// authenticator apps expect them: HMAC-SHA-1, 6 digits, 30-second steps.
//
// It keeps no state. Replay protection belongs to the caller, which stores the
// last step used per account and refuses any step at or below it: Match
// returns the step it matched for that purpose.
//
// A library (github.com/pquerna/otp) was considered: it validates a code
// without saying which step matched, so replay protection would need the steps
// recomputed here anyway, and its URI orders the parameters differently from
// the documented shape. HOTP itself is a dozen lines, checked below against
// the RFC's own test vectors.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6238's default, the one every authenticator app supports; HMAC-SHA-1 is not broken
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"strings"
	"time"
)

const (
	// Digits is the length of a code.
	Digits = 6
	// Period is the length of a time step.
	Period = 30 * time.Second
	// Skew is how many steps before or after the current one a code may be
	// from: one absorbs clock drift and the seconds a user takes to type.
	Skew = 1
	// secretBytes is the secret's length: 160 bits, RFC 4226's recommendation
	// and the output size of SHA-1.
	secretBytes = 20
)

// encoding is base32 without padding, the form authenticator apps accept
// for manual entry and in a URI.
var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrSecret means a secret is not base32 of at least 80 bits (RFC 4226's minimum).
var ErrSecret = errors.New("totp: malformed secret")

// NewSecret returns 160 random bits in base32 without padding (32 characters).
func NewSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails: it crashes the program instead
	return encoding.EncodeToString(b)
}

// URI is the otpauth:// key URI an authenticator app imports (shown as a QR
// code): otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30.
// Issuer and account are percent-encoded, ':' included, so that neither can
// split the label or inject a parameter.
func URI(issuer, account, secret string) string {
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	b.WriteString(escape(issuer, true))
	b.WriteByte(':')
	b.WriteString(escape(account, true))
	b.WriteString("?secret=")
	b.WriteString(escape(secret, false))
	b.WriteString("&issuer=")
	b.WriteString(escape(issuer, false))
	b.WriteString("&algorithm=SHA1&digits=6&period=30")
	return b.String()
}

// escape percent-encodes everything but RFC 3986's unreserved characters, and
// '@' in the label, where it is a legal path character and keeps an email
// address readable. Spaces become %20, never '+', which apps differ on.
func escape(s string, label bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || label && c == '@' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// Step is the time step t falls in: whole periods since the Unix epoch.
func Step(t time.Time) int64 {
	return t.Unix() / int64(Period/time.Second)
}

// Code is the code of the step t falls in. authql only ever checks codes; Code
// is for tests and tools that play the authenticator's part.
func Code(secret string, t time.Time) (string, error) {
	key, err := decode(secret)
	if err != nil {
		return "", err
	}
	return string(hotp(key, uint64(Step(t)))), nil
}

// Match reports whether code is the code of the step now falls in, or of the
// one before or after it, and if so which step it matched (the newest, should
// two steps share a code). It refuses anything but exactly six ASCII digits,
// and a malformed secret. The three candidates are all computed and compared
// in constant time, so how long Match takes says nothing about the code.
//
// A matched code must then be refused if its step is not after the last step
// the account used: Match cannot know that.
func Match(secret, code string, now time.Time) (int64, bool) {
	if len(code) != Digits {
		return 0, false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return 0, false
		}
	}
	key, err := decode(secret)
	if err != nil {
		return 0, false
	}
	current := Step(now)
	var matched int64
	found := 0
	for step := current - Skew; step <= current+Skew; step++ {
		if step < 0 {
			continue
		}
		eq := subtle.ConstantTimeCompare(hotp(key, uint64(step)), []byte(code))
		matched = int64(subtle.ConstantTimeSelect(eq, int(step), int(matched)))
		found |= eq
	}
	return matched, found == 1
}

func decode(secret string) ([]byte, error) {
	key, err := encoding.DecodeString(strings.ToUpper(secret))
	if err != nil || len(key) < 10 {
		return nil, ErrSecret
	}
	return key, nil
}

// hotp is RFC 4226's HOTP with dynamic truncation, as Digits ASCII digits.
func hotp(key []byte, counter uint64) []byte {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	out := make([]byte, Digits)
	for i := Digits - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return out
}
