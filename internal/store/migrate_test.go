package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
)

// TestInstancesStartTogether: several instances opening one fresh database at
// once all start; none fails because another created a table first.
func TestInstancesStartTogether(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := store.Open(context.Background(), db.URL)
				if err == nil {
					err = s.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
		}
	})
}

// TestCredentialsVersionOnExistingRows: users stored before the column
// existed get version 0 when it is added, and their logins work.
func TestCredentialsVersionOnExistingRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, err := store.Open(context.Background(), db.URL)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		raw := storetest.SQL(t, db)
		for _, q := range []string{
			"ALTER TABLE users DROP COLUMN credentials_version",
			"INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('old', 'old@example.com', 'h', '2024-01-01 00:00:00', '2024-01-01 00:00:00')",
		} {
			if _, err := raw.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		s, err = store.Open(context.Background(), db.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		u, err := s.UserByEmail(t.Context(), "old@example.com")
		if err != nil || u.CredentialsVersion != 0 {
			t.Fatalf("old user: %+v, %v", u, err)
		}
		var v uint64
		err = s.InTx(t.Context(), func(q *store.Queries) (err error) { v, err = q.LockCredentials(t.Context(), u.ID); return err })
		if err != nil || v != 0 {
			t.Fatalf("credentials version %d, %v", v, err)
		}
	})
}
