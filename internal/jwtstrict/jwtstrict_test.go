package jwtstrict

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestCheck covers what the token tests cannot reach with a valid signature:
// the shape of the compact form and of the JSON.
func TestCheck(t *testing.T) {
	h, c, sig := enc(`{"alg":"HS256","typ":"at+jwt"}`), enc(`{"sub":"u","exp":1893456000,"aud":["a"]}`), enc("signature!")
	deep := strings.Repeat(`{"a":`, maxDepth+2) + "1" + strings.Repeat("}", maxDepth+2)
	// Past the members held in an array (members.names): the checks still
	// find a claim there.
	var many strings.Builder
	for i := range 20 {
		many.WriteString(`"c` + string(rune('a'+i)) + `":1,`)
	}
	past := func(claim string) string { return enc("{" + many.String() + claim + "}") }
	twenty := enc("{" + many.String() + `"x":1}`)
	cases := []struct {
		name, token string
		ok          bool
		critical    bool
	}{
		{"well formed", h + "." + c + "." + sig, true, false},
		{"unsigned keeps its one spelling", h + "." + c + ".", true, false},
		{"nested arrays and objects", h + "." + enc(`{"x":[{"a":1},{"a":1}],"y":{"b":[1,2]}}`) + "." + sig, true, false},
		{"numbers of every shape", h + "." + enc(`{"exp":1.5e9,"nbf":-1,"iat":0}`) + "." + sig, true, false},
		{"twenty-one claims", h + "." + twenty + "." + sig, true, false},
		{"exp a string past twenty claims", h + "." + past(`"exp":"1"`) + "." + sig, false, false},
		{"crit past twenty header members", past(`"crit":["x"]`) + "." + c + "." + sig, false, true},
		{"four segments", h + "." + c + "." + sig + "." + sig, false, false},
		{"two segments", h + "." + c, false, false},
		{"empty header", "." + c + "." + sig, false, false},
		{"empty claims", h + ".." + sig, false, false},
		{"impossible length", h + "." + c + "." + sig + "AAA", false, false},
		{"header not an object", enc(`["alg"]`) + "." + c + "." + sig, false, false},
		{"claims not JSON", h + "." + enc(`{"sub":`) + "." + sig, false, false},
		{"claims null", h + "." + enc(`null`) + "." + sig, false, false},
		{"exp null", h + "." + enc(`{"exp":null}`) + "." + sig, false, false},
		{"exp true", h + "." + enc(`{"exp":true}`) + "." + sig, false, false},
		{"EXP string (decoded as exp)", h + "." + enc(`{"EXP":"1"}`) + "." + sig, false, false},
		{"Kelvin-sign duplicate", h + "." + enc(`{"kid":1,"\u212aid":2}`) + "." + sig, false, false},
		{"nested too deep", h + "." + enc(deep) + "." + sig, false, false},
		{"crit", enc(`{"alg":"HS256","crit":["x"],"x":1}`) + "." + c + "." + sig, false, true},
		{"b64 true", enc(`{"alg":"HS256","b64":true}`) + "." + c + "." + sig, false, true},
		{"tab in a segment", h + "\t." + c + "." + sig, false, false},
		{"non-canonical final character", h + "." + c + "." + sig[:len(sig)-1] + string(sig[len(sig)-1]+1), false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.token)
			if (err == nil) != tc.ok {
				t.Fatalf("Check(%q) = %v, want ok %v", tc.token, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v does not wrap ErrMalformed", err)
			}
			if errors.Is(err, ErrCritical) != tc.critical {
				t.Fatalf("%v: critical = %v, want %v", err, !tc.critical, tc.critical)
			}
		})
	}
}
