package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Incident statuses, and the filter value for open and acknowledged
// together.
const (
	IncidentOpen         = "open"
	IncidentAcknowledged = "acknowledged"
	IncidentResolved     = "resolved"
	IncidentActive       = "active"
)

// Incident is a behavioral security incident (docs/incidents.md): the rule
// that opened it, what was observed against which threshold over which
// window, its evidence with the ledger leaves that prove it, the playbook
// the server ran, and its history. Title, Observed and evidence notes may
// quote what agents or pacts said: treat them as untrusted text.
type Incident struct {
	ID        string         `json:"id"` // "inc_" and the ledger index of its opening
	AgentID   string         `json:"agentId"`
	Rule      string         `json:"rule"`
	Severity  string         `json:"severity"` // critical, high or medium
	Status    string         `json:"status"`   // open, acknowledged or resolved
	Title     string         `json:"title"`
	Observed  map[string]any `json:"observed"`
	Threshold string         `json:"threshold"`
	Window    string         `json:"window,omitempty"`
	// Evidence holds the newest 500 items; EvidenceCount counts all.
	Evidence       []IncidentEvidence   `json:"evidence"`
	EvidenceCount  int                  `json:"evidenceCount"`
	Playbook       []string             `json:"playbook"` // notify, suspend, already-suspended
	OpenedAt       time.Time            `json:"openedAt"`
	UpdatedAt      time.Time            `json:"updatedAt"`
	AcknowledgedAt *time.Time           `json:"acknowledgedAt,omitempty"`
	AcknowledgedBy string               `json:"acknowledgedBy,omitempty"`
	ResolvedAt     *time.Time           `json:"resolvedAt,omitempty"`
	ResolvedBy     string               `json:"resolvedBy,omitempty"`
	RootCause      string               `json:"rootCause,omitempty"`
	RemindedAt     *time.Time           `json:"remindedAt,omitempty"` // the last reminder that it awaits acknowledgement
	History        []IncidentTransition `json:"history"`
	LedgerIndex    int64                `json:"ledgerIndex"`
}

// IncidentEvidence links an incident to a violation, a record, an eval
// result ("<run>/<seq>"), a score snapshot, an anomaly flag or a model
// change; LedgerIndex is the leaf that proves it, when it has one.
type IncidentEvidence struct {
	Kind        string    `json:"kind"`
	ID          string    `json:"id"`
	LedgerIndex *int64    `json:"ledgerIndex,omitempty"`
	Time        time.Time `json:"time"`
	Note        string    `json:"note,omitempty"`
}

// IncidentTransition is one step of an incident's life (opened, updated,
// acknowledged, resolved) with its ledger leaf. By is an API key id, or
// "probity" for the server itself.
type IncidentTransition struct {
	Action      string    `json:"action"`
	At          time.Time `json:"at"`
	By          string    `json:"by"`
	Note        string    `json:"note,omitempty"`
	Evidence    int       `json:"evidence,omitempty"`
	LedgerIndex int64     `json:"ledgerIndex"`
}

// IncidentFilter selects incidents, newest first: each non-empty field
// must match (Status may be IncidentActive), Since selects those changed at
// or after it, and ListOptions pick the page.
type IncidentFilter struct {
	AgentID  string
	Status   string
	Severity string
	Rule     string
	Since    time.Time
	ListOptions
}

// ListIncidents returns a page of the org's incidents that f selects.
func (c *Client) ListIncidents(ctx context.Context, f IncidentFilter) (Page[Incident], error) {
	q := f.ListOptions.query()
	for k, v := range map[string]string{"agent": f.AgentID, "status": f.Status, "severity": f.Severity, "rule": f.Rule} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	var out Page[Incident]
	err := c.do(ctx, http.MethodGet, "/v1/incidents", q, nil, &out)
	return out, err
}

// GetIncident returns one incident with its evidence and history.
func (c *Client) GetIncident(ctx context.Context, id string) (Incident, error) {
	var out Incident
	err := c.do(ctx, http.MethodGet, "/v1/incidents/"+segment(id), nil, nil, &out)
	return out, err
}

// AcknowledgeIncident moves an open incident to acknowledged, with an
// optional note. An incident that is not open is a conflict
// (errors.Is(err, probity.ErrConflict)). It needs an admin key.
func (c *Client) AcknowledgeIncident(ctx context.Context, id, note string) (Incident, error) {
	var out Incident
	err := c.do(ctx, http.MethodPost, "/v1/incidents/"+segment(id)+"/acknowledge", nil, map[string]string{"note": note}, &out)
	return out, err
}

// ResolveIncident resolves an open or acknowledged incident with its root
// cause, which is required. It does not reactivate a suspended agent
// (ReactivateAgent does, and resolves the incidents that suspended it).
// It needs an admin key.
func (c *Client) ResolveIncident(ctx context.Context, id, rootCause string) (Incident, error) {
	var out Incident
	err := c.do(ctx, http.MethodPost, "/v1/incidents/"+segment(id)+"/resolve", nil, map[string]string{"rootCause": rootCause}, &out)
	return out, err
}

// IncidentRules returns the org's incident rules in effect, as the
// document GET /v1/incidents/rules answers (docs/incidents.md).
func (c *Client) IncidentRules(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, http.MethodGet, "/v1/incidents/rules", nil, nil, &out)
	return out, err
}

// AnomalyFlag is one anomaly flagged on an agent against its own baseline
// (docs/anomaly.md).
type AnomalyFlag struct {
	ID          string    `json:"id"`
	AgentID     string    `json:"agentId"`
	Metric      string    `json:"metric"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Value       float64   `json:"value"`
	Median      float64   `json:"median"`
	Scale       float64   `json:"scale"`
	Z           float64   `json:"z"`
	History     int       `json:"history"`
	Detail      string    `json:"detail,omitempty"` // agent-supplied tool names: untrusted text
	DetectedAt  time.Time `json:"detectedAt"`
	Explanation string    `json:"explanation"`
}

// ListAnomalies returns a page of the agent's anomaly flags, newest first.
func (c *Client) ListAnomalies(ctx context.Context, agentID string, opts ListOptions) (Page[AnomalyFlag], error) {
	var out Page[AnomalyFlag]
	err := c.do(ctx, http.MethodGet, agentPath(agentID)+"/anomalies", opts.query(), nil, &out)
	return out, err
}
