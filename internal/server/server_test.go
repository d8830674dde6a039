package server

import (
	"net/http"
	"net/netip"
	"testing"
)

// TestClientIP pins whose address the rate limits count: the peer's, unless
// the peer is a trusted proxy, and never one a client chose.
func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client", "203.0.113.9:5555", nil, "203.0.113.9"},
		{"untrusted peer's header is ignored", "203.0.113.9:5555", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted proxy names the client", "10.1.2.3:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client-supplied hops before the proxy's are skipped", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", "10.1.2.3:80", []string{"198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"several header lines", "10.1.2.3:80", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"},
		{"garbage hop stops the walk", "10.1.2.3:80", []string{"198.51.100.7, not-an-ip"}, "10.1.2.3"},
		{"all hops trusted", "10.1.2.3:80", []string{"10.4.4.4"}, "10.4.4.4"},
		{"ipv6 loopback proxy", "[::1]:80", []string{"2001:db8::1"}, "2001:db8::1"},
		{"ipv4-mapped peer", "[::ffff:203.0.113.9]:80", nil, "203.0.113.9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, trusted); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestBearer(t *testing.T) {
	cases := map[string]string{
		"Bearer abc":    "abc",
		"bearer abc":    "abc",
		"BEARER  abc ":  "abc",
		"Basic abc":     "",
		"Bearer":        "",
		"":              "",
		"Bearerabc":     "",
		"Token abc def": "",
	}
	for header, want := range cases {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", header)
		if got := bearer(r); got != want {
			t.Errorf("%q: got %q, want %q", header, got, want)
		}
	}
}

// TestLimitKey pins what one rate-limit budget is: an IPv4 address, or an IPv6
// network of the configured length, never a spelling the client can vary.
func TestLimitKey(t *testing.T) {
	cases := []struct {
		name, ip string
		bits     int
		want     string
	}{
		{"ipv4 is the address", "203.0.113.9", 64, "203.0.113.9"},
		{"ipv4 ignores the ipv6 length", "203.0.113.9", 56, "203.0.113.9"},
		{"ipv4-mapped is its ipv4 form", "::ffff:203.0.113.9", 64, "203.0.113.9"},
		{"ipv4-mapped in hex is its ipv4 form", "::ffff:cb00:7109", 64, "203.0.113.9"},
		{"ipv6 is its /64", "2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"another host of the /64", "2001:db8:1:2:ffff::1", 64, "2001:db8:1:2::/64"},
		{"expanded spelling", "2001:0db8:0001:0002:0000:0000:0000:0001", 64, "2001:db8:1:2::/64"},
		{"upper-case spelling", "2001:DB8:1:2::AB", 64, "2001:db8:1:2::/64"},
		{"zone is dropped", "fe80::1%eth0", 64, "fe80::/64"},
		{"another zone, same network", "fe80::2%lo", 64, "fe80::/64"},
		{"a /56", "2001:db8:0:ab:1::1", 56, "2001:db8::/56"},
		{"a /48", "2001:db8:7:ab::1", 48, "2001:db8:7::/48"},
		{"a /128 is the address", "2001:db8::1", 128, "2001:db8::1/128"},
		{"unset length means /64", "2001:db8:1:2::1", 0, "2001:db8:1:2::/64"},
		{"loopback", "::1", 64, "::/64"},
		{"not an address is itself", "pipe", 64, "pipe"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := limitKey(c.ip, c.bits); got != c.want {
				t.Fatalf("limitKey(%q, %d) = %q, want %q", c.ip, c.bits, got, c.want)
			}
		})
	}
}
