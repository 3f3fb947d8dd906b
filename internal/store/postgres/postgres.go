// Package postgres is the PostgreSQL store driver, for deployments where
// several replicas share one database. It speaks to the server through a
// github.com/jackc/pgx/v5 connection pool; writes run concurrently and are
// ordered where it matters by row locks (audit numbering locks the org row).
package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/probity-dev/probity/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrateLockKey is the transaction-level advisory lock taken while
// migrating ("probity" in ASCII), so concurrent starts apply each migration
// once.
const migrateLockKey int64 = 0x70726f62697479

// DB is a Store on one PostgreSQL database (or one schema of it, per the
// connection's search_path).
type DB struct {
	pool   *pgxpool.Pool
	latest int
}

var _ store.Store = (*DB)(nil)

// Open connects to the database at dsn (a postgres:// URL or key=value
// string, as libpq reads them) and migrates it. Parameters pgx does not know,
// such as search_path, are sent to the server as session settings.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The error may quote the DSN, password included, so it is not wrapped.
		return nil, fmt.Errorf("parsing postgres dsn: invalid connection string")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening postgres pool: %w", err)
	}
	db := &DB{pool: pool}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	ms, err := store.ReadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	db.latest = ms[len(ms)-1].Version
	for _, m := range ms {
		err := db.update(ctx, func(tx pgx.Tx) error {
			// The lock is held until this transaction ends; a second process
			// waits here, then sees the migration recorded and skips it.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			// Without arguments pgx uses the simple protocol, which accepts
			// several statements in one string.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, store.Now())
			return err
		})
		if err != nil {
			return fmt.Errorf("applying migration %s: %w", m.Name, err)
		}
	}
	return nil
}

func (db *DB) update(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadWrite})
	if err != nil {
		return fmt.Errorf("beginning write transaction: %w", err)
	}
	// A no-op after a commit; after an error or a panic in fn it returns the
	// connection to the pool, even when ctx is already canceled.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// Update runs fn in a read-write transaction at READ COMMITTED.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	return db.update(ctx, func(tx pgx.Tx) error { return fn(&txn{tx: tx}) })
}

// View runs fn in a read-only REPEATABLE READ transaction, so every query
// in fn sees the same snapshot.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("beginning read transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return fn(&txn{tx: tx})
}

// Ping checks that the server answers and carries the newest migration.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pinging postgres: %w", err)
	}
	var v int
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if v < db.latest {
		return fmt.Errorf("%w: at %d, want %d", store.ErrNotMigrated, v, db.latest)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be released.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}
