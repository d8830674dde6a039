package store_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authql/authql/internal/recovery"
	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/internal/totp"
	"github.com/authql/authql/models"
)

// seal stands in for the service's AES-GCM sealing: the store only ever sees
// its output.
func seal(t *testing.T, plaintext []byte) []byte {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	return gcm.Seal(nonce, nonce, plaintext, nil)
}

func enroll(t *testing.T, s *store.Store, userID string, secret []byte) {
	t.Helper()
	err := s.InTx(t.Context(), func(q *store.Queries) error {
		return q.StartTOTPEnrollment(t.Context(), &models.TOTPFactor{UserID: userID, Secret: secret, CreatedAt: testNow()})
	})
	if err != nil {
		t.Fatalf("enroll %s: %v", userID, err)
	}
}

// challenge stores a new challenge as the service would: a random mfaToken,
// of which only a keyed hash is kept. It returns the token too.
func challenge(t *testing.T, s *store.Store, userID string, ttl time.Duration) (*models.MFAChallenge, string) {
	t.Helper()
	token := rand.Text()
	m := hmac.New(sha256.New, []byte("server secret of at least 32 bytes!!"))
	m.Write([]byte(token))
	now := testNow()
	c := &models.MFAChallenge{ID: uuid.NewString(), UserID: userID, Hash: hex.EncodeToString(m.Sum(nil)), ExpiresAt: now.Add(ttl), CreatedAt: now}
	if err := s.CreateMFAChallenge(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c, token
}

// race runs fn in n goroutines released at once and counts those that won.
func race(t *testing.T, n int, fn func() (bool, error)) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := make(chan struct{})
	won := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := fn()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("racer: %v", err)
			}
			if ok {
				won++
			}
		}()
	}
	close(start)
	wg.Wait()
	return won
}

// TestTOTPFactorLifecycle: enrolment replaces a pending factor but never a
// confirmed one; confirming spends its step; each step is accepted once, and
// never one at or before the last accepted.
func TestTOTPFactorLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		ctx := t.Context()
		const user = "u-1"
		if _, err := s.TOTPFactorByUser(ctx, user); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no factor yet: %v", err)
		}
		// Bytes no charset would pass unchanged.
		first := []byte{0x00, 0xff, 0xfe, 0x80, '\'', '\\', 0x00}
		enroll(t, s, user, first)
		second := seal(t, []byte(totp.NewSecret()))
		enroll(t, s, user, second) // replaces the pending one
		f, err := s.TOTPFactorByUser(ctx, user)
		if err != nil || !bytes.Equal(f.Secret, second) || f.ConfirmedAt != nil || f.LastUsedStep != 0 {
			t.Fatalf("pending factor: %+v, %v", f, err)
		}
		step := totp.Step(time.Now())
		if ok, err := s.UseTOTPStep(ctx, user, step); ok || err != nil {
			t.Fatalf("a pending factor accepted a step: %v, %v", ok, err)
		}
		if ok, err := s.ConfirmTOTPFactor(ctx, user, step, testNow()); !ok || err != nil {
			t.Fatalf("confirm: %v, %v", ok, err)
		}
		if ok, err := s.ConfirmTOTPFactor(ctx, user, step+1, testNow()); ok || err != nil {
			t.Fatalf("confirmed twice: %v, %v", ok, err)
		}
		err = s.InTx(ctx, func(q *store.Queries) error {
			return q.StartTOTPEnrollment(ctx, &models.TOTPFactor{UserID: user, Secret: first, CreatedAt: testNow()})
		})
		if !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("enrolment over a confirmed factor: %v", err)
		}
		f, err = s.TOTPFactorByUser(ctx, user)
		if err != nil || !bytes.Equal(f.Secret, second) || f.ConfirmedAt == nil || f.LastUsedStep != step {
			t.Fatalf("confirmed factor: %+v, %v", f, err)
		}
		for _, c := range []struct {
			step int64
			ok   bool
		}{
			{step, false}, // the confirming code
			{step - 1, false},
			{step + 1, true},
			{step + 1, false}, // replay
			{step, false},     // older than one accepted
			{step + 3, true},
			{step + 2, false},
		} {
			if ok, err := s.UseTOTPStep(ctx, user, c.step); ok != c.ok || err != nil {
				t.Errorf("UseTOTPStep(step%+d) = %v, %v; want %v", c.step-step, ok, err, c.ok)
			}
		}
	})
}

// TestTOTPStepSingleWinner: requests racing with one code, each in its own
// transaction as on separate instances or not, accept it once.
func TestTOTPStepSingleWinner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		ctx := t.Context()
		enroll(t, s, "u-1", seal(t, []byte("secret")))
		step := totp.Step(time.Now())
		if won := race(t, 10, func() (bool, error) { return s.ConfirmTOTPFactor(ctx, "u-1", step, testNow()) }); won != 1 {
			t.Fatalf("%d confirmations won", won)
		}
		for i, inTx := range []bool{false, true} {
			step := step + 1 + int64(i)
			won := race(t, 10, func() (bool, error) {
				if !inTx {
					return s.UseTOTPStep(ctx, "u-1", step)
				}
				return store.InTxValue(ctx, s, func(q *store.Queries) (bool, error) { return q.UseTOTPStep(ctx, "u-1", step) })
			})
			if won != 1 {
				t.Errorf("in a transaction %v: %d requests accepted one code", inTx, won)
			}
		}
	})
}

// TestRecoveryCodes: a code works once, for its own user only; a new set
// voids the old one; racing requests spend a code once.
func TestRecoveryCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		ctx := t.Context()
		h := recovery.NewHasher([]byte("server secret of at least 32 bytes!!"))
		issue := func(user string) []string {
			codes := recovery.Generate()
			hashes := make([]string, len(codes))
			for i, c := range codes {
				hashes[i], _ = h.Hash(user, c)
			}
			if err := s.InTx(ctx, func(q *store.Queries) error {
				return q.ReplaceRecoveryCodes(ctx, user, hashes, testNow())
			}); err != nil {
				t.Fatal(err)
			}
			return codes
		}
		use := func(user, code string) bool {
			t.Helper()
			hash, ok := h.Hash(user, code)
			if !ok {
				t.Fatalf("code %q does not hash", code)
			}
			won, err := s.UseRecoveryCode(ctx, user, hash, testNow())
			if err != nil {
				t.Fatal(err)
			}
			return won
		}
		old := issue("u-1")
		codes := issue("u-1")
		other := issue("u-2")
		if use("u-1", old[0]) {
			t.Error("a code of the replaced set worked")
		}
		if !use("u-1", strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))) {
			t.Fatal("a fresh code, typed loosely, was refused")
		}
		if use("u-1", codes[0]) {
			t.Error("a spent code worked again")
		}
		if use("u-2", codes[1]) || use("u-1", other[0]) {
			t.Error("a code worked for another user")
		}
		if won := race(t, 10, func() (bool, error) {
			hash, _ := h.Hash("u-1", codes[2])
			return store.InTxValue(ctx, s, func(q *store.Queries) (bool, error) {
				return q.UseRecoveryCode(ctx, "u-1", hash, testNow())
			})
		}); won != 1 {
			t.Errorf("%d requests spent one code", won)
		}
		raw := storetest.SQL(t, db)
		var unused int
		if err := raw.QueryRow("SELECT COUNT(*) FROM recovery_codes WHERE user_id = 'u-1' AND used_at IS NULL").Scan(&unused); err != nil || unused != recovery.Count-2 {
			t.Errorf("u-1 has %d unused codes (%v), want %d", unused, err, recovery.Count-2)
		}
	})
}

// TestMFAChallenge: an mfaToken is found by its hash, spent once, never after
// it expired, and dies after maxFailures wrong codes even for the right one.
func TestMFAChallenge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		ctx := t.Context()
		const maxFailures = 5
		c, _ := challenge(t, s, "u-1", 5*time.Minute)
		got, err := s.MFAChallengeByHash(ctx, c.Hash)
		if err != nil || got.ID != c.ID || got.UserID != "u-1" || !got.ExpiresAt.Equal(c.ExpiresAt) || got.FailedAttempts != 0 || got.UsedAt != nil {
			t.Fatalf("by hash: %+v, %v", got, err)
		}
		if _, err := s.MFAChallengeByHash(ctx, strings.Repeat("0", 64)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown hash: %v", err)
		}
		dup := *c
		dup.ID = uuid.NewString()
		if err := s.CreateMFAChallenge(ctx, &dup); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("a second challenge with the same hash: %v", err)
		}
		failure := func(id string) (int, error) {
			return store.InTxValue(ctx, s, func(q *store.Queries) (int, error) { return q.RecordMFAFailure(ctx, id) })
		}
		for want := 1; want < maxFailures; want++ {
			if n, err := failure(c.ID); n != want || err != nil {
				t.Fatalf("failure %d counted as %d, %v", want, n, err)
			}
		}
		if ok, err := s.ConsumeMFAChallenge(ctx, c.ID, maxFailures, testNow()); !ok || err != nil {
			t.Fatalf("consume after %d failures: %v, %v", maxFailures-1, ok, err)
		}
		if ok, err := s.ConsumeMFAChallenge(ctx, c.ID, maxFailures, testNow()); ok || err != nil {
			t.Fatalf("consumed twice: %v, %v", ok, err)
		}
		if _, err := failure(c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a failure counted against a used challenge: %v", err)
		}

		dead, _ := challenge(t, s, "u-1", 5*time.Minute)
		for range maxFailures {
			if _, err := failure(dead.ID); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := s.ConsumeMFAChallenge(ctx, dead.ID, maxFailures, testNow()); ok || err != nil {
			t.Fatalf("consumed after %d failures: %v, %v", maxFailures, ok, err)
		}

		expired, _ := challenge(t, s, "u-1", time.Second)
		if ok, err := s.ConsumeMFAChallenge(ctx, expired.ID, maxFailures, expired.ExpiresAt); ok || err != nil {
			t.Fatalf("consumed at its expiry: %v, %v", ok, err)
		}
		if ok, err := s.ConsumeMFAChallenge(ctx, "unknown", maxFailures, testNow()); ok || err != nil {
			t.Fatalf("consumed an unknown challenge: %v, %v", ok, err)
		}
	})
}

// TestMFAChallengeRaces: racing verifications spend a challenge once, and
// racing wrong codes are each counted, every count returned once.
func TestMFAChallengeRaces(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		ctx := t.Context()
		c, _ := challenge(t, s, "u-1", 5*time.Minute)
		if won := race(t, 10, func() (bool, error) {
			return store.InTxValue(ctx, s, func(q *store.Queries) (bool, error) {
				return q.ConsumeMFAChallenge(ctx, c.ID, 5, testNow())
			})
		}); won != 1 {
			t.Errorf("%d requests consumed one challenge", won)
		}

		c, _ = challenge(t, s, "u-1", 5*time.Minute)
		var mu sync.Mutex
		var counts []int
		race(t, 10, func() (bool, error) {
			n, err := store.InTxValue(ctx, s, func(q *store.Queries) (int, error) { return q.RecordMFAFailure(ctx, c.ID) })
			mu.Lock()
			counts = append(counts, n)
			mu.Unlock()
			return false, err
		})
		slices.Sort(counts)
		if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(counts, want) {
			t.Errorf("racing failures were counted %v, want %v", counts, want)
		}
	})
}

// TestDeleteUserMFA: turning MFA off or deleting the account removes the
// user's factor, codes and challenges, and no one else's.
func TestDeleteUserMFA(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		ctx := t.Context()
		h := recovery.NewHasher([]byte("server secret of at least 32 bytes!!"))
		for _, u := range []string{"u-1", "u-2"} {
			enroll(t, s, u, seal(t, []byte(u)))
			var hashes []string
			for _, c := range recovery.Generate() {
				hash, _ := h.Hash(u, c)
				hashes = append(hashes, hash)
			}
			if err := s.ReplaceRecoveryCodes(ctx, u, hashes, testNow()); err != nil {
				t.Fatal(err)
			}
			challenge(t, s, u, time.Minute)
			challenge(t, s, u, time.Minute)
		}
		if n, err := s.DeleteMFAChallenges(ctx, "u-2"); n != 2 || err != nil {
			t.Fatalf("deleted %d challenges of u-2, %v", n, err)
		}
		if err := s.InTx(ctx, func(q *store.Queries) error { return q.DeleteUserMFA(ctx, "u-1") }); err != nil {
			t.Fatal(err)
		}
		raw := storetest.SQL(t, db)
		for _, c := range []struct {
			table, user string
			want        int
		}{
			{"totp_factors", "u-1", 0}, {"recovery_codes", "u-1", 0}, {"mfa_challenges", "u-1", 0},
			{"totp_factors", "u-2", 1}, {"recovery_codes", "u-2", recovery.Count}, {"mfa_challenges", "u-2", 0},
		} {
			var n int
			if err := raw.QueryRow("SELECT COUNT(*) FROM "+c.table+" WHERE user_id = ?", c.user).Scan(&n); err != nil || n != c.want {
				t.Errorf("%s of %s: %d rows (%v), want %d", c.table, c.user, n, err, c.want)
			}
		}
	})
}

func TestPruneMFAChallenges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		old, _ := challenge(t, s, "u-1", -time.Minute)
		live, _ := challenge(t, s, "u-1", time.Minute)
		if n, err := s.PruneMFAChallenges(t.Context(), testNow(), 100); n != 1 || err != nil {
			t.Fatalf("pruned %d, %v", n, err)
		}
		if _, err := s.MFAChallengeByHash(t.Context(), old.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired challenge kept: %v", err)
		}
		if _, err := s.MFAChallengeByHash(t.Context(), live.Hash); err != nil {
			t.Errorf("live challenge pruned: %v", err)
		}
	})
}

// TestMFANothingUsableAtRest: a copy of the database holds no TOTP secret, no
// recovery code and no mfaToken in any form a user or app would type: every
// column of every row is read raw.
func TestMFANothingUsableAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		ctx := t.Context()
		secret := totp.NewSecret()
		enroll(t, s, "u-1", seal(t, []byte(secret)))
		h := recovery.NewHasher([]byte("server secret of at least 32 bytes!!"))
		codes := recovery.Generate()
		var hashes []string
		for _, c := range codes {
			hash, _ := h.Hash("u-1", c)
			hashes = append(hashes, hash)
		}
		if err := s.ReplaceRecoveryCodes(ctx, "u-1", hashes, testNow()); err != nil {
			t.Fatal(err)
		}
		_, token := challenge(t, s, "u-1", time.Minute)
		key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
		if err != nil {
			t.Fatal(err)
		}
		forbidden := []string{secret, strings.ToLower(secret), string(key), hex.EncodeToString(key), token}
		for _, code := range codes {
			n, _ := recovery.Normalize(code)
			forbidden = append(forbidden, code, n, strings.ToUpper(n))
		}
		raw := storetest.SQL(t, db)
		seen := 0
		for _, table := range []string{"totp_factors", "recovery_codes", "mfa_challenges"} {
			for _, row := range rows(t, raw, table) {
				for col, v := range row {
					seen++
					for _, f := range forbidden {
						if strings.Contains(strings.ToLower(v), strings.ToLower(f)) {
							t.Errorf("%s.%s holds a plaintext secret or code", table, col)
						}
					}
				}
			}
		}
		if seen < 5+recovery.Count*5+7 {
			t.Fatalf("read only %d values", seen)
		}
	})
}

// rows reads every row of a table as column → text.
func rows(t *testing.T, db *sql.DB, table string) []map[string]string {
	t.Helper()
	r, err := db.Query("SELECT * FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols, _ := r.Columns()
	var out []map[string]string
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for i, c := range cols {
			switch v := vals[i].(type) {
			case []byte:
				row[c] = string(v)
			default:
				row[c] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMFAIndexes: every MFA lookup has its index, and the hashes are unique,
// on both engines (read from the schema: no EXPLAIN, whose plans depend on
// table sizes).
func TestMFAIndexes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		open(t, db)
		raw := storetest.SQL(t, db)
		for _, c := range []struct {
			table, columns string
			unique         bool
		}{
			{"totp_factors", "user_id", true},
			{"recovery_codes", "hash", true},
			{"recovery_codes", "user_id", false},
			{"mfa_challenges", "id", true},
			{"mfa_challenges", "hash", true},
			{"mfa_challenges", "user_id", false},
			{"mfa_challenges", "expires_at", false},
		} {
			found := false
			for _, ix := range indexes(t, raw, db, c.table) {
				// A unique index serves a plain lookup as well.
				found = found || ix.columns == c.columns && (ix.unique || !c.unique)
			}
			if !found {
				t.Errorf("%s has no %s index on (%s)", c.table, map[bool]string{true: "unique", false: "plain"}[c.unique], c.columns)
			}
		}
	})
}

type index struct {
	columns string // comma-separated, in index order
	unique  bool
}

func indexes(t *testing.T, db *sql.DB, b storetest.Backend, table string) []index {
	t.Helper()
	query := `SELECT il.name, il."unique", group_concat(ii.name, ',') FROM pragma_index_list(?) il, pragma_index_info(il.name) ii GROUP BY il.name, il."unique"`
	if storetest.IsMySQL(b.URL) {
		query = `SELECT index_name, non_unique = 0, GROUP_CONCAT(column_name ORDER BY seq_in_index) FROM information_schema.statistics
			WHERE table_schema = DATABASE() AND table_name = ? GROUP BY index_name, non_unique`
	}
	r, err := db.Query(query, table)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []index
	for r.Next() {
		var name string
		var ix index
		if err := r.Scan(&name, &ix.unique, &ix.columns); err != nil {
			t.Fatal(err)
		}
		out = append(out, ix)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// testNow is the wall clock as the store keeps it: UTC, whole milliseconds.
func testNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
