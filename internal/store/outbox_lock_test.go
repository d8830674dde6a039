package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/models"
)

// TestAccountDeletionLocksOnlyItsMail: while an account deletion's
// transaction is open after deleting the mail queued for its address (as
// auth's DeleteAccount does before deleting the user's rows), the mail sender
// still claims every other due mail, and mail for other addresses, the
// neighbours of the deleted one in index order included, is queued without
// waiting. On the first release's code (a DELETE by recipient with no index)
// the claim found nothing and every INSERT waited for the deletion to end.
//
// MySQL only: the locks are InnoDB's. SQLite has one writer, so there any
// other write waits for any transaction by design.
func TestAccountDeletionLocksOnlyItsMail(t *testing.T) {
	db := storetest.MySQL(t)
	s, _ := open(t, db)
	now := testNow()
	queue := func(ctx context.Context, recipient string) (string, error) {
		m := &models.OutboxMail{
			ID: uuid.NewString(), Kind: "verify_email", Recipient: recipient, Body: []byte("sealed"),
			NextAttemptAt: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		}
		return m.ID, s.InTx(ctx, func(q *store.Queries) error { return q.EnqueueMail(ctx, m) })
	}
	const deleted = "bob@example.com"
	var others []string
	for i := range 40 {
		// Addresses on both sides of the deleted one in index order.
		rcpt := []string{"alice@example.com", "carol@example.com", fmt.Sprintf("user%02d@example.com", i)}[i%3]
		id, err := queue(t.Context(), rcpt)
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, id)
	}
	var bobs []string
	for range 2 {
		id, err := queue(t.Context(), deleted)
		if err != nil {
			t.Fatal(err)
		}
		bobs = append(bobs, id)
	}

	// The deletion: the store's DeleteQueuedMail in a transaction held open
	// until release is closed.
	held := make(chan int64, 1)
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.InTx(context.Background(), func(q *store.Queries) error {
			n, err := q.DeleteQueuedMail(context.Background(), deleted)
			if err != nil {
				return err
			}
			held <- n
			<-release
			return nil
		})
	}()
	finish := sync.OnceValue(func() error {
		close(release)
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("the account deletion's transaction did not commit within 30 s")
		}
	})
	// Whatever fails below, let the deletion end so that statements still
	// waiting on the server finish and the database can be dropped.
	defer func() { _ = finish() }()
	select {
	case n := <-held:
		if n != 2 {
			t.Fatalf("DeleteQueuedMail deleted %d mails, want 2", n)
		}
	case err := <-done:
		t.Fatalf("the deletion ended early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("DeleteQueuedMail did not return within 30 s")
	}

	// A statement that waits on the deletion's locks waits until it commits
	// (or innodb_lock_wait_timeout, 50 s): 10 s is far beyond any
	// statement that does not wait, even on a loaded machine.
	const patience = 10 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	claimed, err := s.ClaimMail(ctx, now.Add(time.Second), 100, "sender", time.Minute)
	cancel()
	var got []string
	for _, m := range claimed {
		got = append(got, m.ID)
	}
	slices.Sort(got)
	slices.Sort(others)
	if err != nil || !slices.Equal(got, others) {
		t.Errorf("during the deletion the sender claimed %d mails (%v), want the other addresses' %d due mails: the deletion locks rows beyond its own", len(got), err, len(others))
	}

	var queued []string
	for _, rcpt := range []string{"bob2@example.com", "alice@example.com", "carol@example.com", "zed@example.com"} {
		ctx, cancel := context.WithTimeout(t.Context(), patience)
		start := time.Now()
		id, err := queue(ctx, rcpt)
		cancel()
		if err != nil {
			t.Errorf("queueing a mail for %s during the deletion failed after %v (%v): it waited on a lock (the deletion's, or a statement stuck behind one)", rcpt, time.Since(start).Round(time.Millisecond), err)
			continue
		}
		queued = append(queued, id)
	}

	if err := finish(); err != nil {
		t.Fatalf("the account deletion: %v", err)
	}
	raw := storetest.SQL(t, db)
	var left int
	if err := raw.QueryRow("SELECT COUNT(*) FROM outbox_mails WHERE id IN (?, ?)", bobs[0], bobs[1]).Scan(&left); err != nil || left != 0 {
		t.Errorf("the deleted address's mails left: %d, %v", left, err)
	}
	var total int
	if err := raw.QueryRow("SELECT COUNT(*) FROM outbox_mails").Scan(&total); err != nil || total != len(others)+len(queued) {
		t.Errorf("outbox holds %d mails (%v), want the %d others and %d queued during the deletion", total, err, len(others), len(queued))
	}

	// The address's mails are found through the index, not by a scan.
	var id, selectType, table, typ string
	var possible, key, keyLen, ref, rows, extra any
	err = raw.QueryRow("EXPLAIN SELECT id FROM outbox_mails WHERE recipient = ?", deleted).
		Scan(&id, &selectType, &table, &typ, &possible, &key, &keyLen, &ref, &rows, &extra)
	if k, _ := key.([]byte); err != nil || string(k) != "idx_outbox_mails_recipient" {
		t.Errorf("finding an address's mails uses key %q (%v), want idx_outbox_mails_recipient", k, err)
	}
}
