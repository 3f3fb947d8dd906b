package postgres_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/postgres"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
	"github.com/probity-dev/probity/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return pgtest.Open(t) })
}

// appliedMigrations counts the rows of schema_migrations on dsn's schema.
func appliedMigrations(t *testing.T, dsn string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(t.Context())
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatalf("counting migrations: %v", err)
	}
	return n
}

// TestMigrateTwice opens the same schema twice in a row: migrations already
// applied are skipped.
func TestMigrateTwice(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.TempDSN(t)
	for range 2 {
		db, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		if err := db.Ping(ctx); err != nil {
			t.Fatalf("ping: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
	if got, want := appliedMigrations(t, dsn), migrationFiles(t); got != want {
		t.Errorf("schema_migrations rows: got %d, want %d (one per migration)", got, want)
	}
}

// TestConcurrentOpen starts several processes' worth of Open at once on one
// empty schema: the advisory lock lets each migration apply exactly once.
func TestConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.TempDSN(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			db, err := postgres.Open(ctx, dsn)
			if err == nil {
				err = db.Ping(ctx)
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
	if got, want := appliedMigrations(t, dsn), migrationFiles(t); got != want {
		t.Errorf("schema_migrations rows: got %d, want %d (one per migration)", got, want)
	}
}

// TestPingNotMigrated shows Ping refusing a schema older than the binary.
func TestPingNotMigrated(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.TempDSN(t)
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer db.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DELETE FROM schema_migrations`); err != nil {
		t.Fatalf("forgetting migrations: %v", err)
	}
	if err := db.Ping(ctx); !errors.Is(err, store.ErrNotMigrated) {
		t.Errorf("ping: got %v, want %v", err, store.ErrNotMigrated)
	}
}

func TestOpenBadDSN(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:s3cret@[bad")
	if err == nil {
		t.Fatal("open: got no error, want one")
	}
	if got := err.Error(); got != "parsing postgres dsn: invalid connection string" {
		t.Errorf("error: got %q, want the password kept out", got)
	}
}

func migrationFiles(t *testing.T) int {
	ents, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
