package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

const scheduleCols = `id, agent_id, suites, repeats, cron, next_run, last_run_id, created_at, created_by`

func scanSchedule(row interface{ Scan(...any) error }, lead ...any) (store.Schedule, error) {
	var sc store.Schedule
	var suites string
	var next, created int64
	if err := row.Scan(append(lead, &sc.ID, &sc.AgentID, &suites, &sc.Repeat, &sc.Cron, &next, &sc.LastRunID, &created, &sc.CreatedBy)...); err != nil {
		return sc, err
	}
	sc.NextRun, sc.CreatedAt = fromMicros(next), fromMicros(created)
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
	_, err = t.exec(ctx, `INSERT INTO schedules (org_id, `+scheduleCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		orgID, sc.ID, sc.AgentID, string(suites), sc.Repeat, sc.Cron, micros(sc.NextRun), sc.LastRunID, micros(sc.CreatedAt), sc.CreatedBy)
	return classify(err, "storing schedule "+sc.ID)
}

func (t *txn) ListSchedules(ctx context.Context, orgID string, p store.Page) ([]store.Schedule, error) {
	rows, err := t.query(ctx, `SELECT `+scheduleCols+` FROM schedules WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?`, orgID, p.After, p.Limit)
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
	res, err := t.exec(ctx, `DELETE FROM schedules WHERE org_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return classify(err, "deleting schedule "+id)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("schedule %q: %w", id, probity.ErrNotFound)
	}
	return nil
}

// DueSchedules needs no row locks: SQLite has one writer.
func (t *txn) DueSchedules(ctx context.Context, now time.Time, limit int) ([]store.DueSchedule, error) {
	rows, err := t.query(ctx, `SELECT org_id, `+scheduleCols+` FROM schedules WHERE next_run <= ? ORDER BY next_run, org_id, id LIMIT ?`, micros(now), limit)
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
	res, err := t.exec(ctx, `UPDATE schedules SET next_run = ?, last_run_id = ? WHERE org_id = ? AND id = ?`, micros(sc.NextRun), sc.LastRunID, orgID, sc.ID)
	if err != nil {
		return classify(err, "updating schedule "+sc.ID)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("schedule %q: %w", sc.ID, probity.ErrNotFound)
	}
	return nil
}
