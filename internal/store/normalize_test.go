package store_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/models"
)

// fold is a stand-in rule: the store only applies what it is given.
func fold(email string) (string, error) {
	if strings.Contains(email, "!") {
		return "", errors.New("refused")
	}
	return strings.ReplaceAll(email, "ſ", "s"), nil
}

func TestNormalizeEmails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		ctx := context.Background()
		st, err := store.Open(ctx, db.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		now := st.Now()
		rows := map[string]string{ // id -> email as the old rule stored it
			"u1": "ſam@example.com",    // rewritten
			"u2": "ſue@example.com",    // collides with u3: left
			"u3": "sue@example.com",    // already normal
			"u4": "odd!@example.com",   // refused by the rule: left
			"u5": "ſſ@example.com",     // rewritten
			"u6": "ſ@example.com",      // rewritten
			"u7": "plain@example.com",  // already normal
			"u8": "ſally@example.com",  // rewritten
			"u9": "ſteve@example.com",  // rewritten
			"v1": "ſimon@example.com",  // rewritten
			"v2": "ſandra@example.com", // rewritten
		}
		for id, email := range rows {
			if err := st.CreateUser(ctx, &models.User{ID: id, Email: email, PasswordHash: "x", CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		if err := st.NormalizeEmails(ctx, "test-v1", fold, log); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"u1": "sam@example.com", "u2": "ſue@example.com", "u3": "sue@example.com",
			"u4": "odd!@example.com", "u5": "ss@example.com", "u6": "s@example.com", "u7": "plain@example.com",
			"u8": "sally@example.com", "u9": "steve@example.com", "v1": "simon@example.com", "v2": "sandra@example.com"}
		for id, email := range want {
			u, err := st.UserByID(ctx, id)
			if err != nil || u.Email != email {
				t.Errorf("%s: %q, %v; want %q", id, u.Email, err, email)
			}
		}
		// Once per database: a later start does not scan again.
		now = st.Now()
		if err := st.CreateUser(ctx, &models.User{ID: "w1", Email: "ſo@example.com", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := st.NormalizeEmails(ctx, "test-v1", fold, log); err != nil {
			t.Fatal(err)
		}
		if u, _ := st.UserByID(ctx, "w1"); u.Email != "ſo@example.com" {
			t.Errorf("ran twice: %q", u.Email)
		}
		if err := st.NormalizeEmails(ctx, "test-v2", fold, log); err != nil {
			t.Fatal(err)
		}
		if u, _ := st.UserByID(ctx, "w1"); u.Email != "so@example.com" {
			t.Errorf("a new rule did not run: %q", u.Email)
		}
	})
}
