package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authql/authql/internal/store/storetest"
)

func TestPruneKeepsDetectionUntilSessionsExpire(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		clk := newClock()
		e := startClocked(t, db, clk, "AUTHQL_SESSION_MAX_AGE=1s", "AUTHQL_AUDIT_RETENTION=1ms")
		short := e.signup(newEmail(), pw)
		e.refresh(short.refresh())
		live := startClocked(t, db, clk, "AUTHQL_REFRESH_REUSE_GRACE=0s") // the same database, sessions of the default age
		kept := live.signup(newEmail(), pw)
		live.refresh(kept.refresh())
		clk.Advance(1100 * time.Millisecond)

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { e.App.RunBackground(ctx); close(done) }()
		deadline := time.Now().Add(5 * time.Second)
		sid := sessionID(t, short.AccessToken)
		for strings.Contains(rawDump(t, db), sid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		dump := rawDump(t, db)
		for _, line := range strings.Split(dump, "\n") {
			if strings.Contains(line, sid) {
				t.Fatalf("expired session or its tokens not pruned: %s", line)
			}
		}
		// The live session keeps its spent token, so its reuse is still caught.
		if _, resp := live.refresh(kept.refresh()); resp.code() != "INVALID_REFRESH_TOKEN" {
			t.Fatalf("reuse after pruning: %s", resp.Raw)
		}
		if strings.Contains(dump, "|signup|") {
			t.Fatal("audit events older than the retention were kept")
		}
	})
}
