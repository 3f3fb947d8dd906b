package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
	sqlite3 "modernc.org/sqlite/lib"
)

func micros(t time.Time) int64      { return t.UTC().UnixMicro() }
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// classify turns driver errors into the store's sentinels.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, probity.ErrNotFound)
	}
	var se interface{ Code() int }
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("%s: %w", what, probity.ErrConflict)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (t *txn) CreateOrg(ctx context.Context, org probity.Org) error {
	_, err := t.exec(ctx, `INSERT INTO orgs (id, created_at) VALUES (?, ?)`, org.ID, micros(org.CreatedAt))
	return classify(err, "creating org "+org.ID)
}

func (t *txn) GetOrg(ctx context.Context, id string) (probity.Org, error) {
	var us int64
	err := t.queryRow(ctx, `SELECT created_at FROM orgs WHERE id = ?`, id).Scan(&us)
	return probity.Org{ID: id, CreatedAt: fromMicros(us)}, classify(err, "reading org "+id)
}

func (t *txn) ListOrgs(ctx context.Context) ([]probity.Org, error) {
	rows, err := t.query(ctx, `SELECT id, created_at FROM orgs ORDER BY id`)
	if err != nil {
		return nil, classify(err, "listing orgs")
	}
	defer rows.Close()
	var out []probity.Org
	for rows.Next() {
		var o probity.Org
		var us int64
		if err := rows.Scan(&o.ID, &us); err != nil {
			return nil, classify(err, "listing orgs")
		}
		o.CreatedAt = fromMicros(us)
		out = append(out, o)
	}
	return out, classify(rows.Err(), "listing orgs")
}

const keyCols = `id, org_id, name, prefix, scopes, hash, created_at, created_by, revoked_at`

func scanKey(row interface{ Scan(...any) error }) (probity.APIKey, error) {
	var k probity.APIKey
	var scopes string
	var created int64
	var revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.OrgID, &k.Name, &k.Prefix, &scopes, &k.Hash, &created, &k.CreatedBy, &revoked); err != nil {
		return k, err
	}
	for _, s := range strings.Split(scopes, ",") {
		k.Scopes = append(k.Scopes, probity.Scope(s))
	}
	k.CreatedAt = fromMicros(created)
	if revoked.Valid {
		r := fromMicros(revoked.Int64)
		k.RevokedAt = &r
	}
	return k, nil
}

func joinScopes(ss []probity.Scope) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, string(s))
	}
	return strings.Join(parts, ",")
}

func (t *txn) CreateKey(ctx context.Context, k probity.APIKey) error {
	_, err := t.exec(ctx, `INSERT INTO api_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		k.ID, k.OrgID, k.Name, k.Prefix, joinScopes(k.Scopes), k.Hash, micros(k.CreatedAt), k.CreatedBy)
	return classify(err, "creating key")
}

func (t *txn) KeyByHash(ctx context.Context, hash []byte) (probity.APIKey, error) {
	k, err := scanKey(t.queryRow(ctx, `SELECT `+keyCols+` FROM api_keys WHERE hash = ?`, hash))
	return k, classify(err, "looking up key")
}

func (t *txn) GetKey(ctx context.Context, orgID, id string) (probity.APIKey, error) {
	k, err := scanKey(t.queryRow(ctx, `SELECT `+keyCols+` FROM api_keys WHERE org_id = ? AND id = ?`, orgID, id))
	return k, classify(err, "reading key "+id)
}

func (t *txn) ListKeys(ctx context.Context, orgID string, p store.Page) ([]probity.APIKey, error) {
	rows, err := t.query(ctx, `SELECT `+keyCols+` FROM api_keys WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?`,
		orgID, p.After, p.Limit)
	if err != nil {
		return nil, classify(err, "listing keys")
	}
	defer rows.Close()
	var out []probity.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, classify(err, "listing keys")
		}
		out = append(out, k)
	}
	return out, classify(rows.Err(), "listing keys")
}

func (t *txn) RevokeKey(ctx context.Context, orgID, id string, at time.Time) error {
	res, err := t.exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE org_id = ? AND id = ?`,
		micros(at), orgID, id)
	if err != nil {
		return classify(err, "revoking key "+id)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoking key %s: %w", id, probity.ErrNotFound)
	}
	return nil
}

func (t *txn) CreateAgent(ctx context.Context, orgID string, a probity.Agent) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding agent: %w", err)
	}
	_, err = t.exec(ctx, `INSERT INTO agents (org_id, id, doc, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		orgID, a.ID, doc, micros(a.CreatedAt), micros(a.UpdatedAt))
	return classify(err, "creating agent "+a.ID)
}

func scanAgent(row interface{ Scan(...any) error }) (probity.Agent, error) {
	var a probity.Agent
	var doc []byte
	if err := row.Scan(&doc); err != nil {
		return a, err
	}
	if err := json.Unmarshal(doc, &a); err != nil {
		return a, fmt.Errorf("decoding stored agent: %w", err)
	}
	return a, nil
}

func (t *txn) GetAgent(ctx context.Context, orgID, id string) (probity.Agent, error) {
	a, err := scanAgent(t.queryRow(ctx, `SELECT doc FROM agents WHERE org_id = ? AND id = ?`, orgID, id))
	return a, classify(err, "reading agent "+id)
}

func (t *txn) ListAgents(ctx context.Context, orgID string, p store.Page) ([]probity.Agent, error) {
	rows, err := t.query(ctx, `SELECT doc FROM agents WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?`,
		orgID, p.After, p.Limit)
	if err != nil {
		return nil, classify(err, "listing agents")
	}
	defer rows.Close()
	var out []probity.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, classify(err, "listing agents")
		}
		out = append(out, a)
	}
	return out, classify(rows.Err(), "listing agents")
}

func (t *txn) UpdateAgent(ctx context.Context, orgID string, a probity.Agent) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding agent: %w", err)
	}
	res, err := t.exec(ctx, `UPDATE agents SET doc = ?, updated_at = ? WHERE org_id = ? AND id = ?`,
		doc, micros(a.UpdatedAt), orgID, a.ID)
	if err != nil {
		return classify(err, "updating agent "+a.ID)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("updating agent %s: %w", a.ID, probity.ErrNotFound)
	}
	return nil
}

func (t *txn) AddModelChange(ctx context.Context, orgID, agentID string, c probity.ModelChange) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding model change: %w", err)
	}
	_, err = t.exec(ctx, `INSERT INTO agent_models (org_id, agent_id, since, doc) VALUES (?, ?, ?, ?)`,
		orgID, agentID, micros(c.Since), doc)
	return classify(err, "recording model change")
}

func (t *txn) ModelHistory(ctx context.Context, orgID, agentID string) ([]probity.ModelChange, error) {
	rows, err := t.query(ctx, `SELECT doc FROM agent_models WHERE org_id = ? AND agent_id = ? ORDER BY since, rowid`,
		orgID, agentID)
	if err != nil {
		return nil, classify(err, "reading model history")
	}
	defer rows.Close()
	out := []probity.ModelChange{}
	for rows.Next() {
		var doc []byte
		var c probity.ModelChange
		if err := rows.Scan(&doc); err != nil {
			return nil, classify(err, "reading model history")
		}
		if err := json.Unmarshal(doc, &c); err != nil {
			return nil, fmt.Errorf("decoding model change: %w", err)
		}
		out = append(out, c)
	}
	return out, classify(rows.Err(), "reading model history")
}

func (t *txn) AppendAudit(ctx context.Context, orgID string, e *probity.AuditEntry) error {
	var seq int64
	err := t.queryRow(ctx, `UPDATE orgs SET audit_seq = audit_seq + 1 WHERE id = ? RETURNING audit_seq`, orgID).Scan(&seq)
	if err != nil {
		return classify(err, "numbering audit entry")
	}
	var change any
	if len(e.Change) > 0 {
		change = string(e.Change)
	}
	_, err = t.exec(ctx, `INSERT INTO audit (org_id, seq, time, actor, action, target, change) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		orgID, seq, micros(e.Time), e.Actor, e.Action, e.Target, change)
	if err != nil {
		return classify(err, "appending audit entry")
	}
	e.Seq = seq
	return nil
}

func (t *txn) ListAudit(ctx context.Context, orgID string, f store.AuditFilter) ([]probity.AuditEntry, error) {
	after := int64(0)
	if f.After != "" {
		if _, err := fmt.Sscan(f.After, &after); err != nil {
			return nil, probity.Invalid("cursor", "not a cursor this list returned")
		}
	}
	rows, err := t.query(ctx, `SELECT seq, time, actor, action, target, change, ledger_index FROM audit
		WHERE org_id = ? AND seq > ? AND (? = '' OR action = ?) AND (? = '' OR target = ?)
		ORDER BY seq LIMIT ?`, orgID, after, f.Action, f.Action, f.Target, f.Target, f.Limit)
	if err != nil {
		return nil, classify(err, "listing audit")
	}
	defer rows.Close()
	var out []probity.AuditEntry
	for rows.Next() {
		var e probity.AuditEntry
		var us int64
		var change sql.NullString
		var idx sql.NullInt64
		if err := rows.Scan(&e.Seq, &us, &e.Actor, &e.Action, &e.Target, &change, &idx); err != nil {
			return nil, classify(err, "listing audit")
		}
		e.Time = fromMicros(us)
		if change.Valid {
			e.Change = json.RawMessage(change.String)
		}
		if idx.Valid {
			e.LedgerIndex = &idx.Int64
		}
		out = append(out, e)
	}
	return out, classify(rows.Err(), "listing audit")
}
