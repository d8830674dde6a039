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

// TestWALCheckpointedInBackground: on SQLite, committed writes reach the
// database file within a fraction of a second, copied from the write-ahead
// log by the store's background checkpoints, although they are far fewer
// than the pages after which a commit would checkpoint by itself; and
// closing the store stops them.
func TestWALCheckpointedInBackground(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authql.db")
	st, err := store.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
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
