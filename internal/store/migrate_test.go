package store_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/authql/authql/internal/password"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/migrations"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/models"
)

// newest is the newest migration version this binary has.
const newest = 3

// TestInstancesStartTogether: several instances opening one fresh database at
// once all start, and each migration is applied exactly once.
func TestInstancesStartTogether(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				s, err := store.Open(context.Background(), db.URL)
				if err == nil {
					err = s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
		}
		AppliedOnce(t, db)
	})
}

// AppliedOnce checks that the version table records every migration once.
func AppliedOnce(t *testing.T, db storetest.Backend) {
	t.Helper()
	got := strs(t, storetest.SQL(t, db), "SELECT CONCAT(version_id, 'x', COUNT(*)) FROM "+store.VersionTable+" GROUP BY version_id ORDER BY version_id")
	if db.Name == "sqlite" {
		got = strs(t, storetest.SQL(t, db), "SELECT version_id || 'x' || COUNT(*) FROM "+store.VersionTable+" GROUP BY version_id ORDER BY version_id")
	}
	if want := "0x1 1x1 2x1 3x1"; strings.Join(got, " ") != want {
		t.Fatalf("versions recorded (version x times): %v, want %s", got, want)
	}
}

// TestUpgradeFromFirstRelease: a database made by the first release (GORM
// AutoMigrate, no version table; the frozen schema in testdata) with data in
// it is adopted and upgraded, and its rows work through the store.
func TestUpgradeFromFirstRelease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		ctx := context.Background()
		raw := storetest.SQL(t, db)
		fixture, err := os.ReadFile("testdata/release1/" + db.Name + ".sql")
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range statements(string(fixture)) {
			if _, err := raw.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		hasher := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Second)
		hash, err := hasher.Hash(ctx, "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Second)
		ts := now.Format("2006-01-02 15:04:05")
		exp := now.Add(time.Hour).Format("2006-01-02 15:04:05")
		tokenHash := strings.Repeat("a", 64)
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{"INSERT INTO users (id, email, password_hash, credentials_version, email_verified, mfa_enabled, created_at, updated_at) VALUES ('u1', 'old@example.com', ?, 3, 1, 0, ?, ?)", []any{hash, ts, ts}},
			{"INSERT INTO sessions (id, user_id, current_token_id, created_at, last_used_at, expires_at, amr) VALUES ('s1', 'u1', 't1', ?, ?, ?, 'pwd')", []any{ts, ts, exp}},
			{"INSERT INTO refresh_tokens (id, session_id, hash, issued_at, expires_at) VALUES ('t1', 's1', ?, ?, ?)", []any{tokenHash, ts, exp}},
			{"INSERT INTO audit_events (created_at, type, user_id, count) VALUES (?, 'signup', 'u1', 1)", []any{ts}},
			{"INSERT INTO audit_events (created_at, type, user_id, count, dedupe_key) VALUES (?, 'login_failed', 'u1', 4, ?)", []any{ts, strings.Repeat("d", 64)}},
			{"INSERT INTO outbox_mails (id, kind, recipient, body, attempts, next_attempt_at, created_at, expires_at) VALUES ('m1', 'verify_email', 'old@example.com', ?, 0, ?, ?, ?)", []any{[]byte("sealed"), ts, ts, exp}},
			// A user whose address the email normalization would rewrite,
			// and the record, as binaries before 00002 made it at start with
			// their own DDL, that the normalization has run.
			{"INSERT INTO users (id, email, password_hash, credentials_version, email_verified, mfa_enabled, created_at, updated_at) VALUES ('u2', 'Mixed@Example.com', ?, 0, 0, 0, ?, ?)", []any{hash, ts, ts}},
			{"CREATE TABLE IF NOT EXISTS authql_data_migrations (name VARCHAR(64) NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)", nil},
			{"INSERT INTO authql_data_migrations (name, applied_at) VALUES (?, 1700000000)", []any{store.EmailNormalizationV1}},
		} {
			if _, err := raw.Exec(q.sql, q.args...); err != nil {
				t.Fatalf("%s: %v", q.sql, err)
			}
		}
		before := catalog(t, db)

		s, err := store.Open(ctx, db.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if sc := s.Schema(); sc.Version != newest || fmt.Sprint(sc.Applied) != "[1 2 3]" {
			t.Fatalf("schema after upgrade: %+v", sc)
		}
		AppliedOnce(t, db)
		// The baseline changed nothing in the adopted tables; 00002 added its
		// index and adopted the data migrations table as it was.
		after := catalog(t, db)
		diff(t, "of release 1 plus the recipient index", append(append(before, recipientIndex(db)), loginColumns(db)...), "after migrating", after, "the migrations must adopt release 1's schema unchanged but for 00002's index and 00003's columns")

		// The data migration recorded before the upgrade stays done; a new
		// one runs and is recorded.
		lower := func(e string) (string, error) { return strings.ToLower(e), nil }
		quiet := slog.New(slog.DiscardHandler)
		if err := s.NormalizeEmails(ctx, store.EmailNormalizationV1, lower, quiet); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UserByEmail(ctx, "Mixed@Example.com"); err != nil {
			t.Fatalf("a data migration recorded before the upgrade ran again: %v", err)
		}
		if err := s.NormalizeEmails(ctx, "upgrade-probe", lower, quiet); err != nil {
			t.Fatal(err)
		}
		if u, err := s.UserByEmail(ctx, "mixed@example.com"); err != nil || u.ID != "u2" {
			t.Fatalf("a new data migration did not run: %+v, %v", u, err)
		}
		if got := strs(t, raw, "SELECT name FROM authql_data_migrations ORDER BY name"); strings.Join(got, " ") != store.EmailNormalizationV1+" upgrade-probe" {
			t.Fatalf("data migrations recorded: %v", got)
		}

		u, err := s.UserByEmail(ctx, "old@example.com")
		if err != nil || u.ID != "u1" || u.CredentialsVersion != 3 || !u.EmailVerified {
			t.Fatalf("user: %+v, %v", u, err)
		}
		if _, err := hasher.Verify(ctx, "correct horse battery", u.PasswordHash); err != nil {
			t.Fatalf("the stored password no longer verifies: %v", err)
		}
		events, err := s.AuditEvents(ctx, "u1", 0, 10)
		if err != nil || len(events) != 2 || events[0].Count != 4 || events[1].Type != "signup" {
			t.Fatalf("audit events: %+v, %v", events, err)
		}
		err = s.InTx(ctx, func(q *store.Queries) error {
			sess, tok, _, err := q.SessionWithToken(ctx, "s1", "t1")
			if err != nil || sess.UserID != "u1" || tok.Hash != tokenHash {
				return fmt.Errorf("session %+v token %+v: %w", sess, tok, err)
			}
			next := &models.RefreshToken{ID: "t2", SessionID: "s1", ParentID: &tok.ID, Hash: strings.Repeat("b", 64), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
			uid, sid := "u1", "s1"
			ok, err := q.RotateToken(ctx, "t1", next, now, &models.AuditEvent{Type: "refresh", UserID: &uid, SessionID: &sid, Count: 1})
			if !ok || err != nil {
				return fmt.Errorf("rotate the old refresh token: %v, %w", ok, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		mails, err := s.ClaimMail(ctx, now.Add(time.Minute), 10, "sender", time.Minute)
		if err != nil || len(mails) != 1 || string(mails[0].Body) != "sealed" || mails[0].Recipient != "old@example.com" {
			t.Fatalf("outbox: %+v, %v", mails, err)
		}
	})
}

// loginColumns are 00003's columns as catalog lists them.
func loginColumns(db storetest.Backend) []string {
	if db.Name == "mysql" {
		return []string{"column users last_login_at datetime(3) YES NULL  -", "column users login_count bigint(20) unsigned NO 0  -"}
	}
	return []string{"column users last_login_at DATETIME notnull=0 default=- pk=0", "column users login_count INTEGER notnull=1 default=0 pk=0"}
}

func recipientIndex(db storetest.Backend) string {
	if db.Name == "mysql" {
		return "index outbox_mails idx_outbox_mails_recipient 1 1 recipient -"
	}
	return "index outbox_mails idx_outbox_mails_recipient unique=0 origin=c partial=0 (recipient)"
}

// statements splits a SQL file of ;-terminated statements, dropping comments.
func statements(file string) []string {
	var lines []string
	for l := range strings.Lines(file) {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			lines = append(lines, l)
		}
	}
	var out []string
	for q := range strings.SplitSeq(strings.Join(lines, ""), ";\n") {
		if q = strings.TrimSpace(q); q != "" {
			out = append(out, strings.TrimSuffix(q, ";"))
		}
	}
	return out
}

// TestDownToAndUp: down-to 1 rolls back 00003 and 00002, down-to 0 drops the tables,
// up restores them, and status says which are applied when.
func TestDownToAndUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		ctx := context.Background()
		full := func() []string { return catalog(t, db) }
		m, err := store.OpenMigrator(ctx, db.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		st, sc, err := m.Status(ctx)
		if err != nil || len(st) != newest || st[0].Applied || sc.Version != 0 {
			t.Fatalf("fresh status: %+v %+v %v", st, sc, err)
		}
		if sc, err := m.Up(ctx); err != nil || sc.Version != newest {
			t.Fatalf("up: %+v %v", sc, err)
		}
		migrated := full()
		st, _, err = m.Status(ctx)
		if err != nil || !st[0].Applied || !st[1].Applied || st[1].Name != "00002_outbox_recipient_data_migrations.sql" ||
			time.Since(st[1].AppliedAt) > time.Hour || time.Since(st[1].AppliedAt) < -time.Hour {
			t.Fatalf("status after up: %+v %v", st, err)
		}
		if sc, err := m.DownTo(ctx, 1); err != nil || sc.Version != 1 || fmt.Sprint(sc.Applied) != "[3 2]" {
			t.Fatalf("down-to 1: %+v %v", sc, err)
		}
		var one []string // the catalog of version 1: without what 00002 and 00003 made
		for _, l := range migrated {
			if !strings.Contains(l, "idx_outbox_mails_recipient") && !strings.Contains(l, "authql_data_migrations") && !strings.Contains(l, "last_login_at") && !strings.Contains(l, "login_count") {
				one = append(one, l)
			}
		}
		diff(t, "migrated to 3, less what 00002 and 00003 made", one, "rolled back to 1", full(), "the Downs must undo exactly their Ups")
		if _, err := m.DownTo(ctx, -1); err == nil {
			t.Fatal("went below version 0")
		}
		if sc, err := m.DownTo(ctx, 0); err != nil || sc.Version != 0 {
			t.Fatalf("down-to 0: %+v %v", sc, err)
		}
		if left := full(); len(left) != 0 {
			t.Fatalf("down-to 0 left %v", left)
		}
		if sc, err := m.Up(ctx); err != nil || sc.Version != newest {
			t.Fatalf("up again: %+v %v", sc, err)
		}
		diff(t, "migrated first", migrated, "migrated again", full(), "down then up must round-trip")
	})
}

// TestOlderBinaryNewerDatabase: a database a newer release migrated (a
// version this binary does not know) does not stop this binary, which
// reports it; a database that lacks one of this binary's migrations below
// its version is refused with a clear error.
func TestOlderBinaryNewerDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		ctx := context.Background()
		newer := release(t, db.Name, map[string]string{
			"00004_future.sql": "-- +goose Up\nCREATE TABLE future_things (id INTEGER NOT NULL PRIMARY KEY);\n-- +goose Down\nDROP TABLE future_things;\n",
		})
		s, err := store.Open(ctx, db.URL, store.WithMigrations(newer))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s, err = store.Open(ctx, db.URL)
		if err != nil {
			t.Fatalf("this binary refused a newer database: %v", err)
		}
		defer s.Close()
		if sc := s.Schema(); !sc.Newer() || sc.Version != 4 || sc.Newest != newest || len(sc.Applied) != 0 {
			t.Fatalf("schema: %+v", sc)
		}
		if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("store does not serve: %v", err)
		}

		// A database at 4 that skipped this binary's 2 is not "at least this
		// binary's newest".
		gap := fresh(t, db)
		skip := release(t, db.Name, map[string]string{"00004_future.sql": "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n"}, "00002_outbox_recipient_data_migrations.sql")
		if s, err := store.Open(ctx, gap.URL, store.WithMigrations(skip)); err != nil {
			t.Fatal(err)
		} else {
			s.Close()
		}
		_, err = store.Open(ctx, gap.URL)
		if err == nil || !strings.Contains(err.Error(), "newer than this binary's 3, but lacks") {
			t.Fatalf("opened a database lacking migration 2: %v", err)
		}
	})
}

// release is the embedded migrations of a dialect plus extra files, minus
// the files named in drop: another release's set.
func release(t *testing.T, dialect string, extra map[string]string, drop ...string) fstest.MapFS {
	t.Helper()
	fsys, err := migrations.FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil || len(names) != newest {
		t.Fatalf("embedded migrations %v, %v", names, err)
	}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = &fstest.MapFile{Data: b}
	}
	for _, d := range drop {
		delete(out, d)
	}
	for name, body := range extra {
		out[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return out
}

// TestStatusTimesAreUTC: on a connection whose session time zone is not UTC
// (here a URL asking for +05:00, as a server configured so would give),
// migrate status still reports when a migration ran correctly: authql's
// connections run in UTC, in which the driver reads times.
func TestStatusTimesAreUTC(t *testing.T) {
	db := storetest.MySQL(t)
	ctx := context.Background()
	url := db.URL + "?time_zone=%27%2B05%3A00%27"
	m, err := store.OpenMigrator(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	st, _, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if off := time.Since(s.AppliedAt); !s.Applied || off > 10*time.Minute || off < -10*time.Minute {
			t.Errorf("%s applied at %v, %v from now: the session time zone leaked into the times", s.Name, s.AppliedAt, off.Round(time.Minute))
		}
	}
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pool := s.Pools()["write"]
	if pool == nil {
		t.Fatal("the store has no write pool")
	}
	var tz string
	if err := pool.QueryRow("SELECT @@session.time_zone").Scan(&tz); err != nil || tz != "+00:00" {
		t.Fatalf("a store connection runs in time zone %q (%v), want +00:00", tz, err)
	}
}
