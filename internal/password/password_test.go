package password

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// cheap are argon2id parameters small enough to keep tests fast; the format
// and the logic are the same as with DefaultParams.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func cheapHasher() *Hasher { return NewHasher(cheap, 2, time.Second) }

// TestValidate checks the password policy of the contract: 8 to 1024
// characters (not bytes), no composition rules, and text only.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"empty", "", ErrTooShort},
		{"7 characters", "abcdefg", ErrTooShort},
		{"8 characters", "abcdefgh", nil},
		{"8 spaces: no composition rules", "        ", nil},
		{"8 digits only", "12345678", nil},
		{"7 two-byte characters (14 bytes) are still 7 characters", strings.Repeat("é", 7), ErrTooShort},
		{"8 four-byte characters", strings.Repeat("🔑", 8), nil},
		{"1024 characters", strings.Repeat("a", 1024), nil},
		{"1025 characters", strings.Repeat("a", 1025), ErrTooLong},
		{"1024 é (2048 bytes) counted as characters", strings.Repeat("é", 1024), nil},
		{"1025 é", strings.Repeat("é", 1025), ErrTooLong},
		{"invalid UTF-8", "abcdefgh\xff", ErrInvalidUTF8},
		{"lone continuation byte", "\x80abcdefghij", ErrInvalidUTF8},
		{"truncated multi-byte sequence", "abcdefgh\xc3", ErrInvalidUTF8},
		{"invalid UTF-8 and too short", "\xff", ErrInvalidUTF8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Validate(tc.pw); !errors.Is(got, tc.want) {
				t.Errorf("Validate(%d bytes) = %v; want %v", len(tc.pw), got, tc.want)
			}
		})
	}
}

var phcDefault = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

// TestHashDefaultParams checks the stored format with the production
// parameters: a PHC string that other argon2id implementations can read,
// verifiable, with no rehash needed.
func TestHashDefaultParams(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(DefaultParams, 1, 5*time.Second)
	phc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !phcDefault.MatchString(phc) {
		t.Fatalf("Hash = %q; want $argon2id$v=19$m=19456,t=2,p=1$<22 b64 salt>$<43 b64 key>", phc)
	}
	tests := []struct {
		name      string
		pw        string
		wantErr   error
		wantRehsh bool
	}{
		{"right password", "correct horse battery staple", nil, false},
		{"wrong password", "correct horse battery stapler", ErrMismatch, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rehash, err := h.Verify(ctx, tc.pw, phc)
			if !errors.Is(err, tc.wantErr) || rehash != tc.wantRehsh {
				t.Errorf("Verify = %v, %v; want %v, %v", rehash, err, tc.wantRehsh, tc.wantErr)
			}
		})
	}
}

// TestHashVerify checks that only the exact password verifies: not a
// different case, a prefix, an extension, or the same text normalised
// differently.
func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := cheapHasher()
	const pw = "Tr0ub4dor&3 – é"
	phc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"same password", pw, nil},
		{"different case", strings.ToLower(pw), ErrMismatch},
		{"prefix", pw[:len(pw)-1], ErrMismatch},
		{"extended", pw + "x", ErrMismatch},
		{"trailing space", pw + " ", ErrMismatch},
		{"empty", "", ErrMismatch},
		{"é decomposed (NFD) is another password", strings.Replace(pw, "é", "e\u0301", 1), ErrMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rehash, err := h.Verify(ctx, tc.pw, phc)
			if !errors.Is(err, tc.want) {
				t.Errorf("Verify(%q) = %v; want %v", tc.pw, err, tc.want)
			}
			if rehash {
				t.Errorf("needsRehash with unchanged params")
			}
		})
	}
}

// TestHashSalted checks that hashing the same password twice gives different
// strings (fresh salt each time), both verifying: equal passwords are not
// visible in the database.
func TestHashSalted(t *testing.T) {
	ctx := context.Background()
	h := cheapHasher()
	seen := map[string]bool{}
	salts := map[string]bool{}
	for range 5 {
		phc, err := h.Hash(ctx, "same password")
		if err != nil {
			t.Fatal(err)
		}
		if seen[phc] {
			t.Fatalf("Hash repeated %q", phc)
		}
		seen[phc] = true
		salts[strings.Split(phc, "$")[4]] = true
		if _, err := h.Verify(ctx, "same password", phc); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if len(salts) != 5 {
		t.Errorf("%d distinct salts in 5 hashes", len(salts))
	}
}

// TestNeverTruncated checks that every character of a long password counts
// (bcrypt silently ignores everything past 72 bytes).
func TestNeverTruncated(t *testing.T) {
	ctx := context.Background()
	h := cheapHasher()
	prefix := strings.Repeat("p", 1000)
	tests := []struct {
		name  string
		a, b  string
		valid bool // both within policy
	}{
		{"differ after 72 bytes", strings.Repeat("x", 72) + "A", strings.Repeat("x", 72) + "B", true},
		{"share the first 1000 characters", prefix + "aaaa", prefix + "aaab", true},
		{"differ only in the 1024th character", prefix + strings.Repeat("z", 23) + "1", prefix + strings.Repeat("z", 23) + "2", true},
		{"multi-byte, differ in the last character", strings.Repeat("é", 1023) + "a", strings.Repeat("é", 1023) + "b", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.valid && (Validate(tc.a) != nil || Validate(tc.b) != nil) {
				t.Fatalf("fixture outside policy: %v / %v", Validate(tc.a), Validate(tc.b))
			}
			phc, err := h.Hash(ctx, tc.a)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.Verify(ctx, tc.a, phc); err != nil {
				t.Errorf("Verify(a): %v", err)
			}
			if _, err := h.Verify(ctx, tc.b, phc); !errors.Is(err, ErrMismatch) {
				t.Errorf("Verify(b) against hash of a = %v; want ErrMismatch", err)
			}
		})
	}
}

// TestNeedsRehash checks that a hash made with other parameters still
// verifies but is flagged, so the caller can upgrade it on login.
func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		old  Params
		want bool
	}{
		{"same params", cheap, false},
		{"lower memory", Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"other time", Params{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"other threads", Params{Memory: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"shorter salt", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 32}, true},
		{"longer key", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 64}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			phc, err := NewHasher(tc.old, 1, time.Second).Hash(ctx, "password123")
			if err != nil {
				t.Fatal(err)
			}
			current := NewHasher(cheap, 1, time.Second)
			rehash, err := current.Verify(ctx, "password123", phc)
			if err != nil {
				t.Fatalf("Verify of an old-params hash: %v", err)
			}
			if rehash != tc.want {
				t.Errorf("needsRehash = %v; want %v", rehash, tc.want)
			}
			if rehash, err := current.Verify(ctx, "wrong password", phc); rehash || !errors.Is(err, ErrMismatch) {
				t.Errorf("wrong password = %v, %v; want false, ErrMismatch", rehash, err)
			}
		})
	}
}

// TestMalformedHash checks that a corrupted or foreign stored hash is refused
// as ErrMalformedHash, never verified, and never allowed to demand absurd
// work.
func TestMalformedHash(t *testing.T) {
	const salt = "c2FsdHNhbHRzYWx0c2FsdA"                     // 16 bytes
	const key = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U" // 32 bytes
	good := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	tests := []struct {
		name string
		phc  string
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"argon2d", strings.Replace(good, "argon2id", "argon2d", 1)},
		{"upper-case algorithm", strings.Replace(good, "argon2id", "ARGON2ID", 1)},
		{"version 16", strings.Replace(good, "v=19", "v=16", 1)},
		{"version missing", strings.Replace(good, "$v=19", "", 1)},
		{"version garbage", strings.Replace(good, "v=19", "v=x", 1)},
		{"no leading $", good[1:]},
		{"key missing", strings.TrimSuffix(good, "$"+key)},
		{"salt and key missing", "$argon2id$v=19$m=64,t=1,p=1"},
		{"extra part", good + "$extra"},
		{"params missing", "$argon2id$v=19$" + salt + "$" + key},
		{"params empty", "$argon2id$v=19$$" + salt + "$" + key},
		{"p missing", strings.Replace(good, ",p=1", "", 1)},
		{"t missing", strings.Replace(good, ",t=1", "", 1)},
		{"m missing", strings.Replace(good, "m=64,", "", 1)},
		{"unknown param", strings.Replace(good, "p=1", "p=1,x=1", 1)},
		{"param without value", strings.Replace(good, "t=1", "t", 1)},
		{"negative time", strings.Replace(good, "t=1", "t=-1", 1)},
		{"zero time", strings.Replace(good, "t=1", "t=0", 1)},
		{"absurd time", strings.Replace(good, "t=1", "t=1000000", 1)},
		{"zero threads", strings.Replace(good, "p=1", "p=0", 1)},
		{"threads over 255", strings.Replace(good, "p=1", "p=256", 1)},
		{"absurd memory (4 GiB)", strings.Replace(good, "m=64", "m=4194304", 1)},
		{"memory over uint32", strings.Replace(good, "m=64", "m=4294967296", 1)},
		{"tiny memory", strings.Replace(good, "m=64", "m=1", 1)},
		{"salt not base64", strings.Replace(good, salt, "!!!!not-base64!!!!", 1)},
		{"key not base64", strings.Replace(good, key, "***", 1)},
		{"padded base64 salt", strings.Replace(good, salt, salt+"==", 1)},
		{"salt too short", strings.Replace(good, salt, "c2FsdA", 1)},
		{"key too short", strings.Replace(good, key, "a2V5", 1)},
		{"empty salt", strings.Replace(good, salt, "", 1)},
		{"empty key", strings.TrimSuffix(good, key)},
		{"plaintext password", "password123"},
	}
	h := cheapHasher()
	if _, err := h.Verify(context.Background(), "anything", good); !errors.Is(err, ErrMismatch) {
		t.Fatalf("control: well-formed hash gave %v; want ErrMismatch", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rehash, err := h.Verify(context.Background(), "password123", tc.phc)
			if !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify(%q) = %v; want ErrMalformedHash", tc.phc, err)
			}
			if rehash {
				t.Error("needsRehash reported for a malformed hash")
			}
		})
	}
}

// TestVerifyDummy checks the unknown-email path: it does a real verification's
// work and never reports an error for any password, so it cannot be told
// apart from a wrong password.
func TestVerifyDummy(t *testing.T) {
	h := cheapHasher()
	for _, pw := range []string{"", "password123", strings.Repeat("x", 1024), "\xff\xfe", h.dummy} {
		t.Run("", func(t *testing.T) {
			if err := h.VerifyDummy(context.Background(), pw); err != nil {
				t.Errorf("VerifyDummy(%d bytes) = %v; want nil", len(pw), err)
			}
		})
	}
	t.Run("the dummy is a well-formed hash with the hasher's params", func(t *testing.T) {
		p, _, _, err := decode(h.dummy)
		if err != nil || p != cheap {
			t.Errorf("dummy %q decodes to %+v, %v; want %+v", h.dummy, p, err, cheap)
		}
	})
	t.Run("still reports a cancelled context", func(t *testing.T) {
		busy := NewHasher(cheap, 1, time.Hour)
		release, err := busy.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := busy.VerifyDummy(ctx, "password123"); !errors.Is(err, context.Canceled) {
			t.Errorf("VerifyDummy with cancelled context while saturated = %v; want context.Canceled", err)
		}
	})
}

// TestBoundedConcurrency checks that hashing is refused with ErrBusy rather
// than queued without bound when every slot stays taken for the queue timeout,
// and that waiting callers get their turn once a slot frees. A slot is held
// through acquire, the same gate Hash and Verify pass, so the test does not
// depend on how fast argon2 runs.
func TestBoundedConcurrency(t *testing.T) {
	ctx := context.Background()
	phc, err := cheapHasher().Hash(ctx, "password123")
	if err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		run  func(h *Hasher, ctx context.Context) error
	}{
		{"Hash", func(h *Hasher, ctx context.Context) error { _, err := h.Hash(ctx, "password123"); return err }},
		{"Verify", func(h *Hasher, ctx context.Context) error { _, err := h.Verify(ctx, "password123", phc); return err }},
		{"VerifyDummy", func(h *Hasher, ctx context.Context) error { return h.VerifyDummy(ctx, "password123") }},
	}
	for _, op := range ops {
		t.Run(op.name+" gets ErrBusy after the queue timeout when the only slot is held", func(t *testing.T) {
			const timeout = 30 * time.Millisecond
			h := NewHasher(cheap, 1, timeout)
			release, err := h.acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = op.run(h, ctx)
			waited := time.Since(start)
			if !errors.Is(err, ErrBusy) {
				t.Errorf("err = %v; want ErrBusy", err)
			}
			if waited < timeout {
				t.Errorf("gave up after %v; want it to wait the queue timeout %v", waited, timeout)
			}
			release()
			if err := op.run(h, ctx); err != nil {
				t.Errorf("after the slot was released: %v", err)
			}
		})
		t.Run(op.name+" returns the context error when cancelled while waiting", func(t *testing.T) {
			h := NewHasher(cheap, 1, time.Hour)
			release, err := h.acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			cctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- op.run(h, cctx) }()
			time.Sleep(20 * time.Millisecond) // let it start waiting
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v; want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("still waiting 5s after cancellation")
			}
		})
	}
	t.Run("deadline while waiting returns context.DeadlineExceeded", func(t *testing.T) {
		h := NewHasher(cheap, 1, time.Hour)
		release, err := h.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, err := h.Hash(dctx, "password123"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v; want context.DeadlineExceeded", err)
		}
	})
	t.Run("with concurrency N, N hashes run and the N+1th is refused", func(t *testing.T) {
		const n = 3
		h := NewHasher(cheap, n, 20*time.Millisecond)
		var releases []func()
		for range n - 1 {
			r, err := h.acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			releases = append(releases, r)
		}
		if _, err := h.Hash(ctx, "password123"); err != nil {
			t.Errorf("Hash with one slot free: %v", err)
		}
		r, err := h.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
		if _, err := h.Hash(ctx, "password123"); !errors.Is(err, ErrBusy) {
			t.Errorf("Hash with all %d slots held = %v; want ErrBusy", n, err)
		}
		for _, r := range releases {
			r()
		}
	})
	t.Run("concurrent callers within the timeout all succeed, one at a time", func(t *testing.T) {
		h := NewHasher(cheap, 1, 10*time.Second)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				_, err := h.Hash(ctx, "password123")
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Hash: %v", err)
			}
		}
		if len(h.slots) != 0 {
			t.Errorf("%d slots still held after every hash returned", len(h.slots))
		}
	})
	t.Run("concurrency 0 means one slot per CPU", func(t *testing.T) {
		if h := NewHasher(cheap, 0, time.Second); cap(h.slots) < 1 {
			t.Errorf("slots = %d; want at least 1", cap(h.slots))
		}
	})
}

// TestBusyUnderLoad is the black-box version: with one slot and a queue
// timeout far shorter than a hash, a burst of concurrent logins sees some
// refused with ErrBusy and none failing otherwise.
func TestBusyUnderLoad(t *testing.T) {
	slow := Params{Memory: 4 * 1024, Time: 8, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := NewHasher(slow, 1, time.Microsecond)
	const n = 8
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			<-start
			_, err := h.Hash(context.Background(), "password123")
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	var ok, busy int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrBusy):
			busy++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok < 1 || busy < 1 {
		t.Errorf("%d succeeded, %d busy; want at least one of each", ok, busy)
	}
}

// BenchmarkHashDefault is the cost of one signup or password change with the
// production parameters.
func BenchmarkHashDefault(b *testing.B) {
	h := NewHasher(DefaultParams, 1, time.Minute)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyDefault is the cost of one login with the production
// parameters.
func BenchmarkVerifyDefault(b *testing.B) {
	h := NewHasher(DefaultParams, 1, time.Minute)
	ctx := context.Background()
	phc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Verify(ctx, "correct horse battery staple", phc); err != nil {
			b.Fatal(err)
		}
	}
}
