package api

import (
	"context"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// watchedStore tells the server which agents a transaction writes, as it
// writes them and again when the transaction has ended, whichever handler
// or job wrote them: the gate does not answer from its in-memory copy of an
// agent's status while a write to the agent is under way, and drops the
// copy when the write ends, so a suspension denies from the moment it
// commits however it was made.
type watchedStore struct {
	store.Store
	writing func(agent [2]string)    // org, agent id: a write started
	changed func(agents [][2]string) // the writes ended, committed or not
}

func (w watchedStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	var touched [][2]string
	err := w.Store.Update(ctx, func(tx store.Tx) error {
		if len(touched) > 0 { // a retried transaction starts over
			w.changed(touched)
			touched = touched[:0]
		}
		return fn(watchedTx{tx, &touched, w.writing})
	})
	if len(touched) > 0 {
		w.changed(touched)
	}
	return err
}

type watchedTx struct {
	store.Tx
	touched *[][2]string
	writing func([2]string)
}

func (t watchedTx) UpdateAgent(ctx context.Context, orgID string, a probity.Agent) error {
	key := [2]string{orgID, a.ID}
	t.writing(key)
	*t.touched = append(*t.touched, key)
	return t.Tx.UpdateAgent(ctx, orgID, a)
}
