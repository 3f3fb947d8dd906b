package api

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/pact"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/sqlite"
)

// newSQLiteServer is a Server on a fresh SQLite store, for tests that
// look inside it.
func newSQLiteServer(t *testing.T) (*Server, *sqlite.DB) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "probity.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := New(Options{Store: db, Config: DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

// The violation cache answers exactly what a fresh read answers: as the
// window moves, when a violation is added (through any server: the check
// is the store's), and for one timed after the window.
func TestViolationFactsMatchStore(t *testing.T) {
	ctx := context.Background()
	s, db := newSQLiteServer(t)
	other, err := New(Options{Store: db, Config: DefaultConfig()}) // another replica on the same database
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	update := func(fn func(tx store.Tx) error) {
		t.Helper()
		if err := db.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	update(func(tx store.Tx) error {
		if err := tx.CreateOrg(ctx, probity.Org{ID: "o", CreatedAt: base}); err != nil {
			return err
		}
		return tx.CreateAgent(ctx, "o", probity.Agent{ID: "a", Status: probity.StatusActive, CreatedAt: base, UpdatedAt: base})
	})
	n := 0
	add := func(at time.Time) {
		n++
		update(func(tx store.Tx) error {
			return tx.InsertViolations(ctx, "o", []store.Violation{{ID: fmt.Sprintf("v%d", n), AgentID: "a", PactID: "p", PactVersion: 1,
				Clause: "scope.tools", Kind: pact.KindOutput, Severity: "major", RecordIDs: []string{"r"},
				Explanation: "model output contains xss payload", Time: at, LedgerIndex: int64(n)}})
		})
	}
	for d := range 10 {
		add(base.Add(time.Duration(d) * 24 * time.Hour))
	}
	check := func(srv *Server, from, to time.Time, want int) {
		t.Helper()
		var got []violationFact
		err := db.View(ctx, func(tx store.Tx) error {
			var err error
			got, err = srv.violationFacts(ctx, tx, "o", "a", from, to)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Errorf("[%s, %s): got %d violations, want %d", from.Format(time.DateOnly), to.Format(time.DateOnly), len(got), want)
		}
		for _, f := range got {
			if f.Time.Before(from) || !f.Time.Before(to) || f.Detail != "xss" {
				t.Errorf("[%s, %s): got %+v", from, to, f)
			}
		}
	}
	day := func(d int) time.Time { return base.Add(time.Duration(d) * 24 * time.Hour) }
	check(s, day(0), day(10), 10)
	check(s, day(0), day(10), 10) // from memory
	check(s, day(3), day(10), 7)  // the window moved on
	check(s, day(3), day(5), 2)
	add(day(20))                 // timed after the window
	check(s, day(3), day(10), 7) // re-read: the latest changed
	check(s, day(3), day(21), 8) // the later one is in the kept list
	add(day(21))
	check(other, day(3), day(22), 9) // the other replica's cache is filled
	add(day(22))
	check(other, day(3), day(23), 10) // and notices a violation added elsewhere
	check(s, day(0), day(23), 13)     // an earlier start than the kept list's is read again
}

// While a transaction writes an agent, and until it has ended, the gate
// neither answers from its copy of the agent's status nor keeps one it
// read: the moment the write commits, before the server hears it ended,
// is covered too.
func TestGateStatusDuringWrite(t *testing.T) {
	ctx := context.Background()
	s, _ := newSQLiteServer(t)
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateOrg(ctx, probity.Org{ID: "o", CreatedAt: now}); err != nil {
			return err
		}
		return tx.CreateAgent(ctx, "o", probity.Agent{ID: "a", Status: probity.StatusActive, CreatedAt: now, UpdatedAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	_, gen, _ := s.cachedStatusOf("o", "a", now)
	s.cacheStatus("o", "a", probity.StatusActive, now, gen)
	if st, _, ok := s.cachedStatusOf("o", "a", now); !ok || st != probity.StatusActive {
		t.Fatalf("the status was not kept: %q %v", st, ok)
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		a, err := tx.GetAgent(ctx, "o", "a")
		if err != nil {
			return err
		}
		a.Status = probity.StatusSuspended
		if err := tx.UpdateAgent(ctx, "o", a); err != nil {
			return err
		}
		if _, _, ok := s.cachedStatusOf("o", "a", now); ok {
			t.Error("the gate answered from memory while the agent was being written")
		}
		_, gen, _ := s.cachedStatusOf("o", "a", now)
		s.cacheStatus("o", "a", probity.StatusActive, now, gen) // a read from before the commit
		if _, _, ok := s.cachedStatusOf("o", "a", now); ok {
			t.Error("the gate kept a status read while the agent was being written")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.cachedStatusOf("o", "a", now); ok {
		t.Error("the gate still has a copy after the write")
	}
	_, gen, _ = s.cachedStatusOf("o", "a", now)
	s.cacheStatus("o", "a", probity.StatusSuspended, now, gen)
	if st, _, ok := s.cachedStatusOf("o", "a", now); !ok || st != probity.StatusSuspended {
		t.Errorf("after the write, a fresh read is kept again: %q %v", st, ok)
	}
}
