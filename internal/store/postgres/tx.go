package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

type txn struct{ tx pgx.Tx }

// uniqueViolation is the SQLSTATE of a duplicate key.
const uniqueViolation = "23505"

// classify turns driver errors into the store's sentinels.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, probity.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case uniqueViolation:
			return fmt.Errorf("%s: %w", what, probity.ErrConflict)
		case "22021", "22P05", "22008": // bad character, untranslatable character, time out of range
			return fmt.Errorf("%s: %w", what, probity.ErrInvalid)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (t *txn) CreateOrg(ctx context.Context, org probity.Org) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO orgs (id, created_at) VALUES ($1, $2)`, org.ID, org.CreatedAt)
	return classify(err, "creating org "+org.ID)
}

func (t *txn) GetOrg(ctx context.Context, id string) (probity.Org, error) {
	var created time.Time
	err := t.tx.QueryRow(ctx, `SELECT created_at FROM orgs WHERE id = $1`, id).Scan(&created)
	return probity.Org{ID: id, CreatedAt: created.UTC()}, classify(err, "reading org "+id)
}

func (t *txn) ListOrgs(ctx context.Context) ([]probity.Org, error) {
	rows, err := t.tx.Query(ctx, `SELECT id, created_at FROM orgs ORDER BY id`)
	if err != nil {
		return nil, classify(err, "listing orgs")
	}
	defer rows.Close()
	var out []probity.Org
	for rows.Next() {
		var o probity.Org
		if err := rows.Scan(&o.ID, &o.CreatedAt); err != nil {
			return nil, classify(err, "listing orgs")
		}
		o.CreatedAt = o.CreatedAt.UTC()
		out = append(out, o)
	}
	return out, classify(rows.Err(), "listing orgs")
}

const keyCols = `id, org_id, name, prefix, scopes, hash, created_at, created_by, revoked_at`

func scanKey(row pgx.Row) (probity.APIKey, error) {
	var k probity.APIKey
	var scopes []string
	var revoked *time.Time
	if err := row.Scan(&k.ID, &k.OrgID, &k.Name, &k.Prefix, &scopes, &k.Hash, &k.CreatedAt, &k.CreatedBy, &revoked); err != nil {
		return k, err
	}
	for _, s := range scopes {
		k.Scopes = append(k.Scopes, probity.Scope(s))
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if revoked != nil {
		r := revoked.UTC()
		k.RevokedAt = &r
	}
	return k, nil
}

func scopeStrings(ss []probity.Scope) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, string(s))
	}
	return out
}

func (t *txn) CreateKey(ctx context.Context, k probity.APIKey) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO api_keys (`+keyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)`,
		k.ID, k.OrgID, k.Name, k.Prefix, scopeStrings(k.Scopes), k.Hash, k.CreatedAt, k.CreatedBy)
	return classify(err, "creating key")
}

func (t *txn) KeyByHash(ctx context.Context, hash []byte) (probity.APIKey, error) {
	k, err := scanKey(t.tx.QueryRow(ctx, `SELECT `+keyCols+` FROM api_keys WHERE hash = $1`, hash))
	return k, classify(err, "looking up key")
}

func (t *txn) GetKey(ctx context.Context, orgID, id string) (probity.APIKey, error) {
	k, err := scanKey(t.tx.QueryRow(ctx, `SELECT `+keyCols+` FROM api_keys WHERE org_id = $1 AND id = $2`, orgID, id))
	return k, classify(err, "reading key "+id)
}

func (t *txn) ListKeys(ctx context.Context, orgID string, p store.Page) ([]probity.APIKey, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+keyCols+` FROM api_keys WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
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
	tag, err := t.tx.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE org_id = $2 AND id = $3`,
		at, orgID, id)
	if err != nil {
		return classify(err, "revoking key "+id)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoking key %s: %w", id, probity.ErrNotFound)
	}
	return nil
}

func (t *txn) CreateAgent(ctx context.Context, orgID string, a probity.Agent) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding agent: %w", err)
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO agents (org_id, id, doc, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)`,
		orgID, a.ID, doc, a.CreatedAt, a.UpdatedAt)
	return classify(err, "creating agent "+a.ID)
}

func scanAgent(row pgx.Row) (probity.Agent, error) {
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
	a, err := scanAgent(t.tx.QueryRow(ctx, `SELECT doc FROM agents WHERE org_id = $1 AND id = $2`, orgID, id))
	return a, classify(err, "reading agent "+id)
}

func (t *txn) ListAgents(ctx context.Context, orgID string, p store.Page) ([]probity.Agent, error) {
	rows, err := t.tx.Query(ctx, `SELECT doc FROM agents WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
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
	tag, err := t.tx.Exec(ctx, `UPDATE agents SET doc = $1, updated_at = $2 WHERE org_id = $3 AND id = $4`,
		doc, a.UpdatedAt, orgID, a.ID)
	if err != nil {
		return classify(err, "updating agent "+a.ID)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("updating agent %s: %w", a.ID, probity.ErrNotFound)
	}
	return nil
}

func (t *txn) AddModelChange(ctx context.Context, orgID, agentID string, c probity.ModelChange) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding model change: %w", err)
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO agent_models (org_id, agent_id, since, doc) VALUES ($1, $2, $3, $4)`,
		orgID, agentID, c.Since, doc)
	return classify(err, "recording model change")
}

func (t *txn) ModelHistory(ctx context.Context, orgID, agentID string) ([]probity.ModelChange, error) {
	rows, err := t.tx.Query(ctx, `SELECT doc FROM agent_models WHERE org_id = $1 AND agent_id = $2 ORDER BY since, id`,
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

// AppendAudit numbers the entry by bumping the org's counter: the row lock
// that UPDATE takes serializes appends per org across every replica.
func (t *txn) AppendAudit(ctx context.Context, orgID string, e *probity.AuditEntry) error {
	var seq int64
	err := t.tx.QueryRow(ctx, `UPDATE orgs SET audit_seq = audit_seq + 1 WHERE id = $1 RETURNING audit_seq`, orgID).Scan(&seq)
	if err != nil {
		return classify(err, "numbering audit entry")
	}
	var change *string
	if len(e.Change) > 0 {
		s := string(e.Change)
		change = &s
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO audit (org_id, seq, time, actor, action, target, change) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		orgID, seq, e.Time, e.Actor, e.Action, e.Target, change)
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
	rows, err := t.tx.Query(ctx, `SELECT seq, time, actor, action, target, change, ledger_index FROM audit
		WHERE org_id = $1 AND seq > $2 AND ($3::text = '' OR action = $3) AND ($4::text = '' OR target = $4)
		ORDER BY seq LIMIT $5`, orgID, after, f.Action, f.Target, f.Limit)
	if err != nil {
		return nil, classify(err, "listing audit")
	}
	defer rows.Close()
	var out []probity.AuditEntry
	for rows.Next() {
		var e probity.AuditEntry
		var change *string
		if err := rows.Scan(&e.Seq, &e.Time, &e.Actor, &e.Action, &e.Target, &change, &e.LedgerIndex); err != nil {
			return nil, classify(err, "listing audit")
		}
		e.Time = e.Time.UTC()
		if change != nil {
			e.Change = json.RawMessage(*change)
		}
		out = append(out, e)
	}
	return out, classify(rows.Err(), "listing audit")
}
