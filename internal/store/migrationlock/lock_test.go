package migrationlock_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authql/authql/internal/store/migrationlock"
	"github.com/authql/authql/internal/store/storetest"
)

func locker(t *testing.T, db storetest.Backend, holder string, lease, heartbeat, wait time.Duration) *migrationlock.Locker {
	t.Helper()
	l, err := migrationlock.New(migrationlock.Config{Dialect: db.Name, Holder: holder, Lease: lease, Heartbeat: heartbeat, Wait: wait})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSecondHolderWaits: while one instance holds the lock another waits,
// gives up after its wait naming the holder, and gets it once released.
func TestSecondHolderWaits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		ctx := context.Background()
		a := locker(t, db, "instance-a", time.Minute, time.Second, time.Second)
		b := locker(t, db, "instance-b", time.Minute, time.Second, 300*time.Millisecond)
		sa, sb := storetest.SQL(t, db), storetest.SQL(t, db)
		if err := a.Lock(ctx, sa); err != nil {
			t.Fatal(err)
		}
		err := b.Lock(ctx, sb)
		if !errors.Is(err, migrationlock.ErrTimeout) || !strings.Contains(err.Error(), "held by instance-a") {
			t.Fatalf("second Lock while held: %v", err)
		}
		got := make(chan error, 1)
		b = locker(t, db, "instance-b", time.Minute, time.Second, 10*time.Second)
		go func() { got <- b.Lock(ctx, sb) }()
		select {
		case err := <-got:
			t.Fatalf("second Lock returned while the first held it: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if err := a.Unlock(ctx, sa); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("second Lock after release: %v", err)
		}
		if h := holder(t, db); h != "instance-b" {
			t.Fatalf("row held by %q", h)
		}
		if err := b.Unlock(ctx, sb); err != nil {
			t.Fatal(err)
		}
		if h := holder(t, db); h != "" {
			t.Fatalf("row left after release: %q", h)
		}
	})
}

// TestTakesOverExpiredLease: a holder that died (its row's lease ran out)
// does not block the next instance.
func TestTakesOverExpiredLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		ctx := context.Background()
		raw := storetest.SQL(t, db)
		if err := migrationlock.CreateTable(ctx, raw, db.Name); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec("INSERT INTO "+migrationlock.Table+" (id, holder, acquired_at_ms, expires_at_ms) VALUES (1, 'dead-instance', 0, ?)",
			time.Now().Add(-time.Second).UnixMilli()); err != nil {
			t.Fatal(err)
		}
		l := locker(t, db, "survivor", time.Minute, time.Second, 2*time.Second)
		if err := l.Lock(ctx, raw); err != nil {
			t.Fatalf("did not take over an expired lease: %v", err)
		}
		defer l.Unlock(ctx, raw)
		if h := holder(t, db); h != "survivor" {
			t.Fatalf("row held by %q", h)
		}
	})
}

// TestHeartbeatKeepsLease: a holder that runs longer than its lease keeps
// the lock: its heartbeat renews the lease, so a waiter never takes it over.
// A holder whose row was taken from it is told.
func TestHeartbeatKeepsLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		ctx := context.Background()
		lost := make(chan struct{})
		a, err := migrationlock.New(migrationlock.Config{Dialect: db.Name, Holder: "long-migration", Lease: 400 * time.Millisecond,
			Heartbeat: 50 * time.Millisecond, OnLost: func() { close(lost) }})
		if err != nil {
			t.Fatal(err)
		}
		sa := storetest.SQL(t, db)
		if err := a.Lock(ctx, sa); err != nil {
			t.Fatal(err)
		}
		b := locker(t, db, "waiter", time.Minute, time.Second, 1500*time.Millisecond)
		err = b.Lock(ctx, storetest.SQL(t, db))
		if !errors.Is(err, migrationlock.ErrTimeout) || !strings.Contains(err.Error(), "held by long-migration") {
			t.Fatalf("waiter after 1.5s against a 400ms lease: %v", err)
		}
		select {
		case <-lost:
			t.Fatal("holder told it lost the lock")
		default:
		}
		// Someone deletes the row (an operator, or a takeover after the
		// holder was cut off for a whole lease): the holder learns it.
		if _, err := storetest.SQL(t, db).Exec("UPDATE " + migrationlock.Table + " SET holder = 'thief'"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-lost:
		case <-time.After(5 * time.Second):
			t.Fatal("holder not told its lock was taken")
		}
		if err := a.Unlock(ctx, sa); err != nil {
			t.Fatal(err)
		}
		if h := holder(t, db); h != "thief" {
			t.Fatalf("the old holder released someone else's lock: row held by %q", h)
		}
	})
}

// TestNeverTwoHolders: many instances acquiring and releasing at once, each
// on its own connections: at no moment do two hold the lock.
func TestNeverTwoHolders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		ctx := context.Background()
		const instances, rounds = 8, 5
		var holding, most, total atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, instances)
		for i := range instances {
			l := locker(t, db, fmt.Sprintf("instance-%d", i), 10*time.Second, time.Second, 30*time.Second)
			conn := storetest.SQL(t, db)
			wg.Go(func() {
				for range rounds {
					if err := l.Lock(ctx, conn); err != nil {
						errs <- err
						return
					}
					n := holding.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					time.Sleep(2 * time.Millisecond)
					holding.Add(-1)
					total.Add(1)
					if err := l.Unlock(ctx, conn); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if most.Load() != 1 || total.Load() != instances*rounds {
			t.Fatalf("at most %d holders at once (want 1), %d acquisitions (want %d)", most.Load(), total.Load(), instances*rounds)
		}
	})
}

func holder(t *testing.T, db storetest.Backend) string {
	t.Helper()
	var h string
	err := storetest.SQL(t, db).QueryRow("SELECT holder FROM " + migrationlock.Table + " WHERE id = 1").Scan(&h)
	if err != nil && !strings.Contains(err.Error(), "no rows") {
		t.Fatal(err)
	}
	return h
}
