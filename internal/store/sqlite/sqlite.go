// Package sqlite is the embedded store driver: one SQLite file in WAL mode
// through modernc.org/sqlite (pure Go, no cgo), with a single writer
// connection and a pool of read-only connections.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/probity-dev/probity/internal/store"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is a Store on one SQLite file.
type DB struct {
	w       *sql.DB // exactly one connection: SQLite has one writer
	r       *sql.DB // read-only connections for View
	writer  pool    // holds the one write connection
	readers pool
	latest  int
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed) the database file at path and migrates it.
func Open(ctx context.Context, path string) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		"synchronous(FULL)", // an acknowledged write survives power loss too
		"foreign_keys(1)",
	} {
		q.Add("_pragma", p)
	}
	wq := url.Values{"_txlock": {"immediate"}} // for the migrations
	for k, v := range q {
		wq[k] = v
	}
	rq := url.Values{}
	for k, v := range q {
		rq[k] = v
	}
	rq.Add("_pragma", "query_only(1)")

	w, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{w: w}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	wc, err := newConn(ctx, w, "BEGIN IMMEDIATE")
	if err != nil {
		w.Close()
		return nil, err
	}
	db.writer = make(pool, 1)
	db.writer.put(wc)
	r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n + 1) // one more for Ping
	r.SetMaxIdleConns(n + 1)
	r.SetConnMaxIdleTime(0)
	db.r, db.readers = r, make(pool, n)
	for range n {
		c, err := newConn(ctx, r, "BEGIN")
		if err != nil {
			db.Close()
			return nil, err
		}
		db.readers.put(c)
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	ms, err := store.ReadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	db.latest = ms[len(ms)-1].Version
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	for _, m := range ms {
		// Each migration runs in its own immediate transaction, which takes the
		// write lock: a second process migrating at once waits, then skips.
		err := db.update(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, store.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("applying migration %s: %w", m.Name, err)
		}
	}
	return nil
}

func (db *DB) update(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning write transaction: %w", err)
	}
	// Rolling back after a commit is a no-op; after a panic in fn it frees
	// the one writer connection instead of leaving every write blocked.
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// Update runs fn in a transaction on the one write connection; writers
// queue for it in turn.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	c, err := db.writer.get(ctx)
	if err != nil {
		return fmt.Errorf("waiting for the writer: %w", err)
	}
	defer db.writer.put(c)
	return c.run(ctx, true, func(t *txn) error { return fn(t) })
}

// View runs fn in a read transaction on one of the read-only connections:
// every query in fn sees the same snapshot.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	c, err := db.readers.get(ctx)
	if err != nil {
		return fmt.Errorf("waiting for a reader: %w", err)
	}
	defer db.readers.put(c)
	return c.run(ctx, false, func(t *txn) error { return fn(t) })
}

// Ping checks that the file answers and carries the newest migration.
func (db *DB) Ping(ctx context.Context) error {
	var v sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if int(v.Int64) < db.latest {
		return fmt.Errorf("%w: at %d, want %d", store.ErrNotMigrated, v.Int64, db.latest)
	}
	return nil
}

// Close expects callers to have stopped their work. It waits a little for
// transactions still ending (their connections come back to the pools),
// then checkpoints the WAL so that the file is whole on its own.
func (db *DB) Close() error {
	var errs []error
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	if db.r != nil {
		for range cap(db.readers) {
			select {
			case c := <-db.readers:
				errs = append(errs, c.close())
				continue
			case <-deadline.C:
				errs = append(errs, errors.New("closing: a read transaction is still running"))
			}
			break
		}
		errs = append(errs, db.r.Close())
	}
	if db.writer != nil {
		select {
		case c := <-db.writer:
			errs = append(errs, c.close())
		case <-deadline.C:
			errs = append(errs, errors.New("closing: a write transaction is still running"))
		}
	}
	// A connection just given back may still be finishing with the file:
	// the checkpoint is tried again for a short while if it is busy.
	for try := 0; ; try++ {
		_, err := db.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		if err == nil {
			break
		}
		if try < 20 && (strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "busy")) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		errs = append(errs, fmt.Errorf("checkpointing wal: %w", err))
		break
	}
	errs = append(errs, db.w.Close())
	return errors.Join(errs...)
}
