package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

const scheduleCols = `id, agent_id, suites, repeats, cron, next_run, last_run_id, created_at, created_by`

func scanSchedule(row pgx.Row, lead ...any) (store.Schedule, error) {
	var sc store.Schedule
	var suites string
	if err := row.Scan(append(lead, &sc.ID, &sc.AgentID, &suites, &sc.Repeat, &sc.Cron, &sc.NextRun, &sc.LastRunID, &sc.CreatedAt, &sc.CreatedBy)...); err != nil {
		return sc, err
	}
	sc.NextRun, sc.CreatedAt = sc.NextRun.UTC(), sc.CreatedAt.UTC()
	if err := json.Unmarshal([]byte(suites), &sc.Suites); err != nil {
		return sc, fmt.Errorf("%w: suites of schedule %s: %v", store.ErrLedgerDamaged, sc.ID, err)
	}
	return sc, nil
}

func (t *txn) InsertSchedule(ctx context.Context, orgID string, sc store.Schedule) error {
	suites, err := json.Marshal(sc.Suites)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO schedules (org_id, `+scheduleCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		orgID, sc.ID, sc.AgentID, string(suites), sc.Repeat, sc.Cron, sc.NextRun, sc.LastRunID, sc.CreatedAt, sc.CreatedBy)
	return classify(err, "storing schedule "+sc.ID)
}

func (t *txn) ListSchedules(ctx context.Context, orgID string, p store.Page) ([]store.Schedule, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+scheduleCols+` FROM schedules WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3`, orgID, p.After, p.Limit)
	if err != nil {
		return nil, classify(err, "listing schedules")
	}
	defer rows.Close()
	var out []store.Schedule
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return nil, classify(err, "listing schedules")
		}
		out = append(out, sc)
	}
	return out, classify(rows.Err(), "listing schedules")
}

func (t *txn) DeleteSchedule(ctx context.Context, orgID, id string) error {
	tag, err := t.tx.Exec(ctx, `DELETE FROM schedules WHERE org_id = $1 AND id = $2`, orgID, id)
	if err != nil {
		return classify(err, "deleting schedule "+id)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("schedule %q: %w", id, probity.ErrNotFound)
	}
	return nil
}

// DueSchedules locks the due rows with SKIP LOCKED, so replicas running
// the scheduler at once queue each due run once.
func (t *txn) DueSchedules(ctx context.Context, now time.Time, limit int) ([]store.DueSchedule, error) {
	rows, err := t.tx.Query(ctx, `SELECT org_id, `+scheduleCols+` FROM schedules WHERE next_run <= $1
		ORDER BY next_run, org_id, id LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit)
	if err != nil {
		return nil, classify(err, "reading due schedules")
	}
	defer rows.Close()
	var out []store.DueSchedule
	for rows.Next() {
		var d store.DueSchedule
		if d.Schedule, err = scanSchedule(rows, &d.OrgID); err != nil {
			return nil, classify(err, "reading due schedules")
		}
		out = append(out, d)
	}
	return out, classify(rows.Err(), "reading due schedules")
}

func (t *txn) UpdateSchedule(ctx context.Context, orgID string, sc store.Schedule) error {
	tag, err := t.tx.Exec(ctx, `UPDATE schedules SET next_run = $1, last_run_id = $2 WHERE org_id = $3 AND id = $4`, sc.NextRun, sc.LastRunID, orgID, sc.ID)
	if err != nil {
		return classify(err, "updating schedule "+sc.ID)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("schedule %q: %w", sc.ID, probity.ErrNotFound)
	}
	return nil
}
