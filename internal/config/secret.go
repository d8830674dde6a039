package config

import "fmt"

// secretWeakness says how a secret of sufficient length still falls short of
// random bytes, or "" when it does not. It catches what people type when asked
// for 32 bytes (one key held down, a word repeated or padded out, a short
// pattern), not every weak secret: no test on one value can tell random from
// merely random-looking.
func secretWeakness(secret []byte) string {
	var seen [256]bool
	distinct := 0
	for _, b := range secret {
		if !seen[b] {
			seen[b] = true
			distinct++
		}
	}
	if distinct == 1 {
		return "is one character repeated"
	}
	for p := 2; p <= len(secret)/2; p++ {
		if periodic(secret, p) {
			return fmt.Sprintf("repeats a pattern of %d characters", p)
		}
	}
	if distinct < minSecretDistinct {
		return fmt.Sprintf("uses only %d different characters", distinct)
	}
	// Random bytes (hex and base64 text included) almost never repeat a
	// trigram at these lengths; text padded or repeated out to length does.
	trigrams := map[[3]byte]bool{}
	for i := 0; i+3 <= len(secret); i++ {
		trigrams[[3]byte(secret[i:i+3])] = true
	}
	if n := len(secret) - 2; 4*len(trigrams) < 3*n {
		return "is mostly repetition, like short text padded or repeated out to length"
	}
	return ""
}

// minSecretDistinct is the fewest different bytes a secret may use: hex text,
// the narrowest common encoding of random bytes, has 16.
const minSecretDistinct = 8

// periodic reports whether s repeats its first p bytes throughout.
func periodic(s []byte, p int) bool {
	for i := p; i < len(s); i++ {
		if s[i] != s[i-p] {
			return false
		}
	}
	return true
}
