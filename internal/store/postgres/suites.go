package postgres

import (
	"context"
	"errors"
	"fmt"
	"github.com/jackc/pgx/v5"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

const suiteCols = `id, kind, digest, source, created_at, created_by, ledger_index`

func scanSuite(row pgx.Row) (store.SuiteSource, error) {
	var su store.SuiteSource
	err := row.Scan(&su.ID, &su.Kind, &su.Digest, &su.Source, &su.CreatedAt, &su.CreatedBy, &su.LedgerIndex)
	su.CreatedAt = su.CreatedAt.UTC()
	return su, err
}

func (t *txn) InsertSuite(ctx context.Context, orgID string, su store.SuiteSource) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO suites (org_id, `+suiteCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		orgID, su.ID, su.Kind, su.Digest, su.Source, su.CreatedAt, su.CreatedBy, su.LedgerIndex)
	return classify(err, "storing suite "+su.ID)
}

func (t *txn) GetSuite(ctx context.Context, orgID, id string) (store.SuiteSource, error) {
	su, err := scanSuite(t.tx.QueryRow(ctx, `SELECT `+suiteCols+` FROM suites WHERE org_id = $1 AND id = $2`, orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return su, fmt.Errorf("suite %q: %w", id, probity.ErrNotFound)
	}
	return su, classify(err, "reading suite "+id)
}

func (t *txn) ListSuites(ctx context.Context, orgID string, p store.Page) ([]store.SuiteSource, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+suiteCols+` FROM suites WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3`, orgID, p.After, p.Limit)
	if err != nil {
		return nil, classify(err, "listing suites")
	}
	defer rows.Close()
	var out []store.SuiteSource
	for rows.Next() {
		su, err := scanSuite(rows)
		if err != nil {
			return nil, classify(err, "listing suites")
		}
		out = append(out, su)
	}
	return out, classify(rows.Err(), "listing suites")
}
