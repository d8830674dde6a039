package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/models"
)

// TestRotationFailsWhole: a rotation whose audit row the database refuses
// (here a duplicate dedupe key) leaves nothing behind, the presented token
// unspent and no successor, although on MySQL the refused insert is the
// second statement of one batch whose other statements succeed.
func TestRotationFailsWhole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		ctx := context.Background()
		s, _ := open(t, db)
		now := s.Now()
		u := &models.User{ID: "u-rot", Email: "rot@example.com", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		se := &models.Session{ID: "s-rot", UserID: u.ID, CurrentTokenID: "t-0", CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour), AMR: "pwd"}
		first := &models.RefreshToken{ID: "t-0", SessionID: se.ID, Hash: strings.Repeat("0", 64), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateSession(ctx, se, first); err != nil {
			t.Fatal(err)
		}
		key := strings.Repeat("k", 64)
		if err := s.InsertAuditEvent(ctx, &models.AuditEvent{CreatedAt: now, Type: "rate_limited", Count: 1, DedupeKey: &key}); err != nil {
			t.Fatal(err)
		}
		rotate := func(next string, audit *models.AuditEvent) error {
			return s.InTx(ctx, func(q *store.Queries) error {
				if _, _, _, err := q.SessionWithToken(ctx, se.ID, "t-0"); err != nil {
					return err
				}
				row := &models.RefreshToken{ID: next, SessionID: se.ID, ParentID: &first.ID, Hash: strings.Repeat(next[2:], 64), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
				ok, err := q.RotateToken(ctx, "t-0", row, now, audit)
				if err == nil && !ok {
					err = errors.New("rotation refused")
				}
				return err
			})
		}
		err := rotate("t-1", &models.AuditEvent{CreatedAt: now, Type: "refresh", Count: 1, DedupeKey: &key})
		if !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("rotation with a refused audit row: %v, want ErrDuplicate", err)
		}
		if _, err := s.RefreshTokenByID(ctx, "t-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the successor of a failed rotation: %v, want ErrNotFound", err)
		}
		tok, err := s.RefreshTokenByID(ctx, "t-0")
		if err != nil || tok.UsedAt != nil {
			t.Fatalf("the presented token after a failed rotation: %+v, %v; want unspent", tok, err)
		}
		got, _, _, err := s.SessionWithToken(ctx, se.ID, "t-0")
		if err != nil || got.CurrentTokenID != "t-0" {
			t.Fatalf("the session after a failed rotation: %+v, %v; want t-0 current", got, err)
		}
		// The same rotation with a good audit row goes through.
		if err := rotate("t-2", &models.AuditEvent{CreatedAt: now, Type: "refresh", Count: 1}); err != nil {
			t.Fatal(err)
		}
		tok, err = s.RefreshTokenByID(ctx, "t-0")
		if err != nil || tok.UsedAt == nil {
			t.Fatalf("the presented token after the rotation: %+v, %v; want spent", tok, err)
		}
		got, _, user, err := s.SessionWithToken(ctx, se.ID, "t-2")
		if err != nil || got.CurrentTokenID != "t-2" {
			t.Fatalf("after the rotation: %+v, %v", got, err)
		}
		// MySQL reads the user with the session (SQLite after the commit).
		if storetest.IsMySQL(db.URL) && (user == nil || user.ID != u.ID || user.Email != u.Email || !user.CreatedAt.Equal(now)) {
			t.Fatalf("the session's user: %+v", user)
		}
	})
}
