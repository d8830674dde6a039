package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
	"github.com/authql/authql/models"
)

func queueMails(t *testing.T, s *store.Store, n int, due time.Time) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("mail-%03d", i)
		m := &models.OutboxMail{
			ID: ids[i], Kind: "verify_email", Recipient: "a@example.com", Body: []byte{1, 2, 3},
			NextAttemptAt: due, CreatedAt: due, ExpiresAt: due.Add(time.Hour),
		}
		if err := s.EnqueueMail(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// TestClaimMailLeases: a claimed mail is nobody else's until its lease ends;
// a failure releases it until its next attempt; a stale holder changes
// nothing; delivery deletes it.
func TestClaimMailLeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		s, _ := open(t, db)
		now := testNow()
		queueMails(t, s, 3, now)
		lease := time.Minute

		got, err := s.ClaimMail(t.Context(), now, 2, "a", lease)
		if err != nil || len(got) != 2 {
			t.Fatalf("first claim: %d rows, %v", len(got), err)
		}
		if *got[0].ClaimedBy != "a" || !got[0].ClaimedUntil.Equal(now.Add(lease)) {
			t.Errorf("claimed by %q until %v", *got[0].ClaimedBy, got[0].ClaimedUntil)
		}
		rest, err := s.ClaimMail(t.Context(), now, 10, "b", lease)
		if err != nil || len(rest) != 1 || rest[0].ID == got[0].ID || rest[0].ID == got[1].ID {
			t.Fatalf("second claim took %v, %v; want the one unclaimed mail", rest, err)
		}
		if again, _ := s.ClaimMail(t.Context(), now.Add(lease-time.Millisecond), 10, "c", lease); len(again) != 0 {
			t.Fatalf("claimed %d leased mails", len(again))
		}

		// a fails its mail: due again at next, not before.
		next := now.Add(10 * time.Second)
		if ok, err := s.MarkMailFailed(t.Context(), got[0].ID, "a", next, "smtp_4xx"); !ok || err != nil {
			t.Fatalf("MarkMailFailed by its holder: %v, %v", ok, err)
		}
		if early, _ := s.ClaimMail(t.Context(), next.Add(-time.Millisecond), 10, "c", lease); len(early) != 0 {
			t.Fatalf("claimed a failed mail before its next attempt")
		}
		retry, err := s.ClaimMail(t.Context(), next, 10, "c", lease)
		if err != nil || len(retry) != 1 || retry[0].ID != got[0].ID || retry[0].Attempts != 1 || *retry[0].LastError != "smtp_4xx" {
			t.Fatalf("retry claim: %+v, %v", retry, err)
		}
		// a's lease on it is gone: its late report changes nothing.
		if ok, _ := s.MarkMailFailed(t.Context(), got[0].ID, "a", now, "timeout"); ok {
			t.Error("a stale holder recorded a failure")
		}
		if ok, _ := s.DropMail(t.Context(), got[0].ID, "a"); ok {
			t.Error("a stale holder dropped the mail")
		}

		// b's lease ends unreported (b died): the mail is due again.
		after, err := s.ClaimMail(t.Context(), now.Add(lease), 10, "d", lease)
		if err != nil || len(after) != 2 {
			t.Fatalf("after the leases ended: %d rows, %v; want a's other and b's", len(after), err)
		}

		if n, err := s.MailQueueDepth(t.Context()); n != 3 || err != nil {
			t.Errorf("depth %d, %v; want 3", n, err)
		}
		for _, id := range []string{got[0].ID, got[1].ID} {
			if err := s.MarkMailDelivered(t.Context(), id); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := s.DropMail(t.Context(), rest[0].ID, "d"); !ok || err != nil {
			t.Fatalf("DropMail by its holder: %v, %v", ok, err)
		}
		if n, err := s.MailQueueDepth(t.Context()); n != 0 || err != nil {
			t.Errorf("depth %d, %v; want 0", n, err)
		}
	})
}

// TestClaimMailConcurrent: claimers racing on one database, each with its
// own pools as separate instances have, never take the same mail.
func TestClaimMailConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		instances := []*store.Store{}
		for range 4 {
			s, _ := open(t, db)
			instances = append(instances, s)
		}
		now := testNow()
		queueMails(t, instances[0], 200, now)

		var mu sync.Mutex
		claimed := make(map[string]string)
		var wg sync.WaitGroup
		for i, s := range instances {
			for j := range 3 {
				owner := fmt.Sprintf("instance-%d-%d", i, j)
				wg.Go(func() {
					for {
						rows, err := s.ClaimMail(t.Context(), now, 5, owner, time.Minute)
						if err != nil {
							t.Error(err)
							return
						}
						if len(rows) == 0 {
							return
						}
						mu.Lock()
						for _, r := range rows {
							if prev, dup := claimed[r.ID]; dup {
								t.Errorf("%s claimed by %s and %s", r.ID, prev, owner)
							}
							claimed[r.ID] = owner
						}
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		if len(claimed) != 200 {
			t.Errorf("%d of 200 mails claimed", len(claimed))
		}
	})
}
