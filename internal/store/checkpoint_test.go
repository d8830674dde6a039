package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/models"
)

// TestWALCheckpointedInBackground: on SQLite, a commit checkpoints by itself
// only past 20,000 pages of log (the safety net), and committed writes reach
// the database file within a fraction of a second all the same, copied from
// the write-ahead log by the store's background checkpoints; closing the
// store stops them.
func TestWALCheckpointedInBackground(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authql.db")
	st, err := store.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	var autocheckpoint int
	if err := st.Pools()["write"].QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&autocheckpoint); err != nil {
		t.Fatal(err)
	}
	if autocheckpoint != 20000 {
		t.Errorf("the writer checkpoints by itself past %d pages, want 20000", autocheckpoint)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	time.Sleep(300 * time.Millisecond) // what opening wrote is checkpointed
	before := size()
	detail := strings.Repeat("x", 60)
	for range 100 {
		err := st.InTx(ctx, func(q *store.Queries) error {
			return q.InsertAuditEvent(ctx, &models.AuditEvent{CreatedAt: st.Now(), Type: "test", Detail: &detail, Count: 1})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for size() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("the database file is still %d bytes 3 s after 100 commits: the log was not checkpointed", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
