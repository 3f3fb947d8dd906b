package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

var webSessionTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"WebSessions", testWebSessions},
}

// testWebSessions: a dashboard session is stored, found by its id hash,
// updated, deleted, and pruned when idle or too old.
func testWebSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	mk := func(id string, created, seen time.Time) store.WebSession {
		return store.WebSession{IDHash: []byte("hash-" + id), KeyHash: []byte("key-" + id), CSRF: "csrf-" + id, Created: created, Seen: seen}
	}
	a, b, c := mk("a", t0, t0), mk("b", t0.Add(-30*24*time.Hour), t0), mk("c", t0, t0.Add(-9*time.Hour))
	update(t, s, func(tx store.Tx) error {
		for _, ws := range []store.WebSession{a, b, c} {
			if err := tx.CreateWebSession(ctx, ws); err != nil {
				return err
			}
		}
		return nil
	})
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.CreateWebSession(ctx, a) }), probity.ErrConflict, "storing a session twice")
	a.Flash, a.Seen = "Suspended support-bot.", t0.Add(time.Minute)
	update(t, s, func(tx store.Tx) error { return tx.UpdateWebSession(ctx, a) })
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetWebSession(ctx, a.IDHash)
		if err != nil {
			return err
		}
		if string(got.KeyHash) != "key-a" || got.CSRF != "csrf-a" || got.Flash != a.Flash || !got.Created.Equal(t0) || !got.Seen.Equal(a.Seen) {
			t.Errorf("session a: got %+v", got)
		}
		_, err = tx.GetWebSession(ctx, []byte("hash-none"))
		wantErr(t, err, probity.ErrNotFound, "a session never stored")
		return nil
	})
	var pruned int
	update(t, s, func(tx store.Tx) error {
		var err error
		pruned, err = tx.PruneWebSessions(ctx, t0.Add(-8*time.Hour), t0.Add(-7*24*time.Hour))
		return err
	})
	if pruned != 2 {
		t.Errorf("pruned %d sessions, want 2 (one idle, one too old)", pruned)
	}
	update(t, s, func(tx store.Tx) error { return tx.DeleteWebSession(ctx, a.IDHash) })
	view(t, s, func(tx store.Tx) error {
		for _, ws := range []store.WebSession{a, b, c} {
			_, err := tx.GetWebSession(ctx, ws.IDHash)
			wantErr(t, err, probity.ErrNotFound, "session "+string(ws.IDHash)+" after prune and delete")
		}
		return nil
	})
}
