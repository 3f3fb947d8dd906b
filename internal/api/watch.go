package api

import (
	"context"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// watchedStore tells the server which agents a transaction wrote, after
// the transaction ends, whichever handler or job wrote them: the gate's
// in-memory copy of an agent's status is dropped then, so a suspension
// denies at once however it was made.
type watchedStore struct {
	store.Store
	changed func(agents [][2]string) // org, agent id
}

func (w watchedStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	var touched [][2]string
	err := w.Store.Update(ctx, func(tx store.Tx) error {
		touched = touched[:0] // a retried transaction starts over
		return fn(watchedTx{tx, &touched})
	})
	// Dropped whether or not it committed: a copy is cheap to read again.
	if len(touched) > 0 {
		w.changed(touched)
	}
	return err
}

type watchedTx struct {
	store.Tx
	touched *[][2]string
}

func (t watchedTx) UpdateAgent(ctx context.Context, orgID string, a probity.Agent) error {
	*t.touched = append(*t.touched, [2]string{orgID, a.ID})
	return t.Tx.UpdateAgent(ctx, orgID, a)
}
