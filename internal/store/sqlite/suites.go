package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

const suiteCols = `id, kind, digest, source, created_at, created_by, ledger_index`

func scanSuite(row interface{ Scan(...any) error }) (store.SuiteSource, error) {
	var su store.SuiteSource
	var created int64
	err := row.Scan(&su.ID, &su.Kind, &su.Digest, &su.Source, &created, &su.CreatedBy, &su.LedgerIndex)
	su.CreatedAt = fromMicros(created)
	return su, err
}

func (t *txn) InsertSuite(ctx context.Context, orgID string, su store.SuiteSource) error {
	_, err := t.exec(ctx, `INSERT INTO suites (org_id, `+suiteCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		orgID, su.ID, su.Kind, su.Digest, su.Source, micros(su.CreatedAt), su.CreatedBy, su.LedgerIndex)
	return classify(err, "storing suite "+su.ID)
}

func (t *txn) GetSuite(ctx context.Context, orgID, id string) (store.SuiteSource, error) {
	su, err := scanSuite(t.queryRow(ctx, `SELECT `+suiteCols+` FROM suites WHERE org_id = ? AND id = ?`, orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return su, fmt.Errorf("suite %q: %w", id, probity.ErrNotFound)
	}
	return su, classify(err, "reading suite "+id)
}

func (t *txn) ListSuites(ctx context.Context, orgID string, p store.Page) ([]store.SuiteSource, error) {
	rows, err := t.query(ctx, `SELECT `+suiteCols+` FROM suites WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?`, orgID, p.After, p.Limit)
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
