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

func (t *txn) CreateWebSession(ctx context.Context, ws store.WebSession) error {
	_, err := t.exec(ctx, `INSERT INTO web_sessions (id_hash, key_hash, csrf, flash, created_at, seen_at) VALUES (?, ?, ?, ?, ?, ?)`,
		ws.IDHash, ws.KeyHash, ws.CSRF, ws.Flash, micros(ws.Created), micros(ws.Seen))
	return classify(err, "storing a dashboard session")
}

func (t *txn) GetWebSession(ctx context.Context, idHash []byte) (store.WebSession, error) {
	ws := store.WebSession{IDHash: idHash}
	var created, seen int64
	err := t.queryRow(ctx, `SELECT key_hash, csrf, flash, created_at, seen_at FROM web_sessions WHERE id_hash = ?`, idHash).
		Scan(&ws.KeyHash, &ws.CSRF, &ws.Flash, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return ws, fmt.Errorf("dashboard session: %w", probity.ErrNotFound)
	}
	ws.Created, ws.Seen = fromMicros(created), fromMicros(seen)
	return ws, classify(err, "reading a dashboard session")
}

func (t *txn) UpdateWebSession(ctx context.Context, ws store.WebSession) error {
	_, err := t.exec(ctx, `UPDATE web_sessions SET flash = ?, seen_at = ? WHERE id_hash = ?`, ws.Flash, micros(ws.Seen), ws.IDHash)
	return classify(err, "updating a dashboard session")
}

func (t *txn) DeleteWebSession(ctx context.Context, idHash []byte) error {
	_, err := t.exec(ctx, `DELETE FROM web_sessions WHERE id_hash = ?`, idHash)
	return classify(err, "deleting a dashboard session")
}

func (t *txn) PruneWebSessions(ctx context.Context, seenBefore, createdBefore time.Time) (int, error) {
	res, err := t.exec(ctx, `DELETE FROM web_sessions WHERE seen_at < ? OR created_at < ?`, micros(seenBefore), micros(createdBefore))
	if err != nil {
		return 0, classify(err, "pruning dashboard sessions")
	}
	n, err := res.RowsAffected()
	return int(n), classify(err, "pruning dashboard sessions")
}
