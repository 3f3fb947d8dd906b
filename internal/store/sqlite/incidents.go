package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

const incidentCols = `id, agent_id, rule, severity, status, opened_at, updated_at, resolved_at, resolved_index, ledger_index, body`

func scanIncident(row interface{ Scan(...any) error }) (store.Incident, error) {
	var in store.Incident
	var opened, updated int64
	var resolved, resolvedIndex sql.NullInt64
	var body string
	if err := row.Scan(&in.ID, &in.AgentID, &in.Rule, &in.Severity, &in.Status, &opened, &updated, &resolved, &resolvedIndex, &in.LedgerIndex, &body); err != nil {
		return in, err
	}
	in.OpenedAt, in.UpdatedAt, in.Body = fromMicros(opened), fromMicros(updated), []byte(body)
	if resolved.Valid {
		in.ResolvedAt, in.ResolvedIndex = fromMicros(resolved.Int64), resolvedIndex.Int64
	}
	return in, nil
}

func (t *txn) InsertIncident(ctx context.Context, orgID string, in store.Incident) error {
	_, err := t.exec(ctx, `INSERT INTO incidents (org_id, `+incidentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		orgID, in.ID, in.AgentID, in.Rule, in.Severity, in.Status, micros(in.OpenedAt), micros(in.UpdatedAt), nullMicros(in.ResolvedAt),
		resolvedIndex(in), in.LedgerIndex, string(in.Body))
	return classify(err, "storing incident "+in.ID)
}

func resolvedIndex(in store.Incident) any {
	if in.ResolvedAt.IsZero() {
		return nil
	}
	return in.ResolvedIndex
}

func (t *txn) UpdateIncident(ctx context.Context, orgID string, in store.Incident) error {
	res, err := t.exec(ctx, `UPDATE incidents SET severity = ?, status = ?, updated_at = ?, resolved_at = ?, resolved_index = ?, body = ?
		WHERE org_id = ? AND id = ?`,
		in.Severity, in.Status, micros(in.UpdatedAt), nullMicros(in.ResolvedAt), resolvedIndex(in), string(in.Body), orgID, in.ID)
	if err != nil {
		return classify(err, "updating incident "+in.ID)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("incident %q: %w", in.ID, probity.ErrNotFound)
	}
	return nil
}

func (t *txn) GetIncident(ctx context.Context, orgID, id string) (store.Incident, error) {
	in, err := scanIncident(t.queryRow(ctx, `SELECT `+incidentCols+` FROM incidents WHERE org_id = ? AND id = ?`, orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return in, fmt.Errorf("incident %q: %w", id, probity.ErrNotFound)
	}
	return in, classify(err, "reading incident "+id)
}

func (t *txn) incidents(ctx context.Context, what, query string, args ...any) ([]store.Incident, error) {
	rows, err := t.query(ctx, query, args...)
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
		WHERE org_id = ? AND agent_id = ? AND status IN ('open', 'acknowledged') ORDER BY ledger_index`, orgID, agentID)
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
	var where []string
	args := []any{orgID, before}
	if f.AgentID != "" {
		where, args = append(where, "agent_id = ?"), append(args, f.AgentID)
	}
	switch f.Status {
	case "":
	case store.IncidentActive:
		where = append(where, "status IN ('open', 'acknowledged')")
	default:
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.Severity != "" {
		where, args = append(where, "severity = ?"), append(args, f.Severity)
	}
	if f.Rule != "" {
		where, args = append(where, "rule = ?"), append(args, f.Rule)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "updated_at >= ?"), append(args, micros(f.Since))
	}
	cond := ""
	for _, w := range where {
		cond += " AND " + w
	}
	return t.incidents(ctx, "listing incidents", `SELECT `+incidentCols+` FROM incidents
		WHERE org_id = ? AND ledger_index < ?`+cond+` ORDER BY ledger_index DESC LIMIT ?`, append(args, f.Limit)...)
}

func (t *txn) IncidentSummary(ctx context.Context, orgID, agentID string) (store.IncidentSummary, error) {
	sum := store.IncidentSummary{Resolved: map[string]store.Resolution{}}
	rows, err := t.query(ctx, `SELECT severity, count(*) FROM incidents
		WHERE org_id = ? AND agent_id = ? AND status IN ('open', 'acknowledged') GROUP BY severity`, orgID, agentID)
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
	var last sql.NullInt64
	if err := t.queryRow(ctx, `SELECT max(opened_at) FROM incidents WHERE org_id = ? AND agent_id = ? AND severity = 'critical'`,
		orgID, agentID).Scan(&last); err != nil {
		return sum, classify(err, "reading the last critical incident")
	}
	if last.Valid {
		sum.LastCritical = fromMicros(last.Int64)
	}
	// Leaves only grow: the latest resolution has the largest index.
	rows, err = t.query(ctx, `SELECT rule, max(resolved_at), max(resolved_index) FROM incidents
		WHERE org_id = ? AND agent_id = ? AND resolved_at IS NOT NULL GROUP BY rule`, orgID, agentID)
	if err != nil {
		return sum, classify(err, "reading resolutions")
	}
	defer rows.Close()
	for rows.Next() {
		var rule string
		var at, idx int64
		if err := rows.Scan(&rule, &at, &idx); err != nil {
			return sum, classify(err, "reading resolutions")
		}
		sum.Resolved[rule] = store.Resolution{At: fromMicros(at), LedgerIndex: idx}
	}
	return sum, classify(rows.Err(), "reading resolutions")
}

func (t *txn) SetIncidentRules(ctx context.Context, orgID string, doc []byte, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO incident_rules (org_id, doc, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (org_id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`, orgID, string(doc), micros(at))
	return classify(err, "storing incident rules")
}

func (t *txn) IncidentRules(ctx context.Context, orgID string) ([]byte, error) {
	var doc string
	err := t.queryRow(ctx, `SELECT doc FROM incident_rules WHERE org_id = ?`, orgID).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("incident rules of %q: %w", orgID, probity.ErrNotFound)
	}
	return []byte(doc), classify(err, "reading incident rules")
}

func (t *txn) AddActivity(ctx context.Context, orgID string, as []store.Activity) error {
	for _, a := range as {
		_, err := t.exec(ctx, `INSERT INTO activity (org_id, agent_id, hour, tool, records, tool_calls, errors, violations)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (org_id, agent_id, hour, tool) DO UPDATE SET records = records + excluded.records,
			  tool_calls = tool_calls + excluded.tool_calls, errors = errors + excluded.errors, violations = violations + excluded.violations`,
			orgID, a.AgentID, micros(a.Hour), a.Tool, a.Records, a.ToolCalls, a.Errors, a.Violations)
		if err != nil {
			return classify(err, "adding activity of "+a.AgentID)
		}
	}
	return nil
}

func (t *txn) ListActivity(ctx context.Context, orgID, agentID string, from, to time.Time) ([]store.Activity, error) {
	rows, err := t.query(ctx, `SELECT hour, tool, records, tool_calls, errors, violations FROM activity
		WHERE org_id = ? AND agent_id = ? AND hour >= ? AND hour < ? ORDER BY hour, tool`, orgID, agentID, micros(from), micros(to))
	if err != nil {
		return nil, classify(err, "listing activity")
	}
	defer rows.Close()
	var out []store.Activity
	for rows.Next() {
		a := store.Activity{AgentID: agentID}
		var hour int64
		if err := rows.Scan(&hour, &a.Tool, &a.Records, &a.ToolCalls, &a.Errors, &a.Violations); err != nil {
			return nil, classify(err, "listing activity")
		}
		a.Hour = fromMicros(hour)
		out = append(out, a)
	}
	return out, classify(rows.Err(), "listing activity")
}

func (t *txn) PruneActivity(ctx context.Context, before time.Time) error {
	_, err := t.exec(ctx, `DELETE FROM activity WHERE hour < ?`, micros(before))
	return classify(err, "pruning activity")
}

func (t *txn) InsertAnomalies(ctx context.Context, orgID string, as []store.Anomaly) (int, error) {
	n := 0
	for _, a := range as {
		res, err := t.exec(ctx, `INSERT INTO anomalies (org_id, id, agent_id, metric, start_at, end_at, detected_at, body)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, id) DO NOTHING`,
			orgID, a.ID, a.AgentID, a.Metric, micros(a.Start), micros(a.End), micros(a.Detected), string(a.Body))
		if err != nil {
			return n, classify(err, "storing anomaly "+a.ID)
		}
		if k, _ := res.RowsAffected(); k > 0 {
			n++
		}
	}
	return n, nil
}

func (t *txn) ListAnomalies(ctx context.Context, orgID string, f store.AnomalyFilter) ([]store.Anomaly, error) {
	beforeStart, beforeID := int64(1<<62), ""
	if f.After != "" {
		start, id, err := store.ParseAnomalyCursor(f.After)
		if err != nil {
			return nil, err
		}
		beforeStart, beforeID = micros(start), id
	}
	from, to := int64(-1<<62), int64(1<<62)
	if !f.From.IsZero() {
		from = micros(f.From)
	}
	if !f.To.IsZero() {
		to = micros(f.To)
	}
	agent, args := "", []any{orgID, beforeStart, beforeStart, beforeID, from, to}
	if f.AgentID != "" {
		agent, args = " AND agent_id = ?", append(args, f.AgentID)
	}
	rows, err := t.query(ctx, `SELECT id, agent_id, metric, start_at, end_at, detected_at, body FROM anomalies
		WHERE org_id = ? AND (start_at < ? OR (start_at = ? AND id < ?)) AND start_at >= ? AND start_at < ?`+agent+`
		ORDER BY start_at DESC, id DESC LIMIT ?`, append(args, f.Limit)...)
	if err != nil {
		return nil, classify(err, "listing anomalies")
	}
	defer rows.Close()
	var out []store.Anomaly
	for rows.Next() {
		var a store.Anomaly
		var start, end, det int64
		var body string
		if err := rows.Scan(&a.ID, &a.AgentID, &a.Metric, &start, &end, &det, &body); err != nil {
			return nil, classify(err, "listing anomalies")
		}
		a.Start, a.End, a.Detected, a.Body = fromMicros(start), fromMicros(end), fromMicros(det), []byte(body)
		out = append(out, a)
	}
	return out, classify(rows.Err(), "listing anomalies")
}
