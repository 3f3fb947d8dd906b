package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// conn is one SQLite connection held for the life of the store, with its
// statements prepared once. Transactions are plain BEGIN/COMMIT statements
// on it: database/sql's Tx would re-parse them and start a goroutine for
// every transaction, which is most of the cost of a point read.
// A conn is used by one goroutine at a time (it lives in a pool channel).
type conn struct {
	c     *sql.Conn
	begin string // BEGIN for readers, BEGIN IMMEDIATE for the writer
	stmts map[string]*sql.Stmt
}

func newConn(ctx context.Context, db *sql.DB, begin string) (*conn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite connection: %w", err)
	}
	return &conn{c: c, begin: begin, stmts: map[string]*sql.Stmt{}}, nil
}

// stmt returns query prepared on this connection.
func (c *conn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := c.stmts[query]; ok {
		return s, nil
	}
	s, err := c.c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = s
	return s, nil
}

// run executes fn between BEGIN and COMMIT (or ROLLBACK when fn fails,
// panics, or commit is false). The statements that end the transaction run
// without ctx's cancellation so that a canceled request never leaves the
// connection inside an open transaction.
func (c *conn) run(ctx context.Context, commit bool, fn func(*txn) error) (err error) {
	bg := context.WithoutCancel(ctx)
	if err := c.exec(ctx, c.begin); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	done := false
	defer func() {
		if !done {
			c.exec(bg, "ROLLBACK")
		}
	}()
	if err := fn(&txn{c: c}); err != nil {
		return err
	}
	done = true
	if !commit {
		return c.exec(bg, "ROLLBACK")
	}
	if err := c.exec(bg, "COMMIT"); err != nil {
		c.exec(bg, "ROLLBACK")
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

func (c *conn) exec(ctx context.Context, query string) error {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return err
	}
	_, err = s.ExecContext(ctx)
	return err
}

func (c *conn) close() error {
	for _, s := range c.stmts {
		s.Close()
	}
	return c.c.Close()
}

// pool hands out a fixed set of connections.
type pool chan *conn

func (p pool) get(ctx context.Context) (*conn, error) {
	select {
	case c := <-p:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p pool) put(c *conn) { p <- c }

// txn implements store.Tx on a conn inside a transaction.
type txn struct{ c *conn }

func (t *txn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := t.c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

func (t *txn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := t.c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// execVar and queryVar run SQL whose text varies with its arguments (a
// multi-row INSERT, an IN list). Only the full-size form is kept prepared;
// the others run unprepared, so that the cache does not keep a statement
// for every batch size ever seen.
func (t *txn) execVar(ctx context.Context, full bool, query string, args ...any) (sql.Result, error) {
	if full {
		return t.exec(ctx, query, args...)
	}
	return t.c.c.ExecContext(ctx, query, args...)
}

func (t *txn) queryVar(ctx context.Context, full bool, query string, args ...any) (*sql.Rows, error) {
	if full {
		return t.query(ctx, query, args...)
	}
	return t.c.c.QueryContext(ctx, query, args...)
}

// row is a *sql.Row or a preparation error, scanned alike.
type row struct {
	r   *sql.Row
	err error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.r.Scan(dest...)
}

func (t *txn) queryRow(ctx context.Context, query string, args ...any) row {
	s, err := t.c.stmt(ctx, query)
	if err != nil {
		return row{err: err}
	}
	return row{r: s.QueryRowContext(ctx, args...)}
}
