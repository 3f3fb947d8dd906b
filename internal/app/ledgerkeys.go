package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/ledger"
)

// ensureLedgerKey gives org a ledger origin and checkpoint signing key if
// it has none (a new org, or one from before the ledger existed). The key
// lives in the database, so every replica signs with it; when two replicas
// race, the store keeps the first key and both sign with that one.
func ensureLedgerKey(ctx context.Context, tx store.Tx, org string) error {
	_, err := tx.LedgerKey(ctx, org)
	if !errors.Is(err, probity.ErrNotFound) {
		return err
	}
	origin, err := ledger.NewOrigin(org)
	if err != nil {
		return err
	}
	skey, vkey, err := ledger.GenerateKey(origin)
	if err != nil {
		return fmt.Errorf("making ledger key of org %s: %w", org, err)
	}
	return tx.SetLedgerKey(ctx, org, store.LedgerKey{Origin: origin, Signer: skey, Verifier: vkey})
}

// ensureLedgerKeys runs ensureLedgerKey for every org, at start.
func ensureLedgerKeys(ctx context.Context, s store.Store) error {
	return s.Update(ctx, func(tx store.Tx) error {
		orgs, err := tx.ListOrgs(ctx)
		if err != nil {
			return err
		}
		for _, o := range orgs {
			if err := ensureLedgerKey(ctx, tx, o.ID); err != nil {
				return err
			}
		}
		return nil
	})
}
