package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authql/authql/internal/mail/mailtest"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/token"
	"github.com/authql/authql/models"
)

// waitRows waits until the query counts n rows.
func waitRows(t *testing.T, db storetest.Backend, n int, query string, args ...any) {
	t.Helper()
	conn := rawDB(t, db)
	deadline := time.Now().Add(15 * time.Second)
	for count(t, conn, query, args...) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %d rows after 15s", query, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settled waits until every queued mail is delivered and off the outbox:
// a test that stops the relay right after a mail arrived would otherwise cut
// the sender's connection before its QUIT, and the sender, not knowing that
// the server kept the mail, would send it again (delivery is at least once).
func settled(t *testing.T, db storetest.Backend) {
	t.Helper()
	waitRows(t, db, 0, "SELECT COUNT(*) FROM outbox_mails")
}

// TestMailSurvivesSMTPOutage: with the relay down, a reset request and a
// signup still succeed; once it is back, each mail arrives exactly once and
// its link works.
func TestMailSurvivesSMTPOutage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startMail(t, db, clk)
		email := newEmail()
		e.signup(email, pw)
		e.mailsTo(email, 1)
		settled(t, db)

		e.smtp.Stop()
		e.requestReset(email)
		late := newEmail()
		e.signup(late, pw)
		// Both were tried and failed: they wait in the outbox.
		waitRows(t, db, 2, "SELECT COUNT(*) FROM outbox_mails WHERE attempts >= 1")

		e.smtp.Restart()
		clk.Advance(time.Minute) // past the first retry's backoff, well within the links' lives
		tok := e.token(email, "/reset-password", 1)
		e.mailsTo(late, 1)
		waitRows(t, db, 0, "SELECT COUNT(*) FROM outbox_mails")
		clk.Advance(time.Minute)
		time.Sleep(300 * time.Millisecond)
		if n, m := e.countTo(email), e.countTo(late); n != 2 || m != 1 {
			t.Fatalf("%d and %d mails, want 2 and 1: each mail exactly once", n, m)
		}
		if _, resp := e.resetPassword(tok, "after the outage"); resp.code() != "" {
			t.Fatalf("the delayed link: %s", resp.Raw)
		}
	})
}

// TestTwoInstancesDeliverOnce: two instances on one database, each running
// a sender, deliver every queued mail exactly once.
func TestTwoInstancesDeliverOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		srv := mailtest.Start(t, mailtest.Options{})
		a := startMailWith(t, db, srv, nil)
		b := startMailWith(t, db, srv, nil)
		// One signup after another, on either instance: the senders race,
		// not the signups.
		const n = 24
		emails := make([]string, n)
		for i := range emails {
			emails[i] = newEmail()
			[]*mailEnv{a, b}[i%2].signup(emails[i], pw)
		}
		srv.WaitFor(n, 20*time.Second)
		waitRows(t, db, 0, "SELECT COUNT(*) FROM outbox_mails")
		time.Sleep(500 * time.Millisecond)
		seen := map[string]int{}
		for _, m := range srv.Messages() {
			seen[strings.Join(m.To, ",")]++
		}
		for _, email := range emails {
			if seen[email] != 1 {
				t.Errorf("%s got %d mails, want 1", email, seen[email])
			}
		}
		if got := len(srv.Messages()); got != n {
			t.Fatalf("%d mails for %d signups", got, n)
		}
	})
}

// TestConcurrentResetPassword: of several requests with one reset token,
// exactly one succeeds; the others are INVALID_TOKEN.
func TestConcurrentResetPassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := startMail(t, db, nil)
		for round := range 3 {
			email := newEmail()
			e.signup(email, pw)
			e.requestReset(email)
			tok := e.token(email, "/reset-password", 1)
			const racers = 8
			codes := make([]string, racers)
			var wg sync.WaitGroup
			ready := make(chan struct{})
			for i := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-ready
					_, resp := e.resetPassword(tok, "racer password "+string(rune('a'+i)))
					codes[i] = resp.code()
				}()
			}
			close(ready)
			wg.Wait()
			won := 0
			for _, c := range codes {
				switch c {
				case "":
					won++
				case "INVALID_TOKEN":
				default:
					t.Fatalf("round %d: a racer got %q", round, c)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d of %d requests with one token succeeded, want 1: %v", round, won, racers, codes)
			}
		}
	})
}

// TestResetRacingOldPasswordLogin: a login with the old password that races
// a reset never leaves a live session: it either fails or its session is
// revoked by the reset.
func TestResetRacingOldPasswordLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := startMail(t, db, nil)
		for round := range 5 {
			email := newEmail()
			e.signup(email, pw)
			e.requestReset(email)
			tok := e.token(email, "/reset-password", 1)
			const logins = 6
			var mu sync.Mutex
			var live []payload
			var wg sync.WaitGroup
			ready := make(chan struct{})
			for range logins {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-ready
					resp := e.do(req{query: loginQ, vars: map[string]any{"e": email, "p": pw}})
					if resp.code() == "" {
						var p payload
						e.decode(resp, "login", &p)
						mu.Lock()
						live = append(live, p)
						mu.Unlock()
					}
				}()
			}
			var resetCode string
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-ready
				_, resp := e.resetPassword(tok, "the reset password")
				resetCode = resp.code()
			}()
			close(ready)
			wg.Wait()
			if resetCode != "" {
				t.Fatalf("round %d: the reset failed: %s", round, resetCode)
			}
			for _, p := range live {
				if _, code := e.me(p.AccessToken); code != "UNAUTHENTICATED" {
					t.Fatalf("round %d: a session logged in with the old password outlived the reset", round)
				}
				if _, resp := e.refresh(p.refresh()); resp.code() != "INVALID_REFRESH_TOKEN" {
					t.Fatalf("round %d: its refresh token still works: %s", round, resp.Raw)
				}
			}
			t.Logf("round %d: %d of %d old-password logins got in before the reset", round, len(live), logins)
		}
	})
}

// TestDatabaseCopyHoldsNoEmailToken: every column of the email tokens and
// the outbox, read raw while a mail waits undelivered, holds no usable
// token: only keyed hashes (not the refresh-token hash, nor a plain hash)
// and sealed bodies.
func TestDatabaseCopyHoldsNoEmailToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startMail(t, db, clk)
		email := newEmail()
		e.signup(email, pw)
		verify := e.token(email, "/verify-email", 1)
		settled(t, db)

		e.smtp.Stop()
		e.requestReset(email)
		waitRows(t, db, 1, "SELECT COUNT(*) FROM outbox_mails WHERE attempts >= 1")
		conn := rawDB(t, db)
		tables := dumpTables(t, conn, "email_tokens", "outbox_mails")
		all := tables + dumpTables(t, conn, "users", "sessions", "refresh_tokens", "audit_events")

		e.smtp.Restart()
		clk.Advance(time.Minute)
		reset := e.token(email, "/reset-password", 1)
		if !strings.Contains(tables, email) || count(t, conn, "SELECT COUNT(*) FROM email_tokens") != 2 {
			t.Fatal("the dump misses the rows (two tokens, one mail)")
		}
		for name, tok := range map[string]string{"verification token": verify, "reset token": reset} {
			plain := sha256.Sum256([]byte(tok))
			refreshHash := hmac.New(sha256.New, []byte(testSecret))
			refreshHash.Write([]byte(tok))
			for form, secret := range map[string]string{
				"the token":                       tok,
				"its SHA-256":                     hex.EncodeToString(plain[:]),
				"its refresh-token-style HMAC":    hex.EncodeToString(refreshHash.Sum(nil)),
				"a link":                          "#token=",
				"the token's first 16 characters": tok[:16],
			} {
				if strings.Contains(all, secret) {
					t.Errorf("%s: %s is in the database copy", name, form)
				}
			}
		}
		// The copy's reset token row is the link that works: the test read
		// the right rows.
		if _, resp := e.resetPassword(reset, "a copy is useless"); resp.code() != "" {
			t.Fatal(string(resp.Raw))
		}
		waitRows(t, db, 0, "SELECT COUNT(*) FROM outbox_mails")
	})
}

// userRows counts the rows of every table that belong to a user.
func userRows(t *testing.T, db storetest.Backend, userID, email string, sessionIDs []string) map[string]int {
	t.Helper()
	conn := rawDB(t, db)
	out := map[string]int{
		"users":          count(t, conn, "SELECT COUNT(*) FROM users WHERE id = ? OR email = ?", userID, email),
		"sessions":       count(t, conn, "SELECT COUNT(*) FROM sessions WHERE user_id = ?", userID),
		"audit_events":   count(t, conn, "SELECT COUNT(*) FROM audit_events WHERE user_id = ?", userID),
		"email_tokens":   count(t, conn, "SELECT COUNT(*) FROM email_tokens WHERE user_id = ?", userID),
		"totp_factors":   count(t, conn, "SELECT COUNT(*) FROM totp_factors WHERE user_id = ?", userID),
		"recovery_codes": count(t, conn, "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?", userID),
		"mfa_challenges": count(t, conn, "SELECT COUNT(*) FROM mfa_challenges WHERE user_id = ?", userID),
		"outbox_mails":   count(t, conn, "SELECT COUNT(*) FROM outbox_mails WHERE recipient = ?", email),
	}
	for _, id := range sessionIDs {
		out["refresh_tokens"] += count(t, conn, "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = ?", id)
	}
	return out
}

// giveMFA stores a confirmed factor, recovery codes and a pending challenge
// for the user, as the MFA flows would.
func giveMFA(t *testing.T, db storetest.Backend, userID string) {
	t.Helper()
	st, err := store.Open(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	err = st.InTx(t.Context(), func(q *store.Queries) error {
		if err := q.StartTOTPEnrollment(t.Context(), &models.TOTPFactor{UserID: userID, Secret: []byte("sealed"), CreatedAt: now}); err != nil {
			return err
		}
		if _, err := q.ConfirmTOTPFactor(t.Context(), userID, 1, now); err != nil {
			return err
		}
		if err := q.ReplaceRecoveryCodes(t.Context(), userID, []string{token.NewID()[:32] + token.NewID()[:32]}, now); err != nil {
			return err
		}
		return q.CreateMFAChallenge(t.Context(), &models.MFAChallenge{ID: token.NewID(), UserID: userID, Hash: hex.EncodeToString([]byte(token.NewID()))[:64], ExpiresAt: now.Add(time.Minute), CreatedAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeleteAccount: a wrong password is refused; the right one deletes
// every row of the account, and nobody else's, kills its tokens, drops its
// queued mail, and frees the address for a new signup.
func TestDeleteAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		e := startMail(t, db, nil)
		email := newEmail()
		s := e.signup(email, pw)
		other := e.login(email, pw)
		r, _ := e.refresh(other.refresh())
		e.mailsTo(email, 1)
		giveMFA(t, db, s.User.ID)
		bystander := newEmail()
		b := e.signup(bystander, pw)
		giveMFA(t, db, b.User.ID)
		e.mailsTo(bystander, 1)
		settled(t, db)
		e.smtp.Stop()
		e.requestReset(email) // a mail left waiting in the outbox
		e.requestReset(bystander)
		waitRows(t, db, 2, "SELECT COUNT(*) FROM outbox_mails WHERE attempts >= 1")
		sessions := []string{sessionID(t, s.AccessToken), sessionID(t, other.AccessToken)}
		bSessions := []string{sessionID(t, b.AccessToken)}
		before := userRows(t, db, s.User.ID, email, sessions)
		for table, n := range before {
			if n == 0 {
				t.Fatalf("no %s rows before the deletion: the test counts the wrong rows", table)
			}
		}
		bBefore := userRows(t, db, b.User.ID, bystander, bSessions)

		resp := e.wantCode(req{query: deleteQ, vars: map[string]any{"p": ""}, headers: bearer(s.AccessToken)}, "BAD_USER_INPUT")
		if f := resp.Errors[0].Extensions["field"]; f != "password" {
			t.Fatalf("field %v, want password", f)
		}
		e.wantCode(req{query: deleteQ, vars: map[string]any{"p": "not the password"}, headers: bearer(s.AccessToken)}, "INVALID_CREDENTIALS")
		e.wantCode(req{query: deleteQ, vars: map[string]any{"p": pw}}, "UNAUTHENTICATED")
		var ok bool
		e.must(req{query: deleteQ, vars: map[string]any{"p": pw}, headers: bearer(s.AccessToken)}, "deleteAccount", &ok)
		if !ok {
			t.Fatal("deleteAccount answered false")
		}

		for table, n := range userRows(t, db, s.User.ID, email, sessions) {
			if n != 0 {
				t.Errorf("%d %s rows of the deleted account remain (%d before)", n, table, before[table])
			}
		}
		if after := userRows(t, db, b.User.ID, bystander, bSessions); after["users"] != 1 || after["sessions"] != bBefore["sessions"] ||
			after["totp_factors"] != 1 || after["email_tokens"] != bBefore["email_tokens"] || after["outbox_mails"] != 1 {
			t.Fatalf("the bystander's rows changed: %v, were %v", after, bBefore)
		}
		for _, p := range []payload{s, r} {
			if _, code := e.me(p.AccessToken); code != "UNAUTHENTICATED" {
				t.Fatalf("an access token of the deleted account: %q", code)
			}
			if _, resp := e.refresh(p.refresh()); resp.code() != "INVALID_REFRESH_TOKEN" {
				t.Fatalf("a refresh token of the deleted account: %s", resp.Raw)
			}
		}
		e.wantCode(req{query: loginQ, vars: map[string]any{"e": email, "p": pw}}, "INVALID_CREDENTIALS")

		// The queued reset mail went with the account: only the bystander's
		// is delivered.
		e.smtp.Restart()
		e.mailsTo(bystander, 2)
		waitRows(t, db, 0, "SELECT COUNT(*) FROM outbox_mails")
		if n := e.countTo(email); n != 1 {
			t.Fatalf("%d mails to the deleted address, want only the verification sent before", n)
		}

		again := e.signup(email, "a new life begins")
		if again.User.ID == s.User.ID {
			t.Fatal("the new account has the old id")
		}
		if u := e.meVerified(again.AccessToken); u.EmailVerified {
			t.Fatal("the new account inherited the verified address")
		}
		if types := e.auditTypes(again.AccessToken); len(types) != 1 || types[0] != "signup" {
			t.Fatalf("the new account's trail %v, want only its signup", types)
		}
	})
}
