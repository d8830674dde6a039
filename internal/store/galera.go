package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/go-sql-driver/mysql"
)

// galeraSyncWait is the wsrep_sync_wait authql's connections to a Galera node
// run with: 1 (reads: SELECT, SHOW and BEGIN) + 2 (UPDATE and DELETE).
//
// Galera commits synchronously but applies asynchronously: a node answers a
// read from what it has applied so far, which may lack a write another node
// has already acknowledged. For authql that would be a security answer from
// the past: an access token of a session just logged out still working on
// another node, a session just created refused there, a rotated refresh token
// taken as current. With this setting each such statement (and the start of
// every transaction) first waits until the node has applied everything the
// cluster had committed when it was issued. INSERTs need no wait: a unique key
// taken on another node fails certification at COMMIT (1213), and InTx runs
// the transaction again.
//
// A node that is not in the primary component cannot wait and fails the
// statement at once (1205 or 1047): its instance answers SERVICE_UNAVAILABLE
// and /readyz 503 instead of serving stale state.
const galeraSyncWait = "3"

// syncWaitParam is the DSN parameter go-sql-driver turns into SET on every
// new connection.
const syncWaitParam = "wsrep_sync_wait"

// causal sets wsrep_sync_wait on cfg when the server is a Galera node
// (wsrep_on = 1), and reports whether it is one. A wsrep_sync_wait the URL
// sets itself is kept: the operator chose it.
func causal(ctx context.Context, cfg *mysql.Config) (galera bool, err error) {
	galera, err = isGalera(ctx, cfg.FormatDSN())
	if err != nil || !galera {
		return false, err
	}
	if _, set := cfg.Params[syncWaitParam]; !set {
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params[syncWaitParam] = galeraSyncWait
	}
	return true, nil
}

// isGalera asks the server whether it replicates with Galera. MariaDB always
// knows @@wsrep_on (OFF without a cluster); MySQL has no such variable (1193).
func isGalera(ctx context.Context, dsn string) (bool, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return false, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var on sql.NullInt64
	err = db.QueryRowContext(ctx, "SELECT @@wsrep_on").Scan(&on)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1193 {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return on.Int64 == 1, nil
}
