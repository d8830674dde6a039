package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/authql/authql/internal/store"
	"github.com/authql/authql/internal/store/storetest"
)

// TestInstancesStartTogether: several instances opening one fresh database at
// once all start; none fails because another created a table first.
func TestInstancesStartTogether(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Backend) {
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := store.Open(context.Background(), db.URL)
				if err == nil {
					err = s.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
		}
	})
}
