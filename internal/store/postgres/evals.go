package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

const evalRunCols = `id, agent_id, suites, repeats, run_trigger, status, reason, total, done, model_version,
	created_at, created_by, started_at, finished_at, owner, lease_until, summary, ledger_index`

func scanEvalRun(row pgx.Row, lead ...any) (store.EvalRun, error) {
	var r store.EvalRun
	var suites string
	var lease int64
	var started, finished *time.Time
	var summary *string
	dest := append(lead, &r.ID, &r.AgentID, &suites, &r.Repeat, &r.Trigger, &r.Status, &r.Reason, &r.Total, &r.Done, &r.ModelVersion,
		&r.CreatedAt, &r.CreatedBy, &started, &finished, &r.Owner, &lease, &summary, &r.LedgerIndex)
	if err := row.Scan(dest...); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(suites), &r.Suites); err != nil {
		return r, fmt.Errorf("%w: suites of eval run %s: %v", store.ErrLedgerDamaged, r.ID, err)
	}
	r.CreatedAt, r.LeaseUntil = r.CreatedAt.UTC(), time.UnixMicro(lease).UTC()
	if started != nil {
		r.StartedAt = started.UTC()
	}
	if finished != nil {
		r.FinishedAt = finished.UTC()
	}
	if summary != nil {
		r.Summary = []byte(*summary)
	}
	return r, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullText(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func (t *txn) InsertEvalRun(ctx context.Context, orgID string, r store.EvalRun) error {
	suites, err := json.Marshal(r.Suites)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO eval_runs (org_id, `+evalRunCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		orgID, r.ID, r.AgentID, string(suites), r.Repeat, r.Trigger, r.Status, r.Reason, r.Total, r.Done, r.ModelVersion,
		r.CreatedAt, r.CreatedBy, nullTime(r.StartedAt), nullTime(r.FinishedAt), r.Owner, r.LeaseUntil.UnixMicro(), nullText(r.Summary), r.LedgerIndex)
	return classify(err, "storing eval run "+r.ID)
}

func (t *txn) GetEvalRun(ctx context.Context, orgID, id string) (store.EvalRun, error) {
	r, err := scanEvalRun(t.tx.QueryRow(ctx, `SELECT `+evalRunCols+` FROM eval_runs WHERE org_id = $1 AND id = $2`, orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("eval run %q: %w", id, probity.ErrNotFound)
	}
	return r, classify(err, "reading eval run "+id)
}

func (t *txn) LockEvalRun(ctx context.Context, orgID, id string) (store.EvalRun, error) {
	r, err := scanEvalRun(t.tx.QueryRow(ctx, `SELECT `+evalRunCols+` FROM eval_runs WHERE org_id = $1 AND id = $2 FOR UPDATE`, orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("eval run %q: %w", id, probity.ErrNotFound)
	}
	return r, classify(err, "locking eval run "+id)
}

func (t *txn) ListEvalRuns(ctx context.Context, orgID string, f store.EvalRunFilter) ([]store.EvalRun, error) {
	after := f.After
	if after == "" {
		after = "\uffff"
	}
	rows, err := t.tx.Query(ctx, `SELECT `+evalRunCols+` FROM eval_runs
		WHERE org_id = $1 AND id < $2 AND ($3::text = '' OR agent_id = $3) ORDER BY id DESC LIMIT $4`,
		orgID, after, f.AgentID, f.Limit)
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
	tag, err := t.tx.Exec(ctx, `UPDATE eval_runs SET status = $1, reason = $2, done = $3, model_version = $4, started_at = $5,
		finished_at = $6, owner = $7, lease_until = $8, summary = $9 WHERE org_id = $10 AND id = $11`,
		r.Status, r.Reason, r.Done, r.ModelVersion, nullTime(r.StartedAt), nullTime(r.FinishedAt), r.Owner, r.LeaseUntil.UnixMicro(),
		nullText(r.Summary), orgID, r.ID)
	if err != nil {
		return classify(err, "updating eval run "+r.ID)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("eval run %q: %w", r.ID, probity.ErrNotFound)
	}
	return nil
}

// ClaimEvalRun locks the candidate row with SKIP LOCKED, so replicas
// claiming at once take different runs.
func (t *txn) ClaimEvalRun(ctx context.Context, owner string, now time.Time, lease time.Duration) (string, store.EvalRun, bool, error) {
	var org string
	r, err := scanEvalRun(t.tx.QueryRow(ctx, `SELECT org_id, `+evalRunCols+` FROM eval_runs
		WHERE status = 'queued' OR (status = 'running' AND lease_until < $1)
		ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`, now.UnixMicro()), &org)
	if errors.Is(err, pgx.ErrNoRows) {
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

func (t *txn) InsertEvalResults(ctx context.Context, orgID string, rs []store.EvalResult) error {
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{"eval_results"},
		[]string{"org_id", "run_id", "seq", "suite", "case_id", "repeats", "status", "grade", "transcript", "latency_ms", "model_version", "created_at", "ledger_index"},
		pgx.CopyFromSlice(len(rs), func(i int) ([]any, error) {
			r := rs[i]
			return []any{orgID, r.RunID, r.Seq, r.Suite, r.CaseID, r.Repeat, r.Status, string(r.Grade), string(r.Transcript),
				r.LatencyMs, r.ModelVersion, r.CreatedAt, r.LedgerIndex}, nil
		}))
	return classify(err, "storing eval results")
}

func (t *txn) ListEvalResults(ctx context.Context, orgID, runID string, afterSeq, limit int, withTranscripts bool) ([]store.EvalResult, error) {
	transcript := `''`
	if withTranscripts {
		transcript = `transcript`
	}
	rows, err := t.tx.Query(ctx, `SELECT run_id, seq, suite, case_id, repeats, status, grade, `+transcript+`, latency_ms, model_version, created_at, ledger_index
		FROM eval_results WHERE org_id = $1 AND run_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`, orgID, runID, afterSeq, limit)
	if err != nil {
		return nil, classify(err, "listing eval results")
	}
	defer rows.Close()
	var out []store.EvalResult
	for rows.Next() {
		var r store.EvalResult
		var grade, tr string
		if err := rows.Scan(&r.RunID, &r.Seq, &r.Suite, &r.CaseID, &r.Repeat, &r.Status, &grade, &tr, &r.LatencyMs, &r.ModelVersion, &r.CreatedAt, &r.LedgerIndex); err != nil {
			return nil, classify(err, "listing eval results")
		}
		r.Grade, r.CreatedAt = []byte(grade), r.CreatedAt.UTC()
		if tr != "" {
			r.Transcript = []byte(tr)
		}
		out = append(out, r)
	}
	return out, classify(rows.Err(), "listing eval results")
}
