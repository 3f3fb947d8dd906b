package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

const evalRunCols = `id, agent_id, suites, repeats, run_trigger, status, reason, total, done, model_version,
	created_at, created_by, started_at, finished_at, owner, lease_until, summary, ledger_index`

func scanEvalRun(row interface{ Scan(...any) error }) (store.EvalRun, error) {
	var r store.EvalRun
	var suites string
	var created, lease int64
	var started, finished sql.NullInt64
	var summary sql.NullString
	err := row.Scan(&r.ID, &r.AgentID, &suites, &r.Repeat, &r.Trigger, &r.Status, &r.Reason, &r.Total, &r.Done, &r.ModelVersion,
		&created, &r.CreatedBy, &started, &finished, &r.Owner, &lease, &summary, &r.LedgerIndex)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(suites), &r.Suites); err != nil {
		return r, fmt.Errorf("%w: suites of eval run %s: %v", store.ErrLedgerDamaged, r.ID, err)
	}
	r.CreatedAt, r.LeaseUntil = fromMicros(created), fromMicros(lease)
	if started.Valid {
		r.StartedAt = fromMicros(started.Int64)
	}
	if finished.Valid {
		r.FinishedAt = fromMicros(finished.Int64)
	}
	if summary.Valid {
		r.Summary = []byte(summary.String)
	}
	return r, nil
}

func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}

func nullText(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

func (t *txn) InsertEvalRun(ctx context.Context, orgID string, r store.EvalRun) error {
	suites, err := json.Marshal(r.Suites)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO eval_runs (org_id, `+evalRunCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		orgID, r.ID, r.AgentID, string(suites), r.Repeat, r.Trigger, r.Status, r.Reason, r.Total, r.Done, r.ModelVersion,
		micros(r.CreatedAt), r.CreatedBy, nullMicros(r.StartedAt), nullMicros(r.FinishedAt), r.Owner, micros(r.LeaseUntil), nullText(r.Summary), r.LedgerIndex)
	return classify(err, "storing eval run "+r.ID)
}

func (t *txn) GetEvalRun(ctx context.Context, orgID, id string) (store.EvalRun, error) {
	r, err := scanEvalRun(t.queryRow(ctx, `SELECT `+evalRunCols+` FROM eval_runs WHERE org_id = ? AND id = ?`, orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("eval run %q: %w", id, probity.ErrNotFound)
	}
	return r, classify(err, "reading eval run "+id)
}

// LockEvalRun needs no row lock: SQLite has one writer, and write
// transactions begin immediate.
func (t *txn) LockEvalRun(ctx context.Context, orgID, id string) (store.EvalRun, error) {
	return t.GetEvalRun(ctx, orgID, id)
}

func (t *txn) ListEvalRuns(ctx context.Context, orgID string, f store.EvalRunFilter) ([]store.EvalRun, error) {
	after := f.After
	if after == "" {
		after = "\uffff"
	}
	rows, err := t.query(ctx, `SELECT `+evalRunCols+` FROM eval_runs
		WHERE org_id = ? AND id < ? AND (? = '' OR agent_id = ?) ORDER BY id DESC LIMIT ?`,
		orgID, after, f.AgentID, f.AgentID, f.Limit)
	if err != nil {
		return nil, classify(err, "listing eval runs")
	}
	defer rows.Close()
	var out []store.EvalRun
	for rows.Next() {
		r, err := scanEvalRun(rows)
		if err != nil {
			return nil, classify(err, "listing eval runs")
		}
		out = append(out, r)
	}
	return out, classify(rows.Err(), "listing eval runs")
}

func (t *txn) UpdateEvalRun(ctx context.Context, orgID string, r store.EvalRun) error {
	res, err := t.exec(ctx, `UPDATE eval_runs SET status = ?, reason = ?, done = ?, model_version = ?, started_at = ?, finished_at = ?,
		owner = ?, lease_until = ?, summary = ? WHERE org_id = ? AND id = ?`,
		r.Status, r.Reason, r.Done, r.ModelVersion, nullMicros(r.StartedAt), nullMicros(r.FinishedAt), r.Owner, micros(r.LeaseUntil), nullText(r.Summary), orgID, r.ID)
	if err != nil {
		return classify(err, "updating eval run "+r.ID)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("eval run %q: %w", r.ID, probity.ErrNotFound)
	}
	return nil
}

// ClaimEvalRun needs no row locks: SQLite has one writer, and this runs in
// a write transaction.
func (t *txn) ClaimEvalRun(ctx context.Context, owner string, now time.Time, lease time.Duration) (string, store.EvalRun, bool, error) {
	var org string
	r, err := scanEvalRunOrg(t.queryRow(ctx, `SELECT org_id, `+evalRunCols+` FROM eval_runs
		WHERE status = 'queued' OR (status = 'running' AND lease_until < ?)
		ORDER BY created_at, id LIMIT 1`, micros(now)), &org)
	if errors.Is(err, sql.ErrNoRows) {
		return "", r, false, nil
	} else if err != nil {
		return "", r, false, classify(err, "claiming an eval run")
	}
	r.Status, r.Owner, r.LeaseUntil = store.EvalRunning, owner, now.Add(lease)
	if r.StartedAt.IsZero() {
		r.StartedAt = now
	}
	if err := t.UpdateEvalRun(ctx, org, r); err != nil {
		return "", r, false, err
	}
	return org, r, true, nil
}

func scanEvalRunOrg(row interface{ Scan(...any) error }, org *string) (store.EvalRun, error) {
	return scanEvalRun(prefixed{row, org})
}

// prefixed scans a leading column into p, the rest as row would.
type prefixed struct {
	row interface{ Scan(...any) error }
	p   *string
}

func (s prefixed) Scan(dest ...any) error { return s.row.Scan(append([]any{s.p}, dest...)...) }

func (t *txn) InsertEvalResults(ctx context.Context, orgID string, rs []store.EvalResult) error {
	for _, r := range rs {
		_, err := t.exec(ctx, `INSERT INTO eval_results (org_id, run_id, seq, suite, case_id, repeats, status, grade, transcript,
			latency_ms, model_version, created_at, ledger_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			orgID, r.RunID, r.Seq, r.Suite, r.CaseID, r.Repeat, r.Status, string(r.Grade), string(r.Transcript),
			r.LatencyMs, r.ModelVersion, micros(r.CreatedAt), r.LedgerIndex)
		if err != nil {
			return classify(err, fmt.Sprintf("storing result %d of eval run %s", r.Seq, r.RunID))
		}
	}
	return nil
}

func (t *txn) ListEvalResults(ctx context.Context, orgID, runID string, afterSeq, limit int, withTranscripts bool) ([]store.EvalResult, error) {
	transcript := `''`
	if withTranscripts {
		transcript = `transcript`
	}
	rows, err := t.query(ctx, `SELECT run_id, seq, suite, case_id, repeats, status, grade, `+transcript+`, latency_ms, model_version, created_at, ledger_index
		FROM eval_results WHERE org_id = ? AND run_id = ? AND seq > ? ORDER BY seq LIMIT ?`, orgID, runID, afterSeq, limit)
	if err != nil {
		return nil, classify(err, "listing eval results")
	}
	defer rows.Close()
	var out []store.EvalResult
	for rows.Next() {
		var r store.EvalResult
		var grade, tr string
		var created int64
		if err := rows.Scan(&r.RunID, &r.Seq, &r.Suite, &r.CaseID, &r.Repeat, &r.Status, &grade, &tr, &r.LatencyMs, &r.ModelVersion, &created, &r.LedgerIndex); err != nil {
			return nil, classify(err, "listing eval results")
		}
		r.Grade, r.CreatedAt = []byte(grade), fromMicros(created)
		if tr != "" {
			r.Transcript = []byte(tr)
		}
		out = append(out, r)
	}
	return out, classify(rows.Err(), "listing eval results")
}
