package e2e

import (
	"bytes"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/totp"
)

// TestMFAWrongCodesAreRateLimited: wrong codes of confirmTotp, disableTotp
// and verifyMfa spend one budget per account (AUTHQL_RATE_LIMIT_MFA), which
// then refuses even the right code; right codes spend none of it. verifyMfa's
// wrong codes are failed logins of the (account, client) too.
func TestMFAWrongCodesAreRateLimited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk, "AUTHQL_RATE_LIMIT=on", "AUTHQL_RATE_LIMIT_MFA=3/15m")
		wantLimited := func(resp *response) {
			t.Helper()
			ra, _ := resp.Errors[0].Extensions["retryAfter"].(float64)
			if ra < 1 || ra > 15*60 {
				t.Fatalf("retryAfter %v", resp.Errors[0].Extensions["retryAfter"])
			}
		}

		s := e.signup(newEmail(), pw)
		en := e.enroll(s.AccessToken)
		for i := range 3 {
			e.wantCode(req{query: confirmQ, vars: map[string]any{"c": fmt.Sprintf("x%d", i)}, headers: bearer(s.AccessToken)}, "INVALID_MFA_CODE")
		}
		right := req{query: confirmQ, vars: map[string]any{"c": codeAt(t, en.Secret, clk.Now())}, headers: bearer(s.AccessToken)}
		wantLimited(e.wantCode(right, "RATE_LIMITED"))
		// Another account has its own budget, and right codes cost nothing.
		a := e.withMFA(t, clk)
		for range 5 {
			clk.Advance(totp.Period)
			e.mustVerify(e.mfaToken(a.email), codeAt(t, a.secret, clk.Now()))
		}
		tok := e.mfaToken(a.email)
		for range 3 {
			if _, resp := e.verifyMfa(tok, "bad"); resp.code() != "INVALID_MFA_CODE" {
				t.Fatalf("wrong code: %s", resp.Raw)
			}
		}
		wantLimited(e.wantCode(req{query: verifyMfaQ, vars: map[string]any{"t": tok, "c": codeAt(t, a.secret, clk.Now())}}, "RATE_LIMITED"))
		e.wantCode(req{query: disableQ, vars: map[string]any{"c": a.recovery[0]}, headers: bearer(a.first.AccessToken)}, "RATE_LIMITED")

		// Failed logins of the (account, client): wrong codes count there too.
		l := startClocked(t, db, clk, "AUTHQL_RATE_LIMIT=on", "AUTHQL_RATE_LIMIT_LOGIN=2/15m")
		b := l.withMFA(t, clk)
		for range 2 {
			if _, resp := l.verifyMfa(l.mfaToken(b.email), "bad"); resp.code() != "INVALID_MFA_CODE" {
				t.Fatalf("wrong code: %s", resp.Raw)
			}
		}
		l.wantCode(req{query: loginQ, vars: map[string]any{"e": b.email, "p": pw}}, "RATE_LIMITED")
	})
}

// TestMFARaces: of requests racing with one code, exactly one wins: two
// verifyMfa with one mfaToken, two logins' verifyMfa with one TOTP code or
// one recovery code, two confirmTotp, two disableTotp.
func TestMFARaces(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk)
		a := e.withMFA(t, clk)
		verify := func(tok, code string) func() string {
			return func() string { _, resp := e.verifyMfa(tok, code); return resp.code() }
		}
		wantOne := func(what string, codes []string, losers ...string) {
			t.Helper()
			if codes[0] != "" || codes[1] == "" {
				t.Fatalf("%s: %q, want exactly one success", what, codes)
			}
			for _, c := range codes[1:] {
				if !slices.Contains(losers, c) {
					t.Fatalf("%s: %q, losers want one of %q", what, codes, losers)
				}
			}
		}
		for round := range 5 {
			clk.Advance(totp.Period)
			tok := e.mfaToken(a.email)
			wantOne(fmt.Sprintf("round %d, one mfaToken", round), together(2, verify(tok, codeAt(t, a.secret, clk.Now()))), "INVALID_TOKEN")

			clk.Advance(totp.Period)
			code := codeAt(t, a.secret, clk.Now())
			wantOne(fmt.Sprintf("round %d, two logins", round), together(2, eachOwn(e.mfaToken(a.email), e.mfaToken(a.email), func(tok string) string {
				return verify(tok, code)()
			})), "INVALID_MFA_CODE")
			wantOne(fmt.Sprintf("round %d, one recovery code", round), together(2, eachOwn(e.mfaToken(a.email), e.mfaToken(a.email), func(tok string) string {
				return verify(tok, a.recovery[round])()
			})), "INVALID_MFA_CODE")
		}
		tok := e.mfaToken(a.email)
		clk.Advance(totp.Period)
		wantOne("eight at once with one mfaToken", together(8, verify(tok, codeAt(t, a.secret, clk.Now()))), "INVALID_TOKEN")
		// Ten wrong guesses at once: five are checked, five find the token dead.
		tok = e.mfaToken(a.email)
		guesses := together(10, verify(tok, "nope"))
		want := slices.Concat(slices.Repeat([]string{"INVALID_MFA_CODE"}, 5), slices.Repeat([]string{"INVALID_TOKEN"}, 5))
		if !slices.Equal(guesses, want) {
			t.Fatalf("ten guesses at once: %q", guesses)
		}

		access := a.first.AccessToken
		run := func(q, code string) func() string {
			return func() string {
				return e.do(req{query: q, vars: map[string]any{"c": code}, headers: bearer(access)}).code()
			}
		}
		for round := range 3 {
			clk.Advance(totp.Period)
			wantOne(fmt.Sprintf("round %d, disableTotp", round), together(2, run(disableQ, codeAt(t, a.secret, clk.Now()))), "BAD_USER_INPUT", "INVALID_MFA_CODE")
			if e.mfaEnabled(access) {
				t.Fatal("mfaEnabled after disableTotp")
			}
			en := e.enroll(access)
			wantOne(fmt.Sprintf("round %d, confirmTotp", round), together(2, run(confirmQ, codeAt(t, en.Secret, clk.Now()))), "BAD_USER_INPUT", "INVALID_MFA_CODE")
			if !e.mfaEnabled(access) {
				t.Fatal("mfaEnabled false after confirmTotp")
			}
			a.secret = en.Secret
		}
	})
}

// eachOwn gives each of two racing calls its own mfaToken.
func eachOwn(t1, t2 string, fn func(tok string) string) func() string {
	var n atomic.Int32
	return func() string {
		if n.Add(1) == 1 {
			return fn(t1)
		}
		return fn(t2)
	}
}

// TestAliasedVerifyMFAIsBounded: one request of 20 aliased verifyMfa runs 10
// (the bound of one mutation field per request), of which the token lets 5
// codes be checked; then it is dead, the right code included.
func TestAliasedVerifyMFAIsBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk, "AUTHQL_RATE_LIMIT=on")
		a := e.withMFA(t, clk)
		tok := e.mfaToken(a.email)
		wrong := "000000"
		for n := 0; n < 1e6; n++ {
			wrong = fmt.Sprintf("%06d", n)
			if !slices.Contains([]string{codeAt(t, a.secret, clk.Now().Add(-totp.Period)), codeAt(t, a.secret, clk.Now()), codeAt(t, a.secret, clk.Now().Add(totp.Period))}, wrong) {
				break
			}
		}
		var b strings.Builder
		b.WriteString("mutation {")
		for i := range 20 {
			fmt.Fprintf(&b, " l%d: verifyMfa(mfaToken: %q, code: %q) { accessToken }", i, tok, wrong)
		}
		b.WriteString(" }")
		codes := codesByAlias(t, e.do(req{query: b.String()}), 20)
		want := slices.Concat(slices.Repeat([]string{"INVALID_MFA_CODE"}, 5), slices.Repeat([]string{"INVALID_TOKEN"}, 5), slices.Repeat([]string{"RATE_LIMITED"}, 10))
		if !slices.Equal(codes, want) {
			t.Fatalf("aliased verifyMfa: %q\nwant %q", codes, want)
		}
		if _, resp := e.verifyMfa(tok, codeAt(t, a.secret, clk.Now())); resp.code() != "INVALID_TOKEN" {
			t.Fatalf("the right code after the aliases: %s", resp.Raw)
		}
		// The refused and the dead attempts cost nothing: only the 5 wrong
		// codes count against the 10 of the account (and of its failed logins
		// from this client), which 5 more spend.
		for range 5 {
			if _, resp := e.verifyMfa(e.mfaToken(a.email), wrong); resp.code() != "INVALID_MFA_CODE" {
				t.Fatalf("wrong code within the account's budget: %s", resp.Raw)
			}
		}
		e.wantCode(req{query: loginQ, vars: map[string]any{"e": a.email, "p": pw}}, "RATE_LIMITED")
	})
}

// TestDatabaseCopyHoldsNoMFASecrets: the TOTP secret (base32 or raw), the
// recovery codes and the mfaTokens appear nowhere in the rows of a copy of
// the database.
func TestDatabaseCopyHoldsNoMFASecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk)
		a := e.withMFA(t, clk)
		pending := e.mfaToken(a.email)
		used := e.mfaToken(a.email)
		e.mustVerify(used, a.recovery[0])
		clk.Advance(totp.Period)
		failed := e.mfaToken(a.email)
		e.verifyMfa(failed, "123456")

		dump, rows := mfaDump(t, db)
		for table, n := range rows {
			if n == 0 {
				t.Fatalf("%s is empty: the test reads the wrong database", table)
			}
		}
		if !bytes.Contains(dump, []byte(a.first.User.ID)) {
			t.Fatal("the dump misses the user")
		}
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(a.secret)
		if err != nil {
			t.Fatal(err)
		}
		secrets := map[string]string{
			"secret":             a.secret,
			"secret, lower case": strings.ToLower(a.secret),
			"secret bytes":       string(raw),
			"secret in hex":      hex.EncodeToString(raw),
			"secret in base64":   base64.StdEncoding.EncodeToString(raw),
			"pending mfaToken":   pending,
			"used mfaToken":      used,
			"failed mfaToken":    failed,
		}
		for i, c := range a.recovery {
			secrets[fmt.Sprintf("recovery code %d", i)] = c
			secrets[fmt.Sprintf("recovery code %d, bare", i)] = strings.ReplaceAll(c, "-", "")
			secrets[fmt.Sprintf("recovery code %d, upper", i)] = strings.ToUpper(strings.ReplaceAll(c, "-", ""))
		}
		for name, secret := range secrets {
			if bytes.Contains(dump, []byte(secret)) {
				t.Errorf("the database holds the %s in clear", name)
			}
		}
	})
}

// mfaDump reads every row of the MFA tables and of users and audit_events
// as bytes, as someone holding a copy of the database would, and how many
// rows each MFA table had.
func mfaDump(t *testing.T, db storetest.Backend) ([]byte, map[string]int) {
	t.Helper()
	conn := storetest.SQL(t, db)
	var b bytes.Buffer
	rows := map[string]int{}
	for _, table := range []string{"totp_factors", "recovery_codes", "mfa_challenges", "users", "audit_events"} {
		n := dumpTable(t, conn, table, &b)
		if strings.Contains(table, "_") && table != "audit_events" {
			rows[table] = n
		}
	}
	return b.Bytes(), rows
}

func dumpTable(t *testing.T, conn *sql.DB, table string, out *bytes.Buffer) int {
	t.Helper()
	rs, err := conn.Query("SELECT * FROM " + table)
	if err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			out.Write(v)
			out.WriteByte('|')
		}
		out.WriteByte('\n')
		n++
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
