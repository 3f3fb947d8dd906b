package incident

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/probity-dev/probity"
)

// Statuses of an incident. Open and acknowledged incidents are active: an
// agent has at most one active incident per rule.
const (
	Open         = "open"
	Acknowledged = "acknowledged"
	Resolved     = "resolved"
)

// Actions of an incident's history; each is a ledger leaf.
const (
	ActionOpened       = "opened"
	ActionUpdated      = "updated"
	ActionAcknowledged = "acknowledged"
	ActionResolved     = "resolved"
)

// Evidence kinds.
const (
	EvidenceViolation   = "violation"     // ID is the violation id
	EvidenceRecord      = "record"        // ID is the record id
	EvidenceEvalResult  = "evalResult"    // ID is "<run id>/<seq>"
	EvidenceScore       = "scoreSnapshot" // ID is the snapshot's ledger index
	EvidenceAnomaly     = "anomaly"       // ID is the anomaly flag id
	EvidenceModelChange = "modelChange"   // ID is "<from>→<to>"
)

// Evidence links an incident to what it rests on. LedgerIndex is the
// leaf that proves it, when it has one of its own.
type Evidence struct {
	Kind        string    `json:"kind"`
	ID          string    `json:"id"`
	LedgerIndex *int64    `json:"ledgerIndex,omitempty"`
	Time        time.Time `json:"time"`
	Note        string    `json:"note,omitempty"`
}

// Key identifies the evidence among an incident's: the same key is the same
// evidence, appended once.
func (e Evidence) Key() string { return e.Kind + "\x00" + e.ID }

// Finding is what a rule found: an incident to open, or evidence to append
// to the agent's active incident of the same rule.
type Finding struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Title    string `json:"title"`
	// Observed holds the values the rule saw (rates, points, versions …).
	Observed  map[string]any `json:"observed"`
	Threshold string         `json:"threshold"`
	Window    string         `json:"window,omitempty"`
	Evidence  []Evidence     `json:"evidence"`
}

// Transition is one entry of an incident's history, with its ledger leaf.
type Transition struct {
	Action      string    `json:"action"`
	At          time.Time `json:"at"`
	By          string    `json:"by"` // an API key id, or System
	Note        string    `json:"note,omitempty"`
	Evidence    int       `json:"evidence,omitempty"` // evidence items it added
	LedgerIndex int64     `json:"ledgerIndex"`
}

// System is the actor of what the server does by itself: opening an
// incident, appending evidence, running a playbook.
const System = "probity"

// Incident is a behavioral security incident. It explains itself: the rule,
// what was observed against which threshold over which window, and links to
// the evidence.
type Incident struct {
	ID        string         `json:"id"`
	AgentID   string         `json:"agentId"`
	Rule      string         `json:"rule"`
	Severity  string         `json:"severity"`
	Status    string         `json:"status"`
	Title     string         `json:"title"`
	Observed  map[string]any `json:"observed"`
	Threshold string         `json:"threshold"`
	Window    string         `json:"window,omitempty"`
	// Evidence keeps the newest MaxEvidence items; EvidenceCount counts all
	// that were ever attached.
	Evidence      []Evidence `json:"evidence"`
	EvidenceCount int        `json:"evidenceCount"`
	// Playbook lists what the server did when the incident opened, such as
	// "notify" and "suspend".
	Playbook       []string   `json:"playbook"`
	OpenedAt       time.Time  `json:"openedAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	AcknowledgedAt *time.Time `json:"acknowledgedAt,omitempty"`
	AcknowledgedBy string     `json:"acknowledgedBy,omitempty"`
	ResolvedAt     *time.Time `json:"resolvedAt,omitempty"`
	ResolvedBy     string     `json:"resolvedBy,omitempty"`
	RootCause      string     `json:"rootCause,omitempty"`
	// RemindedAt is when the sinks were last told again that the incident
	// still awaits acknowledgement.
	RemindedAt *time.Time `json:"remindedAt,omitempty"`
	// History is every transition with its ledger leaf (the first, then the
	// newest MaxHistory-1).
	History     []Transition `json:"history"`
	LedgerIndex int64        `json:"ledgerIndex"` // the leaf of its opening
}

// Bounds of what one incident keeps.
const (
	MaxEvidence = 500
	MaxHistory  = 200
	// MaxText bounds an acknowledgement note and a root cause.
	MaxText = 4000
)

// Active reports whether the incident is open or acknowledged.
func (in *Incident) Active() bool { return in.Status == Open || in.Status == Acknowledged }

// New opens an incident from a finding.
func New(id, agentID string, f Finding, at time.Time) Incident {
	in := Incident{ID: id, AgentID: agentID, Rule: f.Rule, Severity: f.Severity, Status: Open, Title: f.Title,
		Observed: f.Observed, Threshold: f.Threshold, Window: f.Window, Playbook: []string{}, History: []Transition{},
		OpenedAt: at, UpdatedAt: at}
	in.addEvidence(f.Evidence)
	return in
}

// Append adds the finding's evidence the incident does not hold yet and
// returns it; the observed values become the finding's when there is some.
// It never changes the status: more evidence never closes an incident.
func (in *Incident) Append(f Finding, at time.Time) []Evidence {
	have := make(map[string]bool, len(in.Evidence))
	for _, e := range in.Evidence {
		have[e.Key()] = true
	}
	var added []Evidence
	for _, e := range f.Evidence {
		if !have[e.Key()] {
			have[e.Key()] = true
			added = append(added, e)
		}
	}
	if len(added) == 0 {
		return nil
	}
	in.addEvidence(added)
	if f.Observed != nil {
		in.Observed = f.Observed
	}
	in.UpdatedAt = at
	return added
}

func (in *Incident) addEvidence(es []Evidence) {
	in.Evidence = append(in.Evidence, es...)
	in.EvidenceCount += len(es)
	if n := len(in.Evidence); n > MaxEvidence {
		in.Evidence = slices.Clone(in.Evidence[n-MaxEvidence:])
	}
	if in.Evidence == nil {
		in.Evidence = []Evidence{}
	}
}

// Acknowledge moves an open incident to acknowledged. Anything else is
// probity.ErrConflict.
func (in *Incident) Acknowledge(by, note string, at time.Time) error {
	if in.Status != Open {
		return fmt.Errorf("incident %s is %s, only an open incident can be acknowledged: %w", in.ID, in.Status, probity.ErrConflict)
	}
	if err := probity.CheckText("note", note, MaxText); err != nil {
		return err
	}
	in.Status, in.AcknowledgedAt, in.AcknowledgedBy, in.UpdatedAt = Acknowledged, &at, by, at
	return nil
}

// Resolve closes an open or acknowledged incident with its root cause,
// which is required. A resolved incident is probity.ErrConflict.
func (in *Incident) Resolve(by, rootCause string, at time.Time) error {
	if strings.TrimSpace(rootCause) == "" {
		return probity.Invalid("rootCause", "is required: record the root cause of the incident")
	}
	if err := probity.CheckText("rootCause", rootCause, MaxText); err != nil {
		return err
	}
	if !in.Active() {
		return fmt.Errorf("incident %s is already %s: %w", in.ID, in.Status, probity.ErrConflict)
	}
	in.Status, in.ResolvedAt, in.ResolvedBy, in.RootCause, in.UpdatedAt = Resolved, &at, by, rootCause, at
	return nil
}

// Record adds a transition to the history, keeping the first and the newest.
func (in *Incident) Record(t Transition) {
	in.History = append(in.History, t)
	if n := len(in.History); n > MaxHistory {
		in.History = append(in.History[:1:1], in.History[n-MaxHistory+1:]...)
	}
}

// Leaf is the ledger entry of a transition of the incident:
// {"kind":"incident","incident":{…}} with what the transition did. An
// opening carries the whole explanation; an update the evidence it added
// and the values observed; an acknowledgement its note; a resolution the
// root cause.
func (in *Incident) Leaf(action, by, note string, added []Evidence, at time.Time) ([]byte, error) {
	type body struct {
		ID        string         `json:"id"`
		AgentID   string         `json:"agentId"`
		Rule      string         `json:"rule"`
		Severity  string         `json:"severity"`
		Action    string         `json:"action"`
		Status    string         `json:"status"`
		At        time.Time      `json:"at"`
		By        string         `json:"by"`
		Title     string         `json:"title,omitempty"`
		Threshold string         `json:"threshold,omitempty"`
		Window    string         `json:"window,omitempty"`
		Observed  map[string]any `json:"observed,omitempty"`
		Evidence  []Evidence     `json:"evidence,omitempty"`
		Playbook  []string       `json:"playbook,omitempty"`
		Note      string         `json:"note,omitempty"`
		RootCause string         `json:"rootCause,omitempty"`
	}
	b := body{ID: in.ID, AgentID: in.AgentID, Rule: in.Rule, Severity: in.Severity, Action: action, Status: in.Status,
		At: at.UTC(), By: by}
	switch action {
	case ActionOpened:
		b.Title, b.Threshold, b.Window, b.Observed, b.Evidence, b.Playbook = in.Title, in.Threshold, in.Window, in.Observed, in.Evidence, in.Playbook
	case ActionUpdated:
		b.Observed, b.Evidence = in.Observed, added
	case ActionAcknowledged:
		b.Note = note
	case ActionResolved:
		b.RootCause, b.Note = in.RootCause, note
	}
	out, err := json.Marshal(struct {
		Kind     string `json:"kind"`
		Incident body   `json:"incident"`
	}{"incident", b})
	if err != nil {
		return nil, fmt.Errorf("encoding incident leaf: %w", err)
	}
	return out, nil
}
