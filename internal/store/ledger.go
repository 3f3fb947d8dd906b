package store

import (
	"context"
	"encoding/json"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/ledger"
)

// AppendLedger appends entries to org's ledger inside tx: the leaves and
// their stored hashes are written in the caller's transaction, so a leaf
// exists exactly when the rows it stands for do. It returns the index of
// the first entry.
func AppendLedger(ctx context.Context, tx Tx, orgID string, entries [][]byte) (int64, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	start, err := tx.ReserveLedger(ctx, orgID, len(entries))
	if err != nil {
		return 0, fmt.Errorf("reserving ledger space: %w", err)
	}
	hashes, err := ledger.Append(start, entries, func(ix []int64) ([]tlog.Hash, error) {
		return tx.LedgerHashes(ctx, orgID, ix)
	})
	if err != nil {
		return 0, err
	}
	if err := tx.PutLedger(ctx, orgID, start, entries, hashes); err != nil {
		return 0, fmt.Errorf("writing ledger: %w", err)
	}
	return start, nil
}

// HashReader reads org's stored hashes through tx, for proofs.
func HashReader(ctx context.Context, tx Tx, orgID string) tlog.HashReader {
	return tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) { return tx.LedgerHashes(ctx, orgID, ix) })
}

// Audit appends e to org's audit log and to its ledger, in tx.
func Audit(ctx context.Context, tx Tx, orgID string, e *probity.AuditEntry) error {
	if err := tx.AppendAudit(ctx, orgID, e); err != nil {
		return err
	}
	leaf, err := AuditLeaf(e)
	if err != nil {
		return err
	}
	idx, err := AppendLedger(ctx, tx, orgID, [][]byte{leaf})
	if err != nil {
		return err
	}
	e.LedgerIndex = &idx
	return tx.LinkAudit(ctx, orgID, e.Seq, idx)
}

// AuditLeaf is the ledger entry of an audit entry.
func AuditLeaf(e *probity.AuditEntry) ([]byte, error) {
	c := *e
	c.LedgerIndex = nil
	b, err := json.Marshal(struct {
		Kind  string              `json:"kind"`
		Audit *probity.AuditEntry `json:"audit"`
	}{"audit", &c})
	if err != nil {
		return nil, fmt.Errorf("encoding audit leaf: %w", err)
	}
	return b, nil
}
