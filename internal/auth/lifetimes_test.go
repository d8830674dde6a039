package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/authql/authql/internal/auth"
	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/ratelimit"
	"github.com/authql/authql/internal/store/storetest"
)

// The fixture's lifetimes (see service): what the tests below step through on
// the fixture's clock, with no HTTP and no sleeping.
const (
	accessTTL  = 15 * time.Minute
	refreshTTL = time.Hour
	reuseGrace = 10 * time.Second
)

func mustRefresh(t *testing.T, svc *auth.Service, p *auth.Payload) *auth.Payload {
	t.Helper()
	next, err := svc.Refresh(context.Background(), auth.Client{}, *p.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	return next
}

// wantRevoked asserts that the newest pair of a session no longer works.
func wantRevoked(t *testing.T, svc *auth.Service, newest *auth.Payload) {
	t.Helper()
	if _, err := svc.Authenticate(context.Background(), newest.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("access token of a revoked session: %v, want ErrUnauthenticated", err)
	}
	if _, err := svc.Refresh(context.Background(), auth.Client{}, *newest.RefreshToken); !errors.Is(err, auth.ErrInvalidRefreshToken) {
		t.Errorf("refresh token of a revoked session: %v, want ErrInvalidRefreshToken", err)
	}
}

// TestRotation: a refresh consumes the token and answers a new pair of the
// same session; the new refresh token rotates in turn.
func TestRotation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		a := signedUp(t, f)
		next := mustRefresh(t, f.svc, a.first)
		if *next.RefreshToken == *a.first.RefreshToken || next.AccessToken == a.first.AccessToken {
			t.Fatal("rotation answered the tokens it was given")
		}
		if p, q := f.principal(t, next), f.principal(t, a.first); p.SessionID != q.SessionID || p.UserID != q.UserID {
			t.Fatal("rotation moved to another session")
		}
		refreshes(t, f, next)
	})
}

// TestReuseGraceWindow: the predecessor of the current token, presented again
// up to the grace window after it was spent, answers the current token (racing
// tabs converge); a millisecond later it is reuse and revokes the session.
func TestReuseGraceWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		after time.Duration // from the rotation that spent the token
		grace bool
	}{
		{"at once", 0, true},
		{"at the window's end", reuseGrace, true},
		{"just outside", reuseGrace + time.Millisecond, false},
		{"long after", time.Minute, false},
	}
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				a := signedUp(t, f)
				current := mustRefresh(t, f.svc, a.first)
				f.clock.Advance(tc.after)
				again, err := f.svc.Refresh(context.Background(), auth.Client{}, *a.first.RefreshToken)
				if !tc.grace {
					if !errors.Is(err, auth.ErrInvalidRefreshToken) {
						t.Fatalf("reuse %v after rotation: %v, want ErrInvalidRefreshToken", tc.after, err)
					}
					wantRevoked(t, f.svc, current)
					return
				}
				if err != nil {
					t.Fatalf("predecessor %v after rotation: %v", tc.after, err)
				}
				if *again.RefreshToken != *current.RefreshToken {
					t.Fatal("the grace window answered another refresh token than the current one")
				}
				if !again.RefreshTokenExpiresAt.Equal(current.RefreshTokenExpiresAt) {
					t.Fatalf("grace answer expires %v, the current token %v", again.RefreshTokenExpiresAt, current.RefreshTokenExpiresAt)
				}
				refreshes(t, f, again)
			})
		}
	})
}

// TestAncestorReuse: a token older than the current one's predecessor is
// reuse even inside the grace window, and revokes the session.
func TestAncestorReuse(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		a := signedUp(t, f)
		second := mustRefresh(t, f.svc, a.first)
		third := mustRefresh(t, f.svc, second)
		if _, err := f.svc.Refresh(context.Background(), auth.Client{}, *a.first.RefreshToken); !errors.Is(err, auth.ErrInvalidRefreshToken) {
			t.Fatalf("reuse of an ancestor: %v, want ErrInvalidRefreshToken", err)
		}
		wantRevoked(t, f.svc, third)
	})
}

// TestTokenLifetimes: each token expires exactly its lifetime after it was
// issued, and is refused from that second on, not a second earlier.
func TestTokenLifetimes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ttl  time.Duration
		// use presents the pair's token of this kind; true when it is accepted.
		use func(svc *auth.Service, p *auth.Payload) (bool, error)
		exp func(p *auth.Payload) time.Time
	}{
		{"access", accessTTL, func(svc *auth.Service, p *auth.Payload) (bool, error) {
			_, err := svc.Authenticate(context.Background(), p.AccessToken)
			return err == nil, ignore(err, auth.ErrUnauthenticated)
		}, func(p *auth.Payload) time.Time { return p.AccessTokenExpiresAt }},
		{"refresh", refreshTTL, func(svc *auth.Service, p *auth.Payload) (bool, error) {
			_, err := svc.Refresh(context.Background(), auth.Client{}, *p.RefreshToken)
			return err == nil, ignore(err, auth.ErrInvalidRefreshToken)
		}, func(p *auth.Payload) time.Time { return p.RefreshTokenExpiresAt }},
	}
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				for _, step := range []struct {
					at     time.Duration
					accept bool
				}{{tc.ttl - time.Second, true}, {tc.ttl, false}} {
					issued := f.clock.Now()
					p := signedUp(t, f).first
					if got, want := tc.exp(p), issued.Add(tc.ttl); !got.Equal(want) {
						t.Fatalf("expires at %v, want %v (issued + %v)", got, want, tc.ttl)
					}
					if tc.name == "access" && p.ExpiresIn != int(accessTTL/time.Second) {
						t.Fatalf("expiresIn = %d, want %d", p.ExpiresIn, int(accessTTL/time.Second))
					}
					f.clock.Advance(step.at)
					ok, err := tc.use(f.svc, p)
					if err != nil {
						t.Fatal(err)
					}
					if ok != step.accept {
						t.Fatalf("%v after issue: accepted = %v, want %v", step.at, ok, step.accept)
					}
				}
			})
		}
	})
}

// ignore is err, or nil when it is want.
func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return err
}

// TestSessionAbsoluteLifetime: a session ends SessionMaxAge after it started
// however often it rotates: no token outlives it, rotation never extends it,
// and from its last second on nothing of it works but logout.
func TestSessionAbsoluteLifetime(t *testing.T) {
	t.Parallel()
	const maxAge = 90 * time.Minute
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		svc := f.serviceWith(auth.Options{SessionMaxAge: maxAge}, ratelimit.Disabled{}, &logBuffer{})
		ctx := context.Background()
		start := f.clock.Now()
		end := start.Add(maxAge)
		p, err := svc.Signup(ctx, auth.Client{}, newEmail(), pw)
		if err != nil {
			t.Fatal(err)
		}
		if !p.RefreshTokenExpiresAt.Equal(start.Add(refreshTTL)) {
			t.Fatalf("first refresh token expires %v, want %v", p.RefreshTokenExpiresAt, start.Add(refreshTTL))
		}
		for _, step := range []struct {
			at                time.Duration // since the session started
			access, refreshes time.Time     // the expiries of the rotated pair
		}{
			{40 * time.Minute, start.Add(55 * time.Minute), end}, // the refresh token's TTL would end past the session
			{80 * time.Minute, end, end},                         // so would the access token's
		} {
			f.clock.Advance(start.Add(step.at).Sub(f.clock.Now()))
			p = mustRefresh(t, svc, p)
			if !p.AccessTokenExpiresAt.Equal(step.access) || !p.RefreshTokenExpiresAt.Equal(step.refreshes) {
				t.Fatalf("rotation at +%v: expiries %v / %v, want %v / %v", step.at,
					p.AccessTokenExpiresAt, p.RefreshTokenExpiresAt, step.access, step.refreshes)
			}
		}
		f.clock.Advance(end.Add(-time.Second).Sub(f.clock.Now()))
		if _, err := svc.Authenticate(ctx, p.AccessToken); err != nil {
			t.Fatalf("a second before the session's end: %v", err)
		}
		f.clock.Advance(time.Second)
		if _, err := svc.Authenticate(ctx, p.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("access at the session's end: %v, want ErrUnauthenticated", err)
		}
		if _, err := svc.Refresh(ctx, auth.Client{}, *p.RefreshToken); !errors.Is(err, auth.ErrInvalidRefreshToken) {
			t.Fatalf("refresh at the session's end: %v, want ErrInvalidRefreshToken", err)
		}
		if err := svc.Logout(ctx, auth.Client{}, *p.RefreshToken); err != nil {
			t.Fatalf("logout of an ended session: %v, want success", err)
		}
	})
}

// TestPrune: one round deletes the sessions that ended, with their tokens,
// and the audit events older than the retention; a live session keeps its
// spent tokens, so their reuse is still caught.
func TestPrune(t *testing.T) {
	t.Parallel()
	const maxAge, retention = 2 * time.Hour, time.Hour
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		svc := f.serviceWith(auth.Options{SessionMaxAge: maxAge}, ratelimit.Disabled{}, &logBuffer{})
		ctx := context.Background()
		signup := func() *auth.Payload {
			p, err := svc.Signup(ctx, auth.Client{}, newEmail(), pw)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		ended := signup()
		mustRefresh(t, svc, ended)
		f.clock.Advance(90 * time.Minute)
		kept := signup()
		mustRefresh(t, svc, kept)
		// ended's session ended a millisecond ago and its events are older than
		// the retention; kept's session and events are younger, and its spent
		// token has not expired yet.
		f.clock.Advance(30*time.Minute + time.Millisecond)
		auth.PruneOnce(svc, ctx, retention)

		count := func(query, id string) int {
			t.Helper()
			var n int
			if err := f.db.QueryRow(query, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, c := range []struct {
			who  string
			p    *auth.Payload
			rows [3]int // sessions, refresh tokens, audit events (signup, refresh)
		}{
			{"ended", ended, [3]int{0, 0, 0}},
			{"kept", kept, [3]int{1, 2, 2}},
		} {
			got := [3]int{
				count("SELECT COUNT(*) FROM sessions WHERE user_id = ?", c.p.UserID),
				count("SELECT COUNT(*) FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.user_id = ?", c.p.UserID),
				count("SELECT COUNT(*) FROM audit_events WHERE user_id = ?", c.p.UserID),
			}
			if got != c.rows {
				t.Errorf("%s: sessions, tokens, events = %v, want %v", c.who, got, c.rows)
			}
		}
		var orphans int
		if err := f.db.QueryRow("SELECT COUNT(*) FROM refresh_tokens WHERE session_id NOT IN (SELECT id FROM sessions)").Scan(&orphans); err != nil || orphans != 0 {
			t.Errorf("%d refresh tokens without their session (%v)", orphans, err)
		}
		if _, err := svc.Refresh(ctx, auth.Client{}, *kept.RefreshToken); !errors.Is(err, auth.ErrInvalidRefreshToken) {
			t.Fatalf("reuse after pruning: %v, want ErrInvalidRefreshToken", err)
		}
		if got := f.state(t, emailOf(t, f, kept)).Revoked; got != 1 {
			t.Fatalf("reuse after pruning left %d sessions revoked, want 1", got)
		}
	})
}

func emailOf(t *testing.T, f *fixture, p *auth.Payload) string {
	t.Helper()
	u, err := f.svc.User(context.Background(), p.UserID)
	if err != nil {
		t.Fatal(err)
	}
	return u.Email
}

// TestZeroGraceTurnsGraceOff: with AUTHQL_REFRESH_REUSE_GRACE=0s a spent
// token is reuse even in the very millisecond it was spent (it used to be
// replayed: 0 ≤ 0 counted as inside the window).
func TestZeroGraceTurnsGraceOff(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		f := newFixture(t, db, cheap)
		log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelError}))
		f.svc = auth.New(f.store, f.tokens, password.NewHasher(cheap, 0, 10*time.Second), ratelimit.Disabled{}, auth.Options{
			RefreshTTL: time.Hour, SessionMaxAge: 24 * time.Hour, ReuseGrace: 0,
		}, log)
		a := signedUp(t, f)
		current := mustRefresh(t, f.svc, a.first) // the fake clock stands still
		if _, err := f.svc.Refresh(context.Background(), auth.Client{}, *a.first.RefreshToken); !errors.Is(err, auth.ErrInvalidRefreshToken) {
			t.Fatalf("a spent token with no grace window: %v, want ErrInvalidRefreshToken", err)
		}
		wantRevoked(t, f.svc, current)
	})
}
