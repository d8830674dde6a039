package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authql/authql/internal/clock"
	"github.com/authql/authql/internal/mail/mailtest"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
)

// The account lifecycle's requests.
const (
	verifyEmailQ  = `mutation($t: String!) { verifyEmail(token: $t) { id email emailVerified } }`
	resendQ       = `mutation { resendVerificationEmail }`
	requestResetQ = `mutation($e: String!) { requestPasswordReset(email: $e) }`
	resetQ        = `mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { ` + payloadFields + ` } }`
	deleteQ       = `mutation($p: String!) { deleteAccount(password: $p) }`
	meVerifiedQ   = `{ me { id email emailVerified } }`
)

const mailAppURL = "https://app.example.com"

// mailEnv is authql with a real SMTP server (in process) as its relay.
type mailEnv struct {
	*env
	smtp *mailtest.Server
}

// startMail runs authql on db mailing through a fresh SMTP server; clk may
// be nil for the wall clock.
func startMail(t *testing.T, db storetest.Backend, clk *clock.Fake, settings ...string) *mailEnv {
	t.Helper()
	srv := mailtest.Start(t, mailtest.Options{})
	return startMailWith(t, db, srv, clk, settings...)
}

// startMailWith runs authql on db mailing through srv (several instances may
// share one).
func startMailWith(t *testing.T, db storetest.Backend, srv *mailtest.Server, clk *clock.Fake, settings ...string) *mailEnv {
	t.Helper()
	settings = append([]string{"AUTHQL_SMTP_URL=" + srv.URL(), "AUTHQL_APP_URL=" + mailAppURL}, settings...)
	if clk != nil {
		return &mailEnv{env: startClocked(t, db, clk, settings...), smtp: srv}
	}
	return &mailEnv{env: start(t, db, settings...), smtp: srv}
}

// received is a delivered mail taken apart as a mail client would.
type received struct {
	to         string
	header     netmail.Header
	text, html string
}

// mailsTo waits until the server has accepted n mails to the address and
// returns them, oldest first.
func (e *mailEnv) mailsTo(to string, n int) []received {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var out []received
		for _, m := range e.smtp.Messages() {
			if len(m.To) == 1 && m.To[0] == to {
				out = append(out, parseMail(e.t, to, m.Data))
			}
		}
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d mails to %s after 15s, want %d", len(out), to, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countTo is how many mails to the address the server has accepted so far.
func (e *mailEnv) countTo(to string) int {
	n := 0
	for _, m := range e.smtp.Messages() {
		if len(m.To) == 1 && m.To[0] == to {
			n++
		}
	}
	return n
}

// tokenIn is the token of the mail's link to path ("/verify-email"), read
// from the line of the plain-text part that holds only the link; "" when the
// mail has no such link.
func tokenIn(m received, path string) string {
	prefix := mailAppURL + path + "#token="
	for l := range strings.SplitSeq(m.text, "\n") {
		if tok, ok := strings.CutPrefix(l, prefix); ok && tok != "" {
			return tok
		}
	}
	return ""
}

// token waits for the n-th mail to the address with a link to path and
// returns its token. Mails queued at once may arrive in any order: n counts
// those with that link only.
func (e *mailEnv) token(to, path string, n int) string {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var toks []string
		for _, m := range e.mailsTo(to, 0) {
			if tok := tokenIn(m, path); tok != "" {
				toks = append(toks, tok)
			}
		}
		if len(toks) >= n {
			return toks[n-1]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d mails to %s with a %s link after 15s, want %d", len(toks), to, path, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func parseMail(t testing.TB, to string, data []byte) received {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	r := received{to: to, header: msg.Header}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		switch ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct {
		case "text/plain":
			r.text = strings.ReplaceAll(string(body), "\r\n", "\n")
		case "text/html":
			r.html = string(body)
		}
	}
	return r
}

// requestReset asks for a reset link for the address, which must answer true.
func (e *env) requestReset(email string) {
	e.t.Helper()
	var ok bool
	e.must(req{query: requestResetQ, vars: map[string]any{"e": email}}, "requestPasswordReset", &ok)
	if !ok {
		e.t.Fatal("requestPasswordReset answered false")
	}
}

func (e *env) resetPassword(token, newPassword string) (payload, *response) {
	e.t.Helper()
	resp := e.do(req{query: resetQ, vars: map[string]any{"t": token, "p": newPassword}})
	var p payload
	if len(resp.Errors) == 0 {
		_ = json.Unmarshal(resp.Data["resetPassword"], &p)
	}
	return p, resp
}

// decode reads data.field of a successful response into out.
func (e *env) decode(resp *response, field string, out any) {
	e.t.Helper()
	if err := json.Unmarshal(resp.Data[field], out); err != nil {
		e.t.Errorf("%s: decode %s: %v", field, resp.Data[field], err)
	}
}

type verifiedUser struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"emailVerified"`
}

func (e *env) meVerified(access string) verifiedUser {
	e.t.Helper()
	var u verifiedUser
	e.must(req{query: meVerifiedQ, headers: bearer(access)}, "me", &u)
	return u
}

// unverifiedClaims decodes an access token's claims without checking them.
func unverifiedClaims(t testing.TB, tok string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// rawDB opens the test database as someone with a copy of it would.
func rawDB(t testing.TB, db storetest.Backend) *sql.DB {
	t.Helper()
	var conn *sql.DB
	var err error
	if storetest.IsMySQL(db.URL) {
		dsn, derr := store.MySQLDSN(db.URL)
		if derr != nil {
			t.Fatal(derr)
		}
		conn, err = sql.Open("mysql", dsn)
	} else {
		conn, err = sql.Open("sqlite", strings.TrimPrefix(db.URL, "sqlite://"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// count runs a SELECT COUNT(*) on the raw database.
func count(t testing.TB, conn *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// dumpTables reads every column of every row of the tables as raw bytes.
func dumpTables(t testing.TB, conn *sql.DB, tables ...string) string {
	t.Helper()
	var b strings.Builder
	for _, table := range tables {
		rows, err := conn.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				b.Write(v)
				b.WriteByte('|')
			}
			b.WriteByte('\n')
		}
		rows.Close()
	}
	return b.String()
}
