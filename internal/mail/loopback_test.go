package mail

import "testing"

// TestLoopback: only this machine may get a password over a connection
// that is not encrypted.
func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost":          true,
		"LocalHost":          true,
		"127.0.0.1":          true,
		"127.1.2.3":          true,
		"::1":                true,
		"::ffff:127.0.0.1":   true,
		"10.0.0.1":           false,
		"128.0.0.1":          false,
		"::2":                false,
		"smtp.example.com":   false,
		"localhost.evil.com": false,
		"":                   false,
	} {
		if got := loopback(host); got != want {
			t.Errorf("loopback(%q) = %v, want %v", host, got, want)
		}
	}
}
