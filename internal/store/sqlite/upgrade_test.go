package sqlite_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/sqlite"
)

// TestUpgradeRecordDays opens a database made by migrations 1–11 that
// holds records and checks that migration 14 counts them by day and type.
func TestUpgradeRecordDays(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "probity.db")
	ms, err := store.ReadMigrations(os.DirFS("."), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`)
	for _, m := range ms {
		if m.Version > 11 {
			break
		}
		exec(m.SQL)
		exec(`INSERT INTO schema_migrations VALUES (?, ?, 0)`, m.Version, m.Name)
	}
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range []struct {
		typ string
		at  time.Time
	}{{"tool_call", day.Add(time.Hour)}, {"tool_call", day.Add(9 * time.Hour)}, {"model_output", day.Add(2 * time.Hour)}, {"tool_call", day.Add(25 * time.Hour)}} {
		exec(`INSERT INTO records (org_id, id, agent_id, session_id, type, time, ledger_index) VALUES ('o', ?, 'bot', '', ?, ?, ?)`,
			fmt.Sprint(i), r.typ, r.at.UnixMicro(), i)
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("opening the old database: %v", err)
	}
	defer db.Close()
	err = db.View(ctx, func(tx store.Tx) error {
		got, err := tx.RecordDays(ctx, "o", "bot", day, day.Add(48*time.Hour))
		if err != nil {
			return err
		}
		want := []store.RecordDay{
			{Day: day, Type: "model_output", Count: 1, Last: day.Add(2 * time.Hour)},
			{Day: day, Type: "tool_call", Count: 2, Last: day.Add(9 * time.Hour)},
			{Day: day.Add(24 * time.Hour), Type: "tool_call", Count: 1, Last: day.Add(25 * time.Hour)},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("record days after the upgrade:\ngot  %v\nwant %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
