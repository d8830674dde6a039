package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authql/authql/internal/clock"
	"github.com/authql/authql/internal/totp"
)

var (
	enrollQ    = `mutation { enrollTotp { secret uri } }`
	confirmQ   = `mutation($c: String!) { confirmTotp(code: $c) }`
	disableQ   = `mutation($c: String!) { disableTotp(code: $c) }`
	verifyMfaQ = `mutation($t: String!, $c: String!) { verifyMfa(mfaToken: $t, code: $c) { ` + payloadFields + ` } }`
	mfaMeQ     = `{ me { id mfaEnabled } }`
)

// codeAt is the TOTP code an authenticator app holding secret shows at t.
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.Code(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mfaAccount is an account with a confirmed TOTP factor.
type mfaAccount struct {
	email, secret string
	first         payload // the signup's tokens (amr pwd)
	recovery      []string
}

type enrollment struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
}

func (e *env) enroll(access string) enrollment {
	e.t.Helper()
	var en enrollment
	e.must(req{query: enrollQ, headers: bearer(access)}, "enrollTotp", &en)
	return en
}

func (e *env) confirm(access, code string) []string {
	e.t.Helper()
	var codes []string
	e.must(req{query: confirmQ, vars: map[string]any{"c": code}, headers: bearer(access)}, "confirmTotp", &codes)
	return codes
}

// withMFA signs up an account and turns MFA on with the code of clk's step,
// then moves clk to the next step, so that the code that confirmed stays
// behind and the test starts with a fresh one.
func (e *env) withMFA(t *testing.T, clk *clock.Fake) mfaAccount {
	t.Helper()
	a := mfaAccount{email: newEmail()}
	a.first = e.signup(a.email, pw)
	a.secret = e.enroll(a.first.AccessToken).Secret
	a.recovery = e.confirm(a.first.AccessToken, codeAt(t, a.secret, clk.Now()))
	clk.Advance(totp.Period)
	return a
}

// mfaToken logs in with the password and returns the mfaToken of the
// MFA_REQUIRED answer, checking that it carried no tokens.
func (e *env) mfaToken(email string) string {
	e.t.Helper()
	resp := e.wantCode(req{query: loginQ, vars: map[string]any{"e": email, "p": pw}}, "MFA_REQUIRED")
	if string(resp.Data["login"]) != "" && string(resp.Data["login"]) != "null" || strings.Contains(string(resp.Raw), "accessToken") {
		e.t.Fatalf("MFA_REQUIRED with data: %s", resp.Raw)
	}
	tok, _ := resp.Errors[0].Extensions["mfaToken"].(string)
	if len(tok) < 22 { // 128 bits in base64url at least
		e.t.Fatalf("mfaToken %q", tok)
	}
	return tok
}

func (e *env) verifyMfa(token, code string) (payload, *response) {
	e.t.Helper()
	resp := e.do(req{query: verifyMfaQ, vars: map[string]any{"t": token, "c": code}})
	var p payload
	if len(resp.Errors) == 0 {
		if err := json.Unmarshal(resp.Data["verifyMfa"], &p); err != nil {
			e.t.Fatalf("verifyMfa: %s", resp.Raw)
		}
	}
	return p, resp
}

// mustVerify is verifyMfa that must succeed.
func (e *env) mustVerify(token, code string) payload {
	e.t.Helper()
	p, resp := e.verifyMfa(token, code)
	if resp.code() != "" || p.AccessToken == "" {
		e.t.Fatalf("verifyMfa with %s: %s", code, resp.Raw)
	}
	return p
}

// mfaEnabled is me { mfaEnabled }.
func (e *env) mfaEnabled(access string) bool {
	e.t.Helper()
	var me struct {
		MFAEnabled bool `json:"mfaEnabled"`
	}
	e.must(req{query: mfaMeQ, headers: bearer(access)}, "me", &me)
	return me.MFAEnabled
}

// amr is the amr claim of an access token.
func amr(t *testing.T, access string) []string {
	t.Helper()
	var out []string
	list, _ := claimsOf(t, access)["amr"].([]any)
	for _, v := range list {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

func wantAMR(t *testing.T, access string, want ...string) {
	t.Helper()
	if got := amr(t, access); !slices.Equal(got, want) {
		t.Fatalf("amr %v, want %v", got, want)
	}
}

// together runs fn n times at once and returns the error codes of the
// answers, "" for a success, sorted.
func together(n int, fn func() string) []string {
	var wg sync.WaitGroup
	start := make(chan struct{})
	codes := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = fn()
		}()
	}
	close(start)
	wg.Wait()
	slices.Sort(codes)
	return codes
}

// auditTypes lists the caller's audit event types, newest first.
func (e *env) auditTypes(access string) []string {
	e.t.Helper()
	var page struct {
		Edges []struct {
			Node struct {
				Type string `json:"type"`
			} `json:"node"`
		} `json:"edges"`
	}
	e.must(req{query: `{ myAuditEvents(first: 100) { edges { node { type } } } }`, headers: bearer(access)}, "myAuditEvents", &page)
	var types []string
	for _, edge := range page.Edges {
		types = append(types, edge.Node.Type)
	}
	return types
}

// runBackgroundUntil runs the app's background pruner until done holds, for
// at most 5 s.
func runBackgroundUntil(t *testing.T, e *env, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.App.RunBackground(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	for deadline := time.Now().Add(5 * time.Second); !done(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the background pruner did not get there in 5 s")
		}
	}
}
