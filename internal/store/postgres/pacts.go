package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/probity-dev/probity/internal/store"
)

const pactCols = `pact_id, version, digest, canonical, source, created_at, created_by, ledger_index`

func scanPact(row pgx.Row) (store.PactVersion, error) {
	var v store.PactVersion
	var created time.Time
	err := row.Scan(&v.PactID, &v.Version, &v.Digest, &v.Canonical, &v.Source, &created, &v.CreatedBy, &v.LedgerIndex)
	v.CreatedAt = created.UTC()
	return v, err
}

func (t *txn) InsertPactVersion(ctx context.Context, orgID string, v store.PactVersion) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO pact_versions (org_id, `+pactCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		orgID, v.PactID, v.Version, v.Digest, v.Canonical, v.Source, v.CreatedAt, v.CreatedBy, v.LedgerIndex)
	return classify(err, fmt.Sprintf("storing pact %s version %d", v.PactID, v.Version))
}

func (t *txn) LatestPactVersion(ctx context.Context, orgID, pactID string) (store.PactVersion, error) {
	v, err := scanPact(t.tx.QueryRow(ctx, `SELECT `+pactCols+` FROM pact_versions
		WHERE org_id = $1 AND pact_id = $2 ORDER BY version DESC LIMIT 1`, orgID, pactID))
	return v, classify(err, "reading pact "+pactID)
}

func (t *txn) GetPactVersion(ctx context.Context, orgID, pactID string, version int) (store.PactVersion, error) {
	v, err := scanPact(t.tx.QueryRow(ctx, `SELECT `+pactCols+` FROM pact_versions
		WHERE org_id = $1 AND pact_id = $2 AND version = $3`, orgID, pactID, version))
	return v, classify(err, fmt.Sprintf("reading pact %s version %d", pactID, version))
}

func (t *txn) ListPactVersions(ctx context.Context, orgID, pactID string) ([]store.PactVersion, error) {
	return t.listPacts(ctx, "listing versions of pact "+pactID, `SELECT `+pactCols+` FROM pact_versions
		WHERE org_id = $1 AND pact_id = $2 ORDER BY version`, orgID, pactID)
}

func (t *txn) ListPacts(ctx context.Context, orgID string, p store.Page) ([]store.PactVersion, error) {
	return t.listPacts(ctx, "listing pacts", `SELECT DISTINCT ON (pact_id) `+pactCols+` FROM pact_versions
		WHERE org_id = $1 AND pact_id > $2
		ORDER BY pact_id, version DESC LIMIT $3`, orgID, p.After, p.Limit)
}

func (t *txn) listPacts(ctx context.Context, what, query string, args ...any) ([]store.PactVersion, error) {
	rows, err := t.tx.Query(ctx, query, args...)
	if err != nil {
		return nil, classify(err, what)
	}
	defer rows.Close()
	var out []store.PactVersion
	for rows.Next() {
		v, err := scanPact(rows)
		if err != nil {
			return nil, classify(err, what)
		}
		out = append(out, v)
	}
	return out, classify(rows.Err(), what)
}

func (t *txn) BindAgents(ctx context.Context, orgID, pactID string, agentIDs []string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM pact_bindings WHERE org_id = $1 AND pact_id = $2`, orgID, pactID); err != nil {
		return classify(err, "unbinding pact "+pactID)
	}
	for _, a := range agentIDs {
		if _, err := t.tx.Exec(ctx, `INSERT INTO pact_bindings (org_id, agent_id, pact_id) VALUES ($1, $2, $3)`, orgID, a, pactID); err != nil {
			return classify(err, fmt.Sprintf("binding agent %s to pact %s", a, pactID))
		}
	}
	return nil
}

func (t *txn) PactOfAgent(ctx context.Context, orgID, agentID string) (string, error) {
	var id string
	err := t.tx.QueryRow(ctx, `SELECT pact_id FROM pact_bindings WHERE org_id = $1 AND agent_id = $2`, orgID, agentID).Scan(&id)
	if err != nil {
		return "", classify(err, "reading the pact of agent "+agentID)
	}
	return id, nil
}
