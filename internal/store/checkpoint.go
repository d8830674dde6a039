package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// SQLite in WAL mode appends every commit to the write-ahead log and copies
// the log into the database file at checkpoints. By default the connection
// whose commit takes the log past 1000 pages runs the checkpoint itself,
// inside that commit: it copies the pages and syncs the file while holding
// the one writer every other write queues behind. Under a stream of refreshes
// those stalls cost a third of the throughput (BENCHMARKS.md).
//
// The store's writer checkpoints only past 20000 pages (sqliteWriter), a
// safety net for when the background cannot keep up; a checkpointer goroutine
// on a connection of its own checkpoints every sqliteCheckpointEvery, in
// PASSIVE mode: it never waits for a reader or the writer, and the writer
// never waits for it.
const sqliteCheckpointEvery = 100 * time.Millisecond

// checkpointer runs PASSIVE checkpoints of one database in the background.
type checkpointer struct {
	db     *sql.DB
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// startCheckpointer opens a connection to the database at path (which the
// store's writer has put in WAL mode) and checkpoints on it every interval
// until close.
func startCheckpointer(path string, every time.Duration) (*checkpointer, error) {
	db, err := sql.Open("sqlite", path+sqliteCommon)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, cancel: cancel}
	c.done.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// An error (the database busy with another process's
				// checkpoint, say) is left for the next tick; past the safety
				// bound the writer checkpoints itself.
				_, _ = db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
			}
		}
	})
	return c, nil
}

// close stops the checkpoints and closes the connection.
func (c *checkpointer) close() error {
	c.cancel()
	c.done.Wait()
	return c.db.Close()
}
