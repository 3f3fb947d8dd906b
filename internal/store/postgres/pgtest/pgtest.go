// Package pgtest gives each test a PostgreSQL schema of its own on the
// server named by PROBITY_TEST_POSTGRES.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/probity-dev/probity/internal/store/postgres"
	"github.com/probity-dev/probity/internal/store/storetest"
)

// TempDSN creates an empty schema on the test server named by
// PROBITY_TEST_POSTGRES and returns a DSN whose search_path selects it, so
// that each test gets a database of its own. The schema is dropped when the
// test ends. Without the variable the test is skipped (failed under CI).
func TempDSN(t testing.TB) string {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	var b [8]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])

	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(t.Context(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("creating test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("dropping test schema %s: %v", schema, err)
		}
	})

	// Unknown parameters reach the server as session settings.
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal("PROBITY_TEST_POSTGRES is not a valid URL")
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// Open opens a migrated store on a fresh schema (see TempDSN), closed and
// dropped when the test ends.
func Open(t testing.TB) *postgres.DB {
	t.Helper()
	dsn := TempDSN(t)
	db, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("opening test store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
