package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

const scoreCols = `agent_id, computed_at, composite, tier, score, ledger_index`

func scanScore(row pgx.Row) (store.ScoreSnapshot, error) {
	var sc store.ScoreSnapshot
	var score string
	err := row.Scan(&sc.AgentID, &sc.ComputedAt, &sc.Composite, &sc.Tier, &score, &sc.LedgerIndex)
	sc.ComputedAt, sc.Score = sc.ComputedAt.UTC(), []byte(score)
	return sc, err
}

func (t *txn) InsertScore(ctx context.Context, orgID string, sc store.ScoreSnapshot) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO scores (org_id, `+scoreCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		orgID, sc.AgentID, sc.ComputedAt, sc.Composite, sc.Tier, string(sc.Score), sc.LedgerIndex)
	return classify(err, "storing the score of "+sc.AgentID)
}

func (t *txn) LatestScore(ctx context.Context, orgID, agentID string) (store.ScoreSnapshot, error) {
	sc, err := scanScore(t.tx.QueryRow(ctx, `SELECT `+scoreCols+` FROM scores WHERE org_id = $1 AND agent_id = $2
		ORDER BY computed_at DESC LIMIT 1`, orgID, agentID))
	if errors.Is(err, pgx.ErrNoRows) {
		return sc, fmt.Errorf("score of %q: %w", agentID, probity.ErrNotFound)
	}
	return sc, classify(err, "reading the score of "+agentID)
}

func (t *txn) ListScores(ctx context.Context, orgID, agentID string, from, to time.Time, limit int) ([]store.ScoreSnapshot, error) {
	if to.IsZero() {
		to = maxTime
	}
	rows, err := t.tx.Query(ctx, `SELECT `+scoreCols+` FROM scores WHERE org_id = $1 AND agent_id = $2 AND computed_at >= $3 AND computed_at < $4
		ORDER BY computed_at LIMIT $5`, orgID, agentID, from, to, limit)
	if err != nil {
		return nil, classify(err, "listing scores")
	}
	defer rows.Close()
	var out []store.ScoreSnapshot
	for rows.Next() {
		sc, err := scanScore(rows)
		if err != nil {
			return nil, classify(err, "listing scores")
		}
		out = append(out, sc)
	}
	return out, classify(rows.Err(), "listing scores")
}

func (t *txn) InsertAttestationKey(ctx context.Context, orgID string, k store.AttestationKey) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO attestation_keys (org_id, key_id, public, private, status, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		orgID, k.KeyID, k.Public, k.Private, k.Status, k.CreatedAt)
	return classify(err, "storing attestation key "+k.KeyID)
}

func (t *txn) ListAttestationKeys(ctx context.Context, orgID string) ([]store.AttestationKey, error) {
	rows, err := t.tx.Query(ctx, `SELECT key_id, public, private, status, created_at FROM attestation_keys WHERE org_id = $1 ORDER BY created_at, key_id`, orgID)
	if err != nil {
		return nil, classify(err, "listing attestation keys")
	}
	defer rows.Close()
	var out []store.AttestationKey
	for rows.Next() {
		var k store.AttestationKey
		if err := rows.Scan(&k.KeyID, &k.Public, &k.Private, &k.Status, &k.CreatedAt); err != nil {
			return nil, classify(err, "listing attestation keys")
		}
		k.CreatedAt = k.CreatedAt.UTC()
		out = append(out, k)
	}
	return out, classify(rows.Err(), "listing attestation keys")
}

func (t *txn) RetireAttestationKeys(ctx context.Context, orgID string) error {
	_, err := t.tx.Exec(ctx, `UPDATE attestation_keys SET status = 'retired' WHERE org_id = $1 AND status = 'active'`, orgID)
	return classify(err, "retiring attestation keys")
}
