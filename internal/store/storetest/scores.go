package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

var scoreTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"Scores", testScores},
	{"AttestationKeys", testAttestationKeys},
}

func testScores(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	mkOrg(t, s, "o2")
	var snaps []store.ScoreSnapshot
	for i := range 4 {
		snaps = append(snaps, store.ScoreSnapshot{AgentID: "a", ComputedAt: ts(i * 10), Composite: 700 + i, Tier: "silver",
			Score: []byte(fmt.Sprintf(`{"compositeScore":%d}`, 700+i)), LedgerIndex: int64(i)})
	}
	update(t, s, func(tx store.Tx) error {
		for _, sc := range snaps {
			if err := tx.InsertScore(ctx, "o1", sc); err != nil {
				return err
			}
		}
		return nil
	})
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.InsertScore(ctx, "o1", snaps[0]) }), probity.ErrConflict, "a second score at one time")
	view(t, s, func(tx store.Tx) error {
		latest, err := tx.LatestScore(ctx, "o1", "a")
		if err != nil || !reflect.DeepEqual(latest, snaps[3]) {
			t.Errorf("latest: got %+v %v", latest, err)
		}
		_, err = tx.LatestScore(ctx, "o2", "a")
		wantErr(t, err, probity.ErrNotFound, "another org's score")
		got, err := tx.ListScores(ctx, "o1", "a", ts(10), ts(30), 10)
		if err != nil || !reflect.DeepEqual(got, snaps[1:3]) {
			t.Errorf("scores in [10s, 30s): got %+v %v", got, err)
		}
		if all, _ := tx.ListScores(ctx, "o1", "a", ts(0), time.Time{}, 2); len(all) != 2 || all[0].Composite != 700 {
			t.Errorf("first two scores: got %+v", all)
		}
		return nil
	})
}

func testAttestationKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	mkOrg(t, s, "o1")
	k1 := store.AttestationKey{KeyID: "k1", Public: []byte("pub1"), Private: []byte("priv1"), Status: "active", CreatedAt: ts(1)}
	k2 := store.AttestationKey{KeyID: "k2", Public: []byte("pub2"), Private: []byte("priv2"), Status: "active", CreatedAt: ts(2)}
	update(t, s, func(tx store.Tx) error { return tx.InsertAttestationKey(ctx, "o1", k1) })
	wantErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.InsertAttestationKey(ctx, "o1", k1) }), probity.ErrConflict, "a key twice")
	update(t, s, func(tx store.Tx) error {
		if err := tx.RetireAttestationKeys(ctx, "o1"); err != nil {
			return err
		}
		return tx.InsertAttestationKey(ctx, "o1", k2)
	})
	view(t, s, func(tx store.Tx) error {
		ks, err := tx.ListAttestationKeys(ctx, "o1")
		k1.Status = "retired"
		if err != nil || !reflect.DeepEqual(ks, []store.AttestationKey{k1, k2}) {
			t.Errorf("keys: got %+v %v", ks, err)
		}
		if other, _ := tx.ListAttestationKeys(ctx, "o2"); len(other) != 0 {
			t.Errorf("another org's keys: %+v", other)
		}
		return nil
	})
}
