package e2e

import (
	"testing"

	"github.com/authql/authql/internal/store/storetest"
)

// respell puts CRLF inside the signature: base64 decoders skip it, so the token
// verified as the same token while its hash matched no stored row.
func respell(token string) string {
	return token[:len(token)-8] + "\r\n" + token[len(token)-8:]
}

// TestRespelledRefreshTokens: a refresh token has one spelling. Another one is
// malformed: it mints nothing, logs nothing out, and is no way to probe a
// token without tripping reuse detection.
func TestRespelledRefreshTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := start(t, db)
		first := e.signup(newEmail(), pw)
		next, resp := e.refresh(first.refresh())
		if resp.code() != "" {
			t.Fatalf("rotation: %s", resp.Raw)
		}

		// The rotated token, re-spelled, is refused and mints nothing.
		_, resp = e.refresh(respell(first.refresh()))
		if minted := len(resp.Data["refreshToken"]) > 0 && string(resp.Data["refreshToken"]) != "null"; resp.code() != "INVALID_REFRESH_TOKEN" || minted {
			t.Fatalf("re-spelled rotated token: %s", resp.Raw)
		}
		// So is the current one, and it does not consume it.
		_, resp = e.refresh(respell(next.refresh()))
		if resp.code() != "INVALID_REFRESH_TOKEN" {
			t.Fatalf("re-spelled current token: %s", resp.Raw)
		}
		// Nor does it log the session out.
		e.wantCode(req{query: logoutQ, vars: map[string]any{"t": respell(next.refresh())}}, "INVALID_REFRESH_TOKEN")
		if u, code := e.me(next.AccessToken); code != "" || u.ID == "" {
			t.Fatalf("the session was touched by a re-spelled token: %q", code)
		}
		if _, resp := e.refresh(next.refresh()); resp.code() != "" {
			t.Fatalf("the genuine current token after the probes: %s", resp.Raw)
		}
	})
}
