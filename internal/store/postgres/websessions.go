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

func (t *txn) CreateWebSession(ctx context.Context, ws store.WebSession) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO web_sessions (id_hash, key_hash, csrf, flash, created_at, seen_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		ws.IDHash, ws.KeyHash, ws.CSRF, ws.Flash, ws.Created, ws.Seen)
	return classify(err, "storing a dashboard session")
}

func (t *txn) GetWebSession(ctx context.Context, idHash []byte) (store.WebSession, error) {
	ws := store.WebSession{IDHash: idHash}
	err := t.tx.QueryRow(ctx, `SELECT key_hash, csrf, flash, created_at, seen_at FROM web_sessions WHERE id_hash = $1`, idHash).
		Scan(&ws.KeyHash, &ws.CSRF, &ws.Flash, &ws.Created, &ws.Seen)
	if errors.Is(err, pgx.ErrNoRows) {
		return ws, fmt.Errorf("dashboard session: %w", probity.ErrNotFound)
	}
	ws.Created, ws.Seen = ws.Created.UTC(), ws.Seen.UTC()
	return ws, classify(err, "reading a dashboard session")
}

func (t *txn) UpdateWebSession(ctx context.Context, ws store.WebSession) error {
	_, err := t.tx.Exec(ctx, `UPDATE web_sessions SET flash = $1, seen_at = $2 WHERE id_hash = $3`, ws.Flash, ws.Seen, ws.IDHash)
	return classify(err, "updating a dashboard session")
}

func (t *txn) DeleteWebSession(ctx context.Context, idHash []byte) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM web_sessions WHERE id_hash = $1`, idHash)
	return classify(err, "deleting a dashboard session")
}

func (t *txn) PruneWebSessions(ctx context.Context, seenBefore, createdBefore time.Time) (int, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM web_sessions WHERE seen_at < $1 OR created_at < $2`, seenBefore, createdBefore)
	return int(tag.RowsAffected()), classify(err, "pruning dashboard sessions")
}
