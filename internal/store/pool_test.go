package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
)

// TestMaxConnsBoundsServerConnections: however many requests run at once, a
// MySQL store holds at most AUTHQL_DB_MAX_CONNS connections on the server,
// which is what an operator sizes max_connections by.
func TestMaxConnsBoundsServerConnections(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []store.Option
		want int
	}{
		{"default", nil, store.DefaultMaxConns},
		{"configured", []store.Option{store.WithMaxConns(3)}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.MySQL(t)
			st, err := store.Open(context.Background(), db.URL, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			pool := st.Pools()["write"]
			// Twice as many queries as connections, each holding its
			// connection long enough for all of them to be in flight.
			var mu sync.Mutex
			seen := map[int64]bool{}
			var wg sync.WaitGroup
			for range 2 * tc.want {
				wg.Go(func() {
					var id int64
					var slept int
					if err := pool.QueryRow("SELECT CONNECTION_ID(), SLEEP(0.2)").Scan(&id, &slept); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					seen[id] = true
					mu.Unlock()
				})
			}
			wg.Wait()
			if len(seen) > tc.want {
				t.Errorf("%d server connections in use, want at most %d", len(seen), tc.want)
			}
			if len(seen) < tc.want {
				t.Errorf("only %d server connections were used for %d queries in flight; the pool should open %d", len(seen), 2*tc.want, tc.want)
			}
		})
	}
}
