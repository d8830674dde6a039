package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authql/authql/internal/store"
)

// migrateArgs splits `authql migrate [up|status|down-to VERSION] [flags]`
// into the subcommand with its operand and the flags left for config.Load.
func migrateArgs(args []string) (sub, rest []string, err error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return []string{"up"}, args, nil
	}
	switch args[0] {
	case "up", "status":
		return args[:1], args[1:], nil
	case "down-to":
		if len(args) < 2 {
			return nil, nil, errors.New("migrate down-to: want the VERSION to keep (0 rolls back every migration)")
		}
		v, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("migrate down-to: %q is not a version (want the VERSION to keep, 0 rolls back every migration)", args[1])
		}
		if v < 0 {
			return nil, nil, errors.New("migrate down-to: there is nothing below version 0")
		}
		return args[:2], args[2:], nil
	}
	return nil, nil, fmt.Errorf("migrate: unknown command %q (want up, status or down-to VERSION)", args[0])
}

func migrateCommand(ctx context.Context, dbURL string, sub []string, stdout io.Writer, log *slog.Logger) error {
	m, err := store.OpenMigrator(ctx, dbURL)
	if err != nil {
		return err
	}
	defer m.Close()
	switch sub[0] {
	case "status":
		st, schema, err := m.Status(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "VERSION\tSTATE\tAPPLIED AT\tMIGRATION")
		for _, s := range st {
			state, at := "pending", "-"
			if s.Applied {
				state, at = "applied", s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", s.Version, state, at, s.Name)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if schema.Newer() {
			fmt.Fprintf(stdout, "the database is at version %d, newer than this binary's %d: a newer release migrated it\n", schema.Version, schema.Newest)
		}
		return nil
	case "down-to":
		v, _ := strconv.ParseInt(sub[1], 10, 64) // checked by migrateArgs
		schema, err := m.DownTo(ctx, v)
		if err != nil {
			return err
		}
		log.Info("schema rolled back", "rolled_back", schema.Applied, "version", schema.Version)
		return nil
	}
	schema, err := m.Up(ctx)
	if err != nil {
		return err
	}
	if schema.Newer() {
		log.Info("schema is newer than this binary: a newer release migrated it; nothing to apply", "version", schema.Version, "binary_newest", schema.Newest)
		return nil
	}
	log.Info("schema is up to date", "applied", schema.Applied, "version", schema.Version)
	return nil
}
