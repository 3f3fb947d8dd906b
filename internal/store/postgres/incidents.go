package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

const incidentCols = `id, agent_id, rule, severity, status, opened_at, updated_at, resolved_at, resolved_index, ledger_index, body`

func scanIncident(row pgx.Row) (store.Incident, error) {
	var in store.Incident
	var resolved *time.Time
	var resolvedIndex *int64
	var body string
	if err := row.Scan(&in.ID, &in.AgentID, &in.Rule, &in.Severity, &in.Status, &in.OpenedAt, &in.UpdatedAt, &resolved, &resolvedIndex, &in.LedgerIndex, &body); err != nil {
		return in, err
	}
	in.OpenedAt, in.UpdatedAt, in.Body = in.OpenedAt.UTC(), in.UpdatedAt.UTC(), []byte(body)
	if resolved != nil && resolvedIndex != nil {
		in.ResolvedAt, in.ResolvedIndex = resolved.UTC(), *resolvedIndex
	}
	return in, nil
}

func (t *txn) InsertIncident(ctx context.Context, orgID string, in store.Incident) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO incidents (org_id, `+incidentCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		orgID, in.ID, in.AgentID, in.Rule, in.Severity, in.Status, in.OpenedAt, in.UpdatedAt, nullTime(in.ResolvedAt), resolvedIndex(in),
		in.LedgerIndex, string(in.Body))
	return classify(err, "storing incident "+in.ID)
}

func resolvedIndex(in store.Incident) *int64 {
	if in.ResolvedAt.IsZero() {
		return nil
	}
	return &in.ResolvedIndex
}

func (t *txn) UpdateIncident(ctx context.Context, orgID string, in store.Incident) error {
	tag, err := t.tx.Exec(ctx, `UPDATE incidents SET severity = $3, status = $4, updated_at = $5, resolved_at = $6, resolved_index = $7, body = $8
		WHERE org_id = $1 AND id = $2`,
		orgID, in.ID, in.Severity, in.Status, in.UpdatedAt, nullTime(in.ResolvedAt), resolvedIndex(in), string(in.Body))
	if err != nil {
		return classify(err, "updating incident "+in.ID)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("incident %q: %w", in.ID, probity.ErrNotFound)
	}
	return nil
}

func (t *txn) GetIncident(ctx context.Context, orgID, id string) (store.Incident, error) {
	in, err := scanIncident(t.tx.QueryRow(ctx, `SELECT `+incidentCols+` FROM incidents WHERE org_id = $1 AND id = $2`, orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return in, fmt.Errorf("incident %q: %w", id, probity.ErrNotFound)
	}
	return in, classify(err, "reading incident "+id)
}

func (t *txn) incidents(ctx context.Context, what, query string, args ...any) ([]store.Incident, error) {
	rows, err := t.tx.Query(ctx, query, args...)
	if err != nil {
		return nil, classify(err, what)
	}
	defer rows.Close()
	var out []store.Incident
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return nil, classify(err, what)
		}
		out = append(out, in)
	}
	return out, classify(rows.Err(), what)
}

func (t *txn) ActiveIncidents(ctx context.Context, orgID, agentID string) ([]store.Incident, error) {
	return t.incidents(ctx, "reading active incidents", `SELECT `+incidentCols+` FROM incidents
		WHERE org_id = $1 AND agent_id = $2 AND status IN ('open', 'acknowledged') ORDER BY ledger_index`, orgID, agentID)
}

func (t *txn) ListIncidents(ctx context.Context, orgID string, f store.IncidentFilter) ([]store.Incident, error) {
	before := int64(1 << 62)
	if f.After != "" {
		n, err := strconv.ParseInt(f.After, 10, 64)
		if err != nil || n < 0 {
			return nil, probity.Invalid("cursor", "not a cursor this list returned")
		}
		before = n
	}
	args := []any{orgID, before}
	cond := ""
	arg := func(clause string, v any) {
		args = append(args, v)
		cond += fmt.Sprintf(" AND "+clause, len(args))
	}
	if f.AgentID != "" {
		arg("agent_id = $%d", f.AgentID)
	}
	switch f.Status {
	case "":
	case store.IncidentActive:
		cond += " AND status IN ('open', 'acknowledged')"
	default:
		arg("status = $%d", f.Status)
	}
	if f.Severity != "" {
		arg("severity = $%d", f.Severity)
	}
	if f.Rule != "" {
		arg("rule = $%d", f.Rule)
	}
	if !f.Since.IsZero() {
		arg("updated_at >= $%d", f.Since)
	}
	args = append(args, f.Limit)
	return t.incidents(ctx, "listing incidents", `SELECT `+incidentCols+` FROM incidents
		WHERE org_id = $1 AND ledger_index < $2`+cond+` ORDER BY ledger_index DESC LIMIT $`+strconv.Itoa(len(args)), args...)
}

func (t *txn) IncidentSummary(ctx context.Context, orgID, agentID string) (store.IncidentSummary, error) {
	sum := store.IncidentSummary{Resolved: map[string]store.Resolution{}}
	rows, err := t.tx.Query(ctx, `SELECT severity, count(*) FROM incidents
		WHERE org_id = $1 AND agent_id = $2 AND status IN ('open', 'acknowledged') GROUP BY severity`, orgID, agentID)
	if err != nil {
		return sum, classify(err, "counting incidents")
	}
	for rows.Next() {
		var sev string
		var n int
		if err := rows.Scan(&sev, &n); err != nil {
			rows.Close()
			return sum, classify(err, "counting incidents")
		}
		switch sev {
		case "critical":
			sum.Critical = n
		case "high":
			sum.High = n
		case "medium":
			sum.Medium = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sum, classify(err, "counting incidents")
	}
	var last *time.Time
	if err := t.tx.QueryRow(ctx, `SELECT max(opened_at) FROM incidents WHERE org_id = $1 AND agent_id = $2 AND severity = 'critical'`,
		orgID, agentID).Scan(&last); err != nil {
		return sum, classify(err, "reading the last critical incident")
	}
	if last != nil {
		sum.LastCritical = last.UTC()
	}
	// Leaves only grow: the latest resolution has the largest index.
	rows, err = t.tx.Query(ctx, `SELECT rule, max(resolved_at), max(resolved_index) FROM incidents
		WHERE org_id = $1 AND agent_id = $2 AND resolved_at IS NOT NULL GROUP BY rule`, orgID, agentID)
	if err != nil {
		return sum, classify(err, "reading resolutions")
	}
	defer rows.Close()
	for rows.Next() {
		var rule string
		var at time.Time
		var idx int64
		if err := rows.Scan(&rule, &at, &idx); err != nil {
			return sum, classify(err, "reading resolutions")
		}
		sum.Resolved[rule] = store.Resolution{At: at.UTC(), LedgerIndex: idx}
	}
	return sum, classify(rows.Err(), "reading resolutions")
}

func (t *txn) SetIncidentRules(ctx context.Context, orgID string, doc []byte, at time.Time) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO incident_rules (org_id, doc, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (org_id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`, orgID, string(doc), at)
	return classify(err, "storing incident rules")
}

func (t *txn) IncidentRules(ctx context.Context, orgID string) ([]byte, error) {
	var doc string
	err := t.tx.QueryRow(ctx, `SELECT doc FROM incident_rules WHERE org_id = $1`, orgID).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("incident rules of %q: %w", orgID, probity.ErrNotFound)
	}
	return []byte(doc), classify(err, "reading incident rules")
}

// AddActivity sends its upserts as one batch: one round trip however many
// agents and tools a flush holds.
func (t *txn) AddActivity(ctx context.Context, orgID string, as []store.Activity) error {
	if len(as) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, a := range as {
		b.Queue(`INSERT INTO activity (org_id, agent_id, hour, tool, records, tool_calls, errors, violations)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (org_id, agent_id, hour, tool) DO UPDATE SET records = activity.records + excluded.records,
			  tool_calls = activity.tool_calls + excluded.tool_calls, errors = activity.errors + excluded.errors,
			  violations = activity.violations + excluded.violations`,
			orgID, a.AgentID, a.Hour, a.Tool, a.Records, a.ToolCalls, a.Errors, a.Violations)
	}
	return classify(t.tx.SendBatch(ctx, b).Close(), "adding activity")
}

func (t *txn) ListActivity(ctx context.Context, orgID, agentID string, from, to time.Time) ([]store.Activity, error) {
	rows, err := t.tx.Query(ctx, `SELECT hour, tool, records, tool_calls, errors, violations FROM activity
		WHERE org_id = $1 AND agent_id = $2 AND hour >= $3 AND hour < $4 ORDER BY hour, tool`, orgID, agentID, from, to)
	if err != nil {
		return nil, classify(err, "listing activity")
	}
	defer rows.Close()
	var out []store.Activity
	for rows.Next() {
		a := store.Activity{AgentID: agentID}
		if err := rows.Scan(&a.Hour, &a.Tool, &a.Records, &a.ToolCalls, &a.Errors, &a.Violations); err != nil {
			return nil, classify(err, "listing activity")
		}
		a.Hour = a.Hour.UTC()
		out = append(out, a)
	}
	return out, classify(rows.Err(), "listing activity")
}

func (t *txn) PruneActivity(ctx context.Context, before time.Time) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM activity WHERE hour < $1`, before)
	return classify(err, "pruning activity")
}

func (t *txn) InsertAnomalies(ctx context.Context, orgID string, as []store.Anomaly) (int, error) {
	n := 0
	for _, a := range as {
		tag, err := t.tx.Exec(ctx, `INSERT INTO anomalies (org_id, id, agent_id, metric, start_at, end_at, detected_at, body)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id, id) DO NOTHING`,
			orgID, a.ID, a.AgentID, a.Metric, a.Start, a.End, a.Detected, string(a.Body))
		if err != nil {
			return n, classify(err, "storing anomaly "+a.ID)
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}

func (t *txn) ListAnomalies(ctx context.Context, orgID string, f store.AnomalyFilter) ([]store.Anomaly, error) {
	beforeStart, beforeID := maxTime, ""
	if f.After != "" {
		start, id, err := store.ParseAnomalyCursor(f.After)
		if err != nil {
			return nil, err
		}
		beforeStart, beforeID = start, id
	}
	from, to := minTime, maxTime
	if !f.From.IsZero() {
		from = f.From
	}
	if !f.To.IsZero() {
		to = f.To
	}
	agent, args := "", []any{orgID, beforeStart, beforeID, from, to, f.Limit}
	if f.AgentID != "" {
		agent, args = " AND agent_id = $7", append(args, f.AgentID)
	}
	rows, err := t.tx.Query(ctx, `SELECT id, agent_id, metric, start_at, end_at, detected_at, body FROM anomalies
		WHERE org_id = $1 AND (start_at < $2 OR (start_at = $2 AND id < $3)) AND start_at >= $4 AND start_at < $5`+agent+`
		ORDER BY start_at DESC, id DESC LIMIT $6`, args...)
	if err != nil {
		return nil, classify(err, "listing anomalies")
	}
	defer rows.Close()
	var out []store.Anomaly
	for rows.Next() {
		var a store.Anomaly
		var body string
		if err := rows.Scan(&a.ID, &a.AgentID, &a.Metric, &a.Start, &a.End, &a.Detected, &body); err != nil {
			return nil, classify(err, "listing anomalies")
		}
		a.Start, a.End, a.Detected, a.Body = a.Start.UTC(), a.End.UTC(), a.Detected.UTC(), []byte(body)
		out = append(out, a)
	}
	return out, classify(rows.Err(), "listing anomalies")
}
