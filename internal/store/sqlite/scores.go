package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

const scoreCols = `agent_id, computed_at, composite, tier, score, ledger_index`

func scanScore(row interface{ Scan(...any) error }) (store.ScoreSnapshot, error) {
	var sc store.ScoreSnapshot
	var at int64
	var score string
	err := row.Scan(&sc.AgentID, &at, &sc.Composite, &sc.Tier, &score, &sc.LedgerIndex)
	sc.ComputedAt, sc.Score = fromMicros(at), []byte(score)
	return sc, err
}

func (t *txn) InsertScore(ctx context.Context, orgID string, sc store.ScoreSnapshot) error {
	_, err := t.exec(ctx, `INSERT INTO scores (org_id, `+scoreCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		orgID, sc.AgentID, micros(sc.ComputedAt), sc.Composite, sc.Tier, string(sc.Score), sc.LedgerIndex)
	return classify(err, "storing the score of "+sc.AgentID)
}

func (t *txn) LatestScore(ctx context.Context, orgID, agentID string) (store.ScoreSnapshot, error) {
	sc, err := scanScore(t.queryRow(ctx, `SELECT `+scoreCols+` FROM scores WHERE org_id = ? AND agent_id = ?
		ORDER BY computed_at DESC LIMIT 1`, orgID, agentID))
	if errors.Is(err, sql.ErrNoRows) {
		return sc, fmt.Errorf("score of %q: %w", agentID, probity.ErrNotFound)
	}
	return sc, classify(err, "reading the score of "+agentID)
}

func (t *txn) ListScores(ctx context.Context, orgID, agentID string, from, to time.Time, limit int) ([]store.ScoreSnapshot, error) {
	end := int64(1 << 62)
	if !to.IsZero() {
		end = micros(to)
	}
	rows, err := t.query(ctx, `SELECT `+scoreCols+` FROM scores WHERE org_id = ? AND agent_id = ? AND computed_at >= ? AND computed_at < ?
		ORDER BY computed_at LIMIT ?`, orgID, agentID, micros(from), end, limit)
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
	_, err := t.exec(ctx, `INSERT INTO attestation_keys (org_id, key_id, public, private, status, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		orgID, k.KeyID, k.Public, k.Private, k.Status, micros(k.CreatedAt))
	return classify(err, "storing attestation key "+k.KeyID)
}

func (t *txn) ListAttestationKeys(ctx context.Context, orgID string) ([]store.AttestationKey, error) {
	rows, err := t.query(ctx, `SELECT key_id, public, private, status, created_at FROM attestation_keys WHERE org_id = ? ORDER BY created_at, key_id`, orgID)
	if err != nil {
		return nil, classify(err, "listing attestation keys")
	}
	defer rows.Close()
	var out []store.AttestationKey
	for rows.Next() {
		var k store.AttestationKey
		var at int64
		if err := rows.Scan(&k.KeyID, &k.Public, &k.Private, &k.Status, &at); err != nil {
			return nil, classify(err, "listing attestation keys")
		}
		k.CreatedAt = fromMicros(at)
		out = append(out, k)
	}
	return out, classify(rows.Err(), "listing attestation keys")
}

func (t *txn) RetireAttestationKeys(ctx context.Context, orgID string) error {
	_, err := t.exec(ctx, `UPDATE attestation_keys SET status = 'retired' WHERE org_id = ? AND status = 'active'`, orgID)
	return classify(err, "retiring attestation keys")
}
