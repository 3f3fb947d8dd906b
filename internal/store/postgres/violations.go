package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

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
		_, err = t.tx.Exec(ctx, `INSERT INTO violations (org_id, `+violationCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			orgID, v.ID, v.AgentID, v.PactID, v.PactVersion, v.Clause, v.Kind, v.Severity, string(ids), v.Explanation, v.Time, v.LedgerIndex, v.Confirmed)
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
	from, to := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	if !f.From.IsZero() {
		from = f.From
	}
	if !f.To.IsZero() {
		to = f.To
	}
	// With an agent, the query names it outright so that the planner uses
	// the (org, agent, ledger index) index: scores read every agent's.
	agent := ""
	if f.AgentID != "" {
		agent = " AND agent_id = $5"
	}
	rows, err := t.tx.Query(ctx, `SELECT `+violationCols+` FROM violations
		WHERE org_id = $1 AND ledger_index > $2 AND time >= $3 AND time < $4 AND ($5::text = $5::text)`+agent+`
		  AND ($6::text = '' OR clause = $6) AND ($7::text = '' OR severity = $7)
		  AND ($9::text = '' OR kind = $9)
		ORDER BY ledger_index LIMIT $8`,
		orgID, after, from, to, f.AgentID, f.Clause, f.Severity, f.Limit, f.Kind)
	if err != nil {
		return nil, classify(err, "listing violations")
	}
	defer rows.Close()
	var out []store.Violation
	for rows.Next() {
		var v store.Violation
		var ids string
		if err := rows.Scan(&v.ID, &v.AgentID, &v.PactID, &v.PactVersion, &v.Clause, &v.Kind, &v.Severity, &ids, &v.Explanation, &v.Time, &v.LedgerIndex, &v.Confirmed); err != nil {
			return nil, classify(err, "listing violations")
		}
		if err := json.Unmarshal([]byte(ids), &v.RecordIDs); err != nil {
			return nil, fmt.Errorf("reading evidence of violation %s: %w", v.ID, err)
		}
		v.Time = v.Time.UTC()
		out = append(out, v)
	}
	return out, classify(rows.Err(), "listing violations")
}

func (t *txn) LastViolation(ctx context.Context, orgID, agentID string) (int64, error) {
	var idx *int64
	err := t.tx.QueryRow(ctx, `SELECT max(ledger_index) FROM violations WHERE org_id = $1 AND agent_id = $2`, orgID, agentID).Scan(&idx)
	if err != nil || idx == nil {
		return -1, classify(err, "reading the latest violation")
	}
	return *idx, nil
}
