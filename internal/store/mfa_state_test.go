package store_test

import (
	"errors"
	"testing"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/models"
)

// TestMFAState: SetMFAEnabled writes the flag that LockMFAState reads with
// the credentials version, and that the user row carries; an unknown user is
// ErrNotFound.
func TestMFAState(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		ctx := t.Context()
		now := testNow()
		u := &models.User{ID: "u-state", Email: "state@example.com", PasswordHash: "x", CredentialsVersion: 3, CreatedAt: now, UpdatedAt: now}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		state := func() (uint64, bool, error) {
			var v uint64
			var on bool
			err := s.InTx(ctx, func(q *store.Queries) (err error) {
				v, on, err = q.LockMFAState(ctx, u.ID)
				return err
			})
			return v, on, err
		}
		for _, want := range []bool{false, true, true, false} {
			if want != u.MFAEnabled {
				if err := s.InTx(ctx, func(q *store.Queries) error { return q.SetMFAEnabled(ctx, u.ID, want, testNow()) }); err != nil {
					t.Fatal(err)
				}
				u.MFAEnabled = want
			}
			if v, on, err := state(); v != 3 || on != want || err != nil {
				t.Fatalf("state %d %v %v, want 3 %v", v, on, err, want)
			}
			if got, err := s.UserByID(ctx, u.ID); err != nil || got.MFAEnabled != want {
				t.Fatalf("user row: mfaEnabled %v, %v; want %v", got.MFAEnabled, err, want)
			}
		}
		err := s.InTx(ctx, func(q *store.Queries) error { _, _, err := q.LockMFAState(ctx, "nobody"); return err })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
	})
}
