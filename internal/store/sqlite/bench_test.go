package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/sqlite"
)

// BenchmarkGetAgent is the store's share of the hot read path.
//
//	go test ./internal/store/sqlite -run '^$' -bench GetAgent
func BenchmarkGetAgent(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	err = db.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateOrg(ctx, probity.Org{ID: "o", CreatedAt: store.Now()}); err != nil {
			return err
		}
		return tx.CreateAgent(ctx, "o", probity.Agent{ID: "a", Name: "Agent", Status: "active",
			Model: probity.Model{Provider: "p", Name: "n", Version: "1"}, Access: probity.Access{DataClasses: []string{"pii"}}})
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			err := db.View(ctx, func(tx store.Tx) error {
				_, err := tx.GetAgent(ctx, "o", "a")
				return err
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
