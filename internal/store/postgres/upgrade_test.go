package postgres_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/postgres"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

// TestUpgradeRecordFacts opens a database made by migrations 1–5 that
// holds records (one with a NUL escape, which jsonb rejects) and checks
// that migration 6 backfills latency and failure from their leaves.
func TestUpgradeRecordFacts(t *testing.T) {
	dsn := pgtest.TempDSN(t)
	ctx := t.Context()
	ms, err := store.ReadMigrations(os.DirFS("."), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version > 5 {
			break
		}
		if _, err := conn.Exec(ctx, m.SQL); err != nil {
			t.Fatalf("migration %s: %v", m.Name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, $2, now())`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	for i, leaf := range []string{
		`{"kind":"record","record":{"id":"a","agentId":"bot","time":"2026-11-01T00:00:00Z","type":"model_output","content":"x\u0000y","latencyMs":900,"outcome":"failure"}}`,
		`{"kind":"record","record":{"id":"b","agentId":"bot","time":"2026-11-01T00:00:00Z","type":"error"}}`,
		`{"kind":"record","record":{"id":"c","agentId":"bot","time":"2026-11-01T00:00:00Z","type":"model_output","latencyMs":12.5}}`,
	} {
		if _, err := conn.Exec(ctx, `INSERT INTO ledger_entries (org_id, idx, data) VALUES ('o', $1, $2)`, i, []byte(leaf)); err != nil {
			t.Fatal(err)
		}
		typ := map[int]string{0: "model_output", 1: "error", 2: "model_output"}[i]
		if _, err := conn.Exec(ctx, `INSERT INTO records (org_id, id, agent_id, session_id, type, time, ledger_index) VALUES ('o', $1, 'bot', '', $2, now(), $3)`,
			string(rune('a'+i)), typ, i); err != nil {
			t.Fatal(err)
		}
	}
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("opening the old database: %v", err)
	}
	db.Close()
	rows, err := conn.Query(ctx, `SELECT id, latency_ms, failed FROM records ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := map[string]struct {
		lat    *float64
		failed bool
	}{"a": {ptr(900), true}, "b": {nil, true}, "c": {ptr(12.5), false}}
	n := 0
	for rows.Next() {
		var id string
		var lat *float64
		var failed bool
		if err := rows.Scan(&id, &lat, &failed); err != nil {
			t.Fatal(err)
		}
		w := want[id]
		if (lat == nil) != (w.lat == nil) || lat != nil && *lat != *w.lat || failed != w.failed {
			t.Errorf("record %s: got latency %v failed %v, want %v %v", id, lat, failed, w.lat, w.failed)
		}
		n++
	}
	if n != 3 {
		t.Errorf("got %d records, want 3", n)
	}
	// Migration 14 counted the records by day and type.
	var days []string
	drows, err := conn.Query(ctx, `SELECT agent_id || ' ' || type || ' ' || n FROM record_days WHERE org_id = 'o' ORDER BY type`)
	if err != nil {
		t.Fatal(err)
	}
	defer drows.Close()
	for drows.Next() {
		var d string
		if err := drows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		days = append(days, d)
	}
	if fmt.Sprint(days) != "[bot error 1 bot model_output 2]" {
		t.Errorf("record days after the upgrade: got %v", days)
	}
}

func ptr(f float64) *float64 { return &f }
