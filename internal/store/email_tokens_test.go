package store_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/models"
)

var emailTokenSeq atomic.Int64

// emailToken stores a token of kind for user, expiring at expires, and
// returns its row.
func emailToken(t *testing.T, s *store.Store, user, kind string, expires time.Time) *models.EmailToken {
	t.Helper()
	row := &models.EmailToken{
		ID: uuid.NewString(), UserID: user, Kind: kind, Hash: fmt.Sprintf("%064d", emailTokenSeq.Add(1)),
		CreatedAt: testNow(), ExpiresAt: expires,
	}
	if err := s.CreateEmailToken(t.Context(), row); err != nil {
		t.Fatal(err)
	}
	return row
}

// TestConsumeEmailToken: a token is spent only when its hash, kind and user
// match and it is unused, not voided and unexpired; expired from the instant
// of expires_at.
func TestConsumeEmailToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		ctx := t.Context()
		now := testNow()
		for _, c := range []struct {
			name    string
			prepare func(row *models.EmailToken)
			hash    func(row *models.EmailToken) string
			kind    string
			user    string
			at      time.Time
			want    bool
		}{
			{name: "valid", want: true},
			{name: "a millisecond before it expires", at: now.Add(time.Hour - time.Millisecond), want: true},
			{name: "at the instant it expires", at: now.Add(time.Hour)},
			{name: "unknown hash", hash: func(*models.EmailToken) string { return fmt.Sprintf("%064x", 0) }},
			{name: "other kind", kind: "verify_email"},
			{name: "other user", user: "u-other"},
			{name: "used", prepare: func(row *models.EmailToken) {
				if ok, err := s.ConsumeEmailToken(ctx, row.Hash, row.Kind, row.UserID, now); err != nil || !ok {
					t.Fatalf("first use: %v %v", ok, err)
				}
			}},
			{name: "voided", prepare: func(row *models.EmailToken) {
				if n, err := s.VoidEmailTokens(ctx, row.UserID, row.Kind, now); err != nil || n != 1 {
					t.Fatalf("void: %d %v", n, err)
				}
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				user := "u-" + uuid.NewString()[:8]
				row := emailToken(t, s, user, "password_reset", now.Add(time.Hour))
				if c.prepare != nil {
					c.prepare(row)
				}
				hash, kind, at := row.Hash, row.Kind, now
				if c.hash != nil {
					hash = c.hash(row)
				}
				if c.kind != "" {
					kind = c.kind
				}
				if c.user != "" {
					user = c.user
				}
				if !c.at.IsZero() {
					at = c.at
				}
				ok, err := s.ConsumeEmailToken(ctx, hash, kind, user, at)
				if err != nil || ok != c.want {
					t.Fatalf("ConsumeEmailToken = %v, %v; want %v", ok, err, c.want)
				}
			})
		}
	})
}

// TestVoidEmailTokens voids the outstanding tokens of one kind of one user,
// and nothing else.
func TestVoidEmailTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		ctx := t.Context()
		now := testNow()
		later := now.Add(time.Hour)
		a1 := emailToken(t, s, "u-a", "password_reset", later)
		a2 := emailToken(t, s, "u-a", "password_reset", later)
		used := emailToken(t, s, "u-a", "password_reset", later)
		if ok, _ := s.ConsumeEmailToken(ctx, used.Hash, used.Kind, used.UserID, now); !ok {
			t.Fatal("could not use a token")
		}
		verify := emailToken(t, s, "u-a", "verify_email", later)
		other := emailToken(t, s, "u-b", "password_reset", later)
		n, err := s.VoidEmailTokens(ctx, "u-a", "password_reset", now)
		if err != nil || n != 2 {
			t.Fatalf("voided %d (%v), want the 2 outstanding ones", n, err)
		}
		for _, row := range []*models.EmailToken{a1, a2} {
			if ok, _ := s.ConsumeEmailToken(ctx, row.Hash, row.Kind, row.UserID, now); ok {
				t.Fatal("a voided token was spent")
			}
		}
		for _, row := range []*models.EmailToken{verify, other} {
			if ok, _ := s.ConsumeEmailToken(ctx, row.Hash, row.Kind, row.UserID, now); !ok {
				t.Fatalf("a %s token of %s was voided with the others", row.Kind, row.UserID)
			}
		}
	})
}

// TestConsumeEmailTokenOnce: of many transactions spending one token at
// once, exactly one wins, on both engines.
func TestConsumeEmailTokenOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		for range 5 {
			row := emailToken(t, s, "u-race", "password_reset", testNow().Add(time.Hour))
			var wins atomic.Int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Counted once committed: a transaction run again after a
					// deadlock must not count twice.
					ok, err := store.InTxValue(t.Context(), s, func(q *store.Queries) (bool, error) {
						return q.ConsumeEmailToken(t.Context(), row.Hash, row.Kind, row.UserID, testNow())
					})
					if err != nil {
						t.Error(err)
					}
					if ok {
						wins.Add(1)
					}
				}()
			}
			wg.Wait()
			if n := wins.Load(); n != 1 {
				t.Fatalf("%d transactions spent one token", n)
			}
		}
	})
}
