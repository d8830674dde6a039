// Command me serves the me ceiling (see package ceiling) on -addr, for the
// database at AUTHQL_DATABASE_URL and the token settings authql takes:
// AUTHQL_JWT_SECRET, AUTHQL_ISSUER and AUTHQL_AUDIENCE (both "authql" by
// default). It answers GET /readyz, as authql does, once the database does.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/authql/authql/bench/ceiling"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling me:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run() error {
	addr := env("AUTHQL_ADDR", "127.0.0.1:8090")
	secret := os.Getenv("AUTHQL_JWT_SECRET")
	if len(secret) < 32 {
		return fmt.Errorf("AUTHQL_JWT_SECRET must be authql's secret (32 bytes or more)")
	}
	db, err := ceiling.Open(env("AUTHQL_DATABASE_URL", "sqlite://authql.db"))
	if err != nil {
		return err
	}
	me := ceiling.MeHandler(db, []byte(secret), env("AUTHQL_ISSUER", "authql"), env("AUTHQL_AUDIENCE", "authql"))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		sqlDB, _ := db.DB()
		if err := sqlDB.PingContext(r.Context()); err != nil {
			http.Error(w, "database", http.StatusServiceUnavailable)
		}
	})
	mux.Handle("/graphql", me)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}
