package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

const violationCols = `id, agent_id, pact_id, pact_version, clause, kind, severity, record_ids, explanation, time, ledger_index, confirmed`

func (t *txn) InsertViolations(ctx context.Context, orgID string, vs []store.Violation) error {
	for _, v := range vs {
		ids, err := json.Marshal(v.RecordIDs)
		if err != nil {
			return fmt.Errorf("encoding evidence of violation %s: %w", v.ID, err)
		}
		_, err = t.exec(ctx, `INSERT INTO violations (org_id, `+violationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			orgID, v.ID, v.AgentID, v.PactID, v.PactVersion, v.Clause, v.Kind, v.Severity, string(ids), v.Explanation, micros(v.Time), v.LedgerIndex, v.Confirmed)
		if err != nil {
			return classify(err, "storing violation "+v.ID)
		}
	}
	return nil
}

func (t *txn) ListViolations(ctx context.Context, orgID string, f store.ViolationFilter) ([]store.Violation, error) {
	after := int64(-1)
	if f.After != "" {
		n, err := strconv.ParseInt(f.After, 10, 64)
		if err != nil || n < 0 {
			return nil, probity.Invalid("cursor", "not a cursor this list returned")
		}
		after = n
	}
	from, to := int64(-1<<62), int64(1<<62)
	if !f.From.IsZero() {
		from = micros(f.From)
	}
	if !f.To.IsZero() {
		to = micros(f.To)
	}
	// With an agent, the query names it outright so that SQLite uses the
	// (org, agent, ledger index) index: scores read every agent's.
	agent, args := "", []any{orgID, after, from, to}
	if f.AgentID != "" {
		agent, args = " AND agent_id = ?", append(args, f.AgentID)
	}
	args = append(args, f.Clause, f.Clause, f.Severity, f.Severity, f.Kind, f.Kind, f.Limit)
	rows, err := t.query(ctx, `SELECT `+violationCols+` FROM violations
		WHERE org_id = ? AND ledger_index > ? AND time >= ? AND time < ?`+agent+`
		  AND (? = '' OR clause = ?) AND (? = '' OR severity = ?) AND (? = '' OR kind = ?)
		ORDER BY ledger_index LIMIT ?`, args...)
	if err != nil {
		return nil, classify(err, "listing violations")
	}
	defer rows.Close()
	var out []store.Violation
	for rows.Next() {
		var v store.Violation
		var ids string
		var us int64
		if err := rows.Scan(&v.ID, &v.AgentID, &v.PactID, &v.PactVersion, &v.Clause, &v.Kind, &v.Severity, &ids, &v.Explanation, &us, &v.LedgerIndex, &v.Confirmed); err != nil {
			return nil, classify(err, "listing violations")
		}
		if err := json.Unmarshal([]byte(ids), &v.RecordIDs); err != nil {
			return nil, fmt.Errorf("reading evidence of violation %s: %w", v.ID, err)
		}
		v.Time = fromMicros(us)
		out = append(out, v)
	}
	return out, classify(rows.Err(), "listing violations")
}

func (t *txn) LastViolation(ctx context.Context, orgID, agentID string) (int64, error) {
	var idx sql.NullInt64
	err := t.queryRow(ctx, `SELECT max(ledger_index) FROM violations WHERE org_id = ? AND agent_id = ?`, orgID, agentID).Scan(&idx)
	if err != nil || !idx.Valid {
		return -1, classify(err, "reading the latest violation")
	}
	return idx.Int64, nil
}
