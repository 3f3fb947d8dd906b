package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/sqlite"
	"github.com/probity-dev/probity/ledger"
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

// BenchmarkLedgerProofs measures inclusion and consistency proofs read from
// the stored hashes of a 1,000,000-leaf ledger in SQLite (building it takes
// a minute or so, once per run).
//
//	go test ./internal/store/sqlite -run '^$' -bench LedgerProofs -benchtime 2000x
func BenchmarkLedgerProofs(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "l.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const size, batch = 1_000_000, 10_000
	err = db.Update(ctx, func(tx store.Tx) error { return tx.CreateOrg(ctx, probity.Org{ID: "o", CreatedAt: store.Now()}) })
	if err != nil {
		b.Fatal(err)
	}
	for start := 0; start < size; start += batch {
		leaves := make([][]byte, batch)
		for i := range leaves {
			leaves[i] = fmt.Appendf(nil, `{"kind":"bench","n":%d}`, start+i)
		}
		if err := db.Update(ctx, func(tx store.Tx) error { _, err := store.AppendLedger(ctx, tx, "o", leaves); return err }); err != nil {
			b.Fatal(err)
		}
	}
	var root tlog.Hash
	var older tlog.Hash
	db.View(ctx, func(tx store.Tx) error {
		root, err = tlog.TreeHash(size, store.HashReader(ctx, tx, "o"))
		if err != nil {
			return err
		}
		older, err = tlog.TreeHash(size/3, store.HashReader(ctx, tx, "o"))
		return err
	})
	cp := ledger.Checkpoint{Origin: "probity/o/bench", Size: size, Hash: root}
	old := ledger.Checkpoint{Origin: "probity/o/bench", Size: size / 3, Hash: older}
	run := func(b *testing.B, prove func(tx store.Tx, i int) error) {
		lat := make([]time.Duration, 0, b.N)
		i := 0
		for b.Loop() {
			t0 := time.Now()
			if err := db.View(ctx, func(tx store.Tx) error { return prove(tx, i) }); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			i++
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	}
	b.Run("inclusion", func(b *testing.B) {
		run(b, func(tx store.Tx, i int) error {
			idx := int64(i*7919) % size
			p, err := ledger.ProveInclusion(idx, size, store.HashReader(ctx, tx, "o"))
			if err != nil {
				return err
			}
			return ledger.VerifyInclusion(p, nil, cp)
		})
	})
	b.Run("consistency", func(b *testing.B) {
		run(b, func(tx store.Tx, i int) error {
			p, err := ledger.ProveConsistency(size/3, size, store.HashReader(ctx, tx, "o"))
			if err != nil {
				return err
			}
			return ledger.VerifyConsistency(p, old, cp)
		})
	})
}
