package sqlite

import (
	"context"
	"fmt"

	"github.com/probity-dev/probity/internal/store"
)

const pactCols = `pact_id, version, digest, canonical, source, created_at, created_by, ledger_index`

func scanPact(row interface{ Scan(...any) error }) (store.PactVersion, error) {
	var v store.PactVersion
	var us int64
	err := row.Scan(&v.PactID, &v.Version, &v.Digest, &v.Canonical, &v.Source, &us, &v.CreatedBy, &v.LedgerIndex)
	v.CreatedAt = fromMicros(us)
	return v, err
}

func (t *txn) InsertPactVersion(ctx context.Context, orgID string, v store.PactVersion) error {
	_, err := t.exec(ctx, `INSERT INTO pact_versions (org_id, `+pactCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		orgID, v.PactID, v.Version, v.Digest, v.Canonical, v.Source, micros(v.CreatedAt), v.CreatedBy, v.LedgerIndex)
	return classify(err, fmt.Sprintf("storing pact %s version %d", v.PactID, v.Version))
}

func (t *txn) LatestPactVersion(ctx context.Context, orgID, pactID string) (store.PactVersion, error) {
	v, err := scanPact(t.queryRow(ctx, `SELECT `+pactCols+` FROM pact_versions
		WHERE org_id = ? AND pact_id = ? ORDER BY version DESC LIMIT 1`, orgID, pactID))
	return v, classify(err, "reading pact "+pactID)
}

func (t *txn) GetPactVersion(ctx context.Context, orgID, pactID string, version int) (store.PactVersion, error) {
	v, err := scanPact(t.queryRow(ctx, `SELECT `+pactCols+` FROM pact_versions
		WHERE org_id = ? AND pact_id = ? AND version = ?`, orgID, pactID, version))
	return v, classify(err, fmt.Sprintf("reading pact %s version %d", pactID, version))
}

func (t *txn) ListPactVersions(ctx context.Context, orgID, pactID string) ([]store.PactVersion, error) {
	return t.listPacts(ctx, "listing versions of pact "+pactID, `SELECT `+pactCols+` FROM pact_versions
		WHERE org_id = ? AND pact_id = ? ORDER BY version`, orgID, pactID)
}

func (t *txn) ListPacts(ctx context.Context, orgID string, p store.Page) ([]store.PactVersion, error) {
	return t.listPacts(ctx, "listing pacts", `SELECT `+pactCols+` FROM pact_versions v
		WHERE org_id = ? AND pact_id > ?
		AND version = (SELECT max(version) FROM pact_versions w WHERE w.org_id = v.org_id AND w.pact_id = v.pact_id)
		ORDER BY pact_id LIMIT ?`, orgID, p.After, p.Limit)
}

func (t *txn) listPacts(ctx context.Context, what, query string, args ...any) ([]store.PactVersion, error) {
	rows, err := t.query(ctx, query, args...)
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
	if _, err := t.exec(ctx, `DELETE FROM pact_bindings WHERE org_id = ? AND pact_id = ?`, orgID, pactID); err != nil {
		return classify(err, "unbinding pact "+pactID)
	}
	for _, a := range agentIDs {
		if _, err := t.exec(ctx, `INSERT INTO pact_bindings (org_id, agent_id, pact_id) VALUES (?, ?, ?)`, orgID, a, pactID); err != nil {
			return classify(err, fmt.Sprintf("binding agent %s to pact %s", a, pactID))
		}
	}
	return nil
}

func (t *txn) PactOfAgent(ctx context.Context, orgID, agentID string) (string, error) {
	var id string
	err := t.queryRow(ctx, `SELECT pact_id FROM pact_bindings WHERE org_id = ? AND agent_id = ?`, orgID, agentID).Scan(&id)
	if err != nil {
		return "", classify(err, "reading the pact of agent "+agentID)
	}
	return id, nil
}
