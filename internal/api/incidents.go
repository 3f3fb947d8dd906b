package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/eval"
	"github.com/probity-dev/probity/internal/incident"
	"github.com/probity-dev/probity/internal/notify"
	"github.com/probity-dev/probity/internal/pact"
	"github.com/probity-dev/probity/internal/record"
	"github.com/probity-dev/probity/internal/score"
	"github.com/probity-dev/probity/internal/store"
)

// Incidents (internal/incident, docs/incidents.md) are evaluated off the
// request path: an agent is marked due when a score of it is recorded (new
// evidence, an eval run's results, the hourly rescoring for decay), when a
// confirmed injection-influenced action is ingested, and when anomalies are
// flagged on it; RunIncidents evaluates the agents due as they are marked.
// An incident and each of its transitions is a ledger leaf, written in the
// transaction that stores it, with the events its sinks are sent.

// incidents is the server's incident state: its rules and the agents due
// for evaluation.
type incidents struct {
	mu     sync.Mutex
	rules  *incident.Config // the server's rules; nil for the defaults
	due    map[[2]string]bool
	wake   chan struct{}
	orgs   map[string]orgRules // parsed rules of each org, by document
	queue  activityQueue
	onEval func(org, agent string, opened, updated int) // tests watch evaluations
}

type orgRules struct {
	doc string
	cfg incident.Config
}

// SetIncidentRules makes cfg the server's rules, which each org's rules
// document is laid over. It should be called before the server serves.
func (s *Server) SetIncidentRules(cfg incident.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.inc.mu.Lock()
	defer s.inc.mu.Unlock()
	s.inc.rules = &cfg
	s.inc.orgs = nil
	return nil
}

func (s *Server) serverRules() incident.Config {
	s.inc.mu.Lock()
	defer s.inc.mu.Unlock()
	if s.inc.rules == nil {
		return incident.Default()
	}
	return *s.inc.rules
}

// rulesOf returns the rules of org: its stored document over the server's
// rules, or the server's rules.
func (s *Server) rulesOf(ctx context.Context, tx store.Tx, org string) (incident.Config, error) {
	base := s.serverRules()
	doc, err := tx.IncidentRules(ctx, org)
	if errors.Is(err, probity.ErrNotFound) {
		return base, nil
	} else if err != nil {
		return base, err
	}
	s.inc.mu.Lock()
	cached, ok := s.inc.orgs[org]
	s.inc.mu.Unlock()
	if ok && cached.doc == string(doc) {
		return cached.cfg, nil
	}
	cfg, err := incident.Parse(doc, base)
	if err != nil {
		// A document the server's rules no longer admit: the server's
		// rules apply until an admin replaces it.
		s.log.WarnContext(ctx, "an org's incident rules no longer apply; using the server's", "org", org, "err", err)
		return base, nil
	}
	s.inc.mu.Lock()
	if s.inc.orgs == nil || len(s.inc.orgs) > 10000 {
		s.inc.orgs = map[string]orgRules{}
	}
	s.inc.orgs[org] = orgRules{string(doc), cfg}
	s.inc.mu.Unlock()
	return cfg, nil
}

// markIncidentsDue queues the agent for incident evaluation.
func (s *Server) markIncidentsDue(org, agent string) {
	s.inc.mu.Lock()
	if s.inc.due == nil {
		s.inc.due = map[[2]string]bool{}
	}
	s.inc.due[[2]string{org, agent}] = true
	s.inc.mu.Unlock()
	s.incidentWake()
}

func (s *Server) incidentWake() {
	s.inc.mu.Lock()
	if s.inc.wake == nil {
		s.inc.wake = make(chan struct{}, 1)
	}
	w := s.inc.wake
	s.inc.mu.Unlock()
	select {
	case w <- struct{}{}:
	default:
	}
}

// IncidentsDue reports how many agents wait for incident evaluation: the
// backlog of RunIncidents.
func (s *Server) IncidentsDue() int {
	s.inc.mu.Lock()
	defer s.inc.mu.Unlock()
	return len(s.inc.due)
}

// incidentTick is how often RunIncidents looks for due agents when nothing
// wakes it.
const incidentTick = 2 * time.Second

// RunIncidents evaluates the agents marked due, as they are marked, until
// ctx ends.
func (s *Server) RunIncidents(ctx context.Context) {
	s.incidentWake() // makes the channel
	s.inc.mu.Lock()
	wake := s.inc.wake
	s.inc.mu.Unlock()
	t := time.NewTicker(incidentTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
		if err := s.EvaluateIncidents(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("evaluating incidents", "err", err)
		}
	}
}

// EvaluateIncidents evaluates the incident rules for every agent marked due
// since the last call.
func (s *Server) EvaluateIncidents(ctx context.Context) error {
	s.inc.mu.Lock()
	due := s.inc.due
	s.inc.due = nil
	s.inc.mu.Unlock()
	var first error
	for k := range due {
		if err := s.evaluateIncidents(ctx, k[0], k[1]); err != nil {
			if ctx.Err() != nil {
				// Not evaluated: due again next time.
				s.markIncidentsDue(k[0], k[1])
				continue
			}
			first = cmp.Or(first, fmt.Errorf("incidents of %s/%s: %w", k[0], k[1], err))
		}
	}
	return first
}

// EvaluateAgentIncidents evaluates the rules for one agent now, whether
// or not it is due.
func (s *Server) EvaluateAgentIncidents(ctx context.Context, org, agentID string) error {
	return s.evaluateIncidents(ctx, org, agentID)
}

// OnIncidentEvaluation calls fn after each agent's evaluation with the
// incidents it opened and updated; for tests.
func (s *Server) OnIncidentEvaluation(fn func(org, agent string, opened, updated int)) {
	s.inc.mu.Lock()
	defer s.inc.mu.Unlock()
	s.inc.onEval = fn
}

// evaluateIncidents evaluates the rules for one agent now and stores what
// they find: new incidents with their playbooks, new evidence of active
// ones.
func (s *Server) evaluateIncidents(ctx context.Context, org, agentID string) error {
	now := s.now().UTC().Truncate(time.Microsecond)
	var findings []incident.Finding
	var cfg incident.Config
	var resolved map[string]store.Resolution // as the findings saw them
	changes := false
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		if cfg, err = s.rulesOf(ctx, tx, org); err != nil {
			return err
		}
		sum, err := tx.IncidentSummary(ctx, org, agentID)
		if err != nil {
			return err
		}
		resolved = sum.Resolved
		a, err := tx.GetAgent(ctx, org, agentID)
		if err != nil {
			return err
		}
		in, err := s.incidentInputs(ctx, tx, org, a, cfg, now)
		if err != nil {
			return err
		}
		findings = incident.Evaluate(cfg, in, now)
		if len(findings) == 0 {
			return nil
		}
		active, err := tx.ActiveIncidents(ctx, org, agentID)
		if err != nil {
			return err
		}
		changes = changesAny(active, findings)
		return nil
	})
	if errors.Is(err, probity.ErrNotFound) {
		return nil // the agent, or its org, is gone
	}
	if err != nil || !changes {
		return err
	}
	opened, updated := 0, 0
	err = s.store.Update(ctx, func(tx store.Tx) error {
		opened, updated = 0, 0
		if err := tx.LockLedger(ctx, org); err != nil {
			return err
		}
		a, err := tx.GetAgent(ctx, org, agentID)
		if err != nil {
			return err
		}
		// An incident resolved since the findings were read (an agent
		// reactivated, say) makes them stale: their evidence may be what
		// the resolution closed. The agent is evaluated again instead.
		sum, err := tx.IncidentSummary(ctx, org, agentID)
		if err != nil {
			return err
		}
		if !maps.Equal(sum.Resolved, resolved) {
			return errFindingsStale
		}
		active, err := tx.ActiveIncidents(ctx, org, agentID)
		if err != nil {
			return err
		}
		byRule := map[string]store.Incident{}
		for _, row := range active {
			byRule[row.Rule] = row
		}
		for _, f := range findings {
			row, ok := byRule[f.Rule]
			if !ok {
				if err := s.openIncident(ctx, tx, org, &a, f, now); err != nil {
					return err
				}
				opened++
				continue
			}
			n, err := s.appendEvidence(ctx, tx, org, row, f, now)
			if err != nil {
				return err
			}
			if n > 0 {
				updated++
			}
		}
		return nil
	})
	if errors.Is(err, errFindingsStale) {
		s.markIncidentsDue(org, agentID)
		return nil
	}
	if err != nil {
		return err
	}
	if opened > 0 {
		// An open critical incident withholds the tier; the score says so
		// within seconds.
		s.markDirty(org, agentID)
	}
	s.inc.mu.Lock()
	fn := s.inc.onEval
	s.inc.mu.Unlock()
	if fn != nil {
		fn(org, agentID, opened, updated)
	}
	return nil
}

// errFindingsStale abandons an evaluation whose findings predate a
// resolution.
var errFindingsStale = errors.New("incidents were resolved since the findings were read")

// changesAny reports whether findings would open an incident or add
// evidence to an active one.
func changesAny(active []store.Incident, findings []incident.Finding) bool {
	byRule := map[string][]byte{}
	for _, row := range active {
		byRule[row.Rule] = row.Body
	}
	for _, f := range findings {
		body, ok := byRule[f.Rule]
		if !ok {
			return true
		}
		var in incident.Incident
		if json.Unmarshal(body, &in) != nil {
			return true
		}
		if in.Append(f, time.Time{}) != nil {
			return true
		}
	}
	return false
}

// Playbook steps, as an incident lists them.
const (
	playbookNotify           = "notify"
	playbookSuspend          = "suspend"
	playbookAlreadySuspended = "already-suspended"
)

// openIncident opens an incident from f, runs its playbook and notifies
// sinks, all in tx, which holds the ledger lock. Its id is "inc_" and the
// ledger index of its opening leaf.
func (s *Server) openIncident(ctx context.Context, tx store.Tx, org string, a *probity.Agent, f incident.Finding, now time.Time) error {
	idx, err := tx.LedgerSize(ctx, org)
	if err != nil {
		return err
	}
	if err := s.enrichEvidence(ctx, tx, org, f.Evidence); err != nil {
		return err
	}
	in := incident.New("inc_"+strconv.FormatInt(idx, 10), a.ID, f, now)
	in.LedgerIndex = idx
	in.Playbook = []string{playbookNotify}
	suspend := f.Severity == incident.Critical
	if suspend {
		if a.Status == probity.StatusSuspended {
			in.Playbook = append(in.Playbook, playbookAlreadySuspended)
			suspend = false
		} else {
			in.Playbook = append(in.Playbook, playbookSuspend)
		}
	}
	leaf, err := in.Leaf(incident.ActionOpened, incident.System, "", nil, now)
	if err != nil {
		return err
	}
	first, err := store.AppendLedger(ctx, tx, org, [][]byte{leaf})
	if err != nil {
		return err
	}
	if first != idx {
		return fmt.Errorf("%w: the ledger grew from %d to %d under its lock", store.ErrLedgerDamaged, idx, first)
	}
	in.Record(incident.Transition{Action: incident.ActionOpened, At: now, By: incident.System, Evidence: len(in.Evidence), LedgerIndex: idx})
	if err := s.putIncident(ctx, tx, org, &in, true); err != nil {
		return err
	}
	if err := s.emitIncident(ctx, tx, org, &in, notify.IncidentOpened, now); err != nil {
		return err
	}
	if suspend {
		return s.suspendFor(ctx, tx, org, a, &in, now)
	}
	return nil
}

// suspendFor is the critical playbook: the agent is suspended at once (the
// gate denies it), the suspension is audited and every sink told.
func (s *Server) suspendFor(ctx context.Context, tx store.Tx, org string, a *probity.Agent, in *incident.Incident, now time.Time) error {
	reason := fmt.Sprintf("suspended by incident %s (%s): %s", in.ID, in.Rule, in.Title)
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason], "")
	}
	a.Status, a.StatusReason, a.UpdatedAt = probity.StatusSuspended, reason, now
	if err := tx.UpdateAgent(ctx, org, *a); err != nil {
		return err
	}
	change, err := json.Marshal(map[string]string{"reason": reason, "incident": in.ID})
	if err != nil {
		return err
	}
	e := &probity.AuditEntry{Time: now, Actor: incident.System, Action: "agent.suspend", Target: "agent:" + a.ID, Change: change}
	if err := store.Audit(ctx, tx, org, e); err != nil {
		return err
	}
	// Critical, like the incident: it reaches every sink that takes
	// agent.suspended, whatever its minimum severity.
	ev := agentStatusEvent(*a)
	ev.Severity, ev.Rule, ev.Title = notify.SeverityCritical, in.Rule, fmt.Sprintf("agent %s suspended by incident %s", a.ID, in.ID)
	return s.emit(ctx, tx, org, ev)
}

// appendEvidence adds f's new evidence to the active incident row, with a
// ledger leaf and an incident.updated event; it returns how many items it
// added.
func (s *Server) appendEvidence(ctx context.Context, tx store.Tx, org string, row store.Incident, f incident.Finding, now time.Time) (int, error) {
	var in incident.Incident
	if err := json.Unmarshal(row.Body, &in); err != nil {
		return 0, fmt.Errorf("%w: incident %s does not decode: %v", store.ErrLedgerDamaged, row.ID, err)
	}
	added := in.Append(f, now)
	if len(added) == 0 {
		return 0, nil
	}
	if err := s.enrichEvidence(ctx, tx, org, added); err != nil {
		return 0, err
	}
	// Append copied the items before they were enriched.
	for i := range in.Evidence {
		for _, e := range added {
			if in.Evidence[i].Key() == e.Key() {
				in.Evidence[i] = e
			}
		}
	}
	leaf, err := in.Leaf(incident.ActionUpdated, incident.System, "", added, now)
	if err != nil {
		return 0, err
	}
	idx, err := store.AppendLedger(ctx, tx, org, [][]byte{leaf})
	if err != nil {
		return 0, err
	}
	in.Record(incident.Transition{Action: incident.ActionUpdated, At: now, By: incident.System, Evidence: len(added), LedgerIndex: idx})
	if err := s.putIncident(ctx, tx, org, &in, false); err != nil {
		return 0, err
	}
	return len(added), s.emitIncident(ctx, tx, org, &in, notify.IncidentUpdated, now)
}

// enrichEvidence gives record evidence the ledger index of its record.
func (s *Server) enrichEvidence(ctx context.Context, tx store.Tx, org string, es []incident.Evidence) error {
	for i := range es {
		if es[i].Kind != incident.EvidenceRecord || es[i].LedgerIndex != nil {
			continue
		}
		row, err := tx.GetRecord(ctx, org, es[i].ID)
		if errors.Is(err, probity.ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		idx := row.LedgerIndex
		es[i].LedgerIndex = &idx
	}
	return nil
}

// putIncident stores in, inserting it when fresh.
func (s *Server) putIncident(ctx context.Context, tx store.Tx, org string, in *incident.Incident, fresh bool) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	row := store.Incident{ID: in.ID, AgentID: in.AgentID, Rule: in.Rule, Severity: in.Severity, Status: in.Status,
		OpenedAt: in.OpenedAt, UpdatedAt: in.UpdatedAt, LedgerIndex: in.LedgerIndex, Body: body}
	if in.ResolvedAt != nil {
		row.ResolvedAt = *in.ResolvedAt
		for _, t := range in.History {
			if t.Action == incident.ActionResolved {
				row.ResolvedIndex = t.LedgerIndex
			}
		}
	}
	if fresh {
		return tx.InsertIncident(ctx, org, row)
	}
	return tx.UpdateIncident(ctx, org, row)
}

// emitIncident queues an incident event for the org's sinks. Its subject
// is the incident, the same for every transition, so that a SIEM folds
// them into one finding.
func (s *Server) emitIncident(ctx context.Context, tx store.Tx, org string, in *incident.Incident, typ string, now time.Time) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("%s incident %s of agent %s (rule %s), %s; threshold: %s", in.Severity, in.ID, in.AgentID, in.Rule, in.Status, in.Threshold)
	if in.Window != "" {
		detail += "; window: " + in.Window
	}
	if in.RootCause != "" {
		detail += "; root cause: " + in.RootCause
	}
	return s.emit(ctx, tx, org, notify.Event{Type: typ, Severity: in.Severity, AgentID: in.AgentID, Time: now, Title: in.Title,
		Detail: detail, Rule: in.Rule, Subject: in.ID, Data: data})
}

// resolveSuspensions resolves, with the root cause of a reactivation, the
// agent's active incidents whose playbook called for its suspension (it
// suspended the agent, or found it suspended already): reactivating the
// agent is the resolution of what kept it suspended.
func (s *Server) resolveSuspensions(ctx context.Context, tx store.Tx, org, actor, agentID, rootCause string, at time.Time) error {
	active, err := tx.ActiveIncidents(ctx, org, agentID)
	if err != nil {
		return err
	}
	for _, row := range active {
		var in incident.Incident
		if err := json.Unmarshal(row.Body, &in); err != nil {
			return fmt.Errorf("%w: incident %s does not decode: %v", store.ErrLedgerDamaged, row.ID, err)
		}
		if !slices.Contains(in.Playbook, playbookSuspend) && !slices.Contains(in.Playbook, playbookAlreadySuspended) {
			continue
		}
		if err := s.transition(ctx, tx, org, &in, incident.ActionResolved, actor, rootCause, "resolved by reactivating the agent", at); err != nil {
			return err
		}
	}
	if len(active) > 0 {
		s.markDirty(org, agentID)
	}
	return nil
}

// transition acknowledges or resolves in, with its leaf and event.
func (s *Server) transition(ctx context.Context, tx store.Tx, org string, in *incident.Incident, action, actor, text, note string, at time.Time) error {
	var err error
	typ := notify.IncidentUpdated
	switch action {
	case incident.ActionAcknowledged:
		err, note = in.Acknowledge(actor, text, at), text
	case incident.ActionResolved:
		err, typ = in.Resolve(actor, text, at), notify.IncidentResolved
	}
	if err != nil {
		return err
	}
	leaf, err := in.Leaf(action, actor, note, nil, at)
	if err != nil {
		return err
	}
	idx, err := store.AppendLedger(ctx, tx, org, [][]byte{leaf})
	if err != nil {
		return err
	}
	in.Record(incident.Transition{Action: action, At: at, By: actor, Note: note, LedgerIndex: idx})
	if err := s.putIncident(ctx, tx, org, in, false); err != nil {
		return err
	}
	return s.emitIncident(ctx, tx, org, in, typ, at)
}

// incidentScoreInputs gives a score its agent's open incidents: an open
// critical incident withholds the tier.
func (s *Server) incidentScoreInputs(ctx context.Context, tx store.Tx, org string, in *score.Inputs) error {
	sum, err := tx.IncidentSummary(ctx, org, in.AgentID)
	if err != nil {
		return err
	}
	in.IncidentsEnabled = true
	in.OpenIncidents = score.Incidents{Critical: sum.Critical, High: sum.High, Medium: sum.Medium}
	in.LastCriticalIncidentAt = sum.LastCritical
	return nil
}

// Bounds of the evidence an evaluation reads.
const (
	maxIncidentRuns       = 50
	maxIncidentResults    = 50000
	maxIncidentInjections = 1000
	maxIncidentSnapshots  = 10000
	// anomalyCoincidence is how far back flags are read: enough for a
	// day-long dimension flag to meet an hourly one.
	anomalyCoincidence = 2 * 24 * time.Hour
)

// incidentInputs gathers what the rules of cfg are evaluated on for agent a
// at now.
func (s *Server) incidentInputs(ctx context.Context, tx store.Tx, org string, a probity.Agent, cfg incident.Config, now time.Time) (incident.Inputs, error) {
	r := &cfg.Rules
	in := incident.Inputs{AgentID: a.ID, ModelVersion: a.Model.Version, Since: map[string]incident.Mark{}}
	sum, err := tx.IncidentSummary(ctx, org, a.ID)
	if err != nil {
		return in, err
	}
	for rule, r := range sum.Resolved {
		in.Since[rule] = incident.Mark{At: r.At, LedgerIndex: r.LedgerIndex}
	}

	// The score now: the one just recorded when there is one.
	sc, ok := s.cachedScoreOf(org, a.ID, now)
	if !ok || sc.Explain == nil {
		if sc, _, err = s.computeScore(ctx, tx, org, a.ID, now); err != nil {
			return in, err
		}
	}
	in.Current = incident.Snapshot{Time: now, Composite: sc.CompositeScore, Dimensions: sc.Dimensions, LedgerIndex: -1,
		Undecayed: s.undecayed(sc.Dimensions)}
	in.LastEvalAt = sc.Evidence.LastEvalAt
	if ex := sc.Explain; ex != nil {
		in.Current.Undecayed, in.DecayDays, in.ByModelVersion = ex.UndecayedComposite, ex.DecayDays, ex.ByModelVersion
		for name, d := range ex.Dimensions {
			in.Evidence.Set(name, d.EffectiveEvidence)
		}
	}

	// Score history over the longest drop window.
	window := max(r.ScopeAdherenceDrop.Window.Std(), r.CompositeDrop.Window.Std())
	snaps, err := tx.ListScores(ctx, org, a.ID, now.Add(-window), now.Add(time.Microsecond), maxIncidentSnapshots)
	if err != nil {
		return in, err
	}
	for _, sn := range snaps {
		var past score.Score
		if err := json.Unmarshal(sn.Score, &past); err != nil {
			continue
		}
		in.History = append(in.History, incident.Snapshot{Time: sn.ComputedAt, Composite: sn.Composite, Dimensions: past.Dimensions,
			Undecayed: s.undecayed(past.Dimensions), LedgerIndex: sn.LedgerIndex})
	}

	// Model versions, from the model history.
	hist, err := tx.ModelHistory(ctx, org, a.ID)
	if err != nil {
		return in, err
	}
	prev := ""
	for _, h := range hist {
		if v := h.Model.Version; v != prev {
			in.ModelChanges = append(in.ModelChanges, incident.ModelChange{From: prev, To: v, At: h.Since})
			prev = v
		}
	}

	// Graded eval cases of the recent runs.
	lookback := max(2*r.SafetyPassRate.Window.Std(), r.CheckRegression.Lookback.Std())
	if in.Cases, err = s.recentCases(ctx, tx, org, a.ID, now.Add(-lookback)); err != nil {
		return in, err
	}

	// Confirmed injection-influenced actions stored since the last
	// resolution (in ledger order: a record's time is the agent's clock).
	p := store.ViolationFilter{Page: store.Page{Limit: maxIncidentInjections}, AgentID: a.ID, Kind: pact.KindInjectionInfluenced}
	if r, ok := sum.Resolved[incident.RuleConfirmedInjection]; ok {
		p.After = strconv.FormatInt(r.LedgerIndex, 10)
	}
	vs, err := tx.ListViolations(ctx, org, p)
	if err != nil {
		return in, err
	}
	for _, v := range vs {
		if v.Confirmed {
			in.Injections = append(in.Injections, incident.Injection{ViolationID: v.ID, Time: v.Time, LedgerIndex: v.LedgerIndex,
				RecordIDs: v.RecordIDs, Explanation: v.Explanation})
		}
	}

	// Recent anomaly flags.
	flags, err := tx.ListAnomalies(ctx, org, store.AnomalyFilter{Page: store.Page{Limit: 1000}, AgentID: a.ID, From: now.Add(-anomalyCoincidence)})
	if err != nil {
		return in, err
	}
	for _, fl := range flags {
		var f incident.Flag
		if json.Unmarshal(fl.Body, &f) == nil {
			in.Anomalies = append(in.Anomalies, f)
		}
	}
	return in, nil
}

// undecayed is 1000·Σ weight·dimension: the composite before decay.
func (s *Server) undecayed(d score.Dimensions) float64 {
	var sum float64
	for _, name := range score.DimensionNames() {
		sum += s.scoreConfig.Weights.Get(name) * d.Get(name)
	}
	return 1000 * sum
}

// recentCases returns the graded cases (errors are not evidence) of the
// agent's runs made since from, with each case's dimensions.
func (s *Server) recentCases(ctx context.Context, tx store.Tx, org, agentID string, from time.Time) ([]incident.Case, error) {
	find := s.lookupIn(ctx, tx, org)
	var out []incident.Case
	runs := 0
	for p := (store.EvalRunFilter{Page: store.Page{Limit: 50}, AgentID: agentID}); runs < maxIncidentRuns && len(out) < maxIncidentResults; {
		rs, err := tx.ListEvalRuns(ctx, org, p)
		if err != nil {
			return nil, err
		}
		older := false
		for _, run := range rs {
			if run.CreatedAt.Before(from) {
				older = true
				break
			}
			runs++
			grades, err := s.gradedCases(ctx, tx, org, run)
			if err != nil {
				return nil, err
			}
			for _, g := range grades {
				if g.Status == eval.StatusError {
					continue
				}
				var dims []string
				if st, err := find(g.Suite); err == nil {
					if c := caseOf(st, g.CaseID); c != nil {
						dims = c.Dimensions
					}
				}
				mv := g.ModelVersion
				if mv == "" || run.ModelVersion != "" {
					mv = run.ModelVersion
				}
				out = append(out, incident.Case{RunID: run.ID, Seq: g.Seq, Suite: g.Suite, CaseID: g.CaseID, Time: g.CreatedAt,
					Passed: g.Status == eval.StatusPassed, Dimensions: dims, ModelVersion: mv, LedgerIndex: g.LedgerIndex})
			}
			if runs >= maxIncidentRuns || len(out) >= maxIncidentResults {
				break
			}
		}
		if older || len(rs) < p.Limit {
			break
		}
		p.After = rs[len(rs)-1].ID
	}
	return out, nil
}

// afterIngest is what an ingest does, once committed, for incidents and
// anomalies: it counts the batch in the activity rollups and marks the
// agents of confirmed injection-influenced actions due at once. It never
// blocks: the evaluation runs elsewhere.
func (s *Server) afterIngest(org string, recs []*record.Record, vs []violationView) {
	s.inc.queue.observe(org, recs, vs)
	seen := map[string]bool{}
	for _, v := range vs {
		if v.Confirmed && !seen[v.AgentID] {
			seen[v.AgentID] = true
			s.markIncidentsDue(org, v.AgentID)
		}
	}
}

// The incident API.

// incidentView is an incident as the API shows it.
type incidentView = incident.Incident

func incidentOf(row store.Incident) (incidentView, error) {
	var in incident.Incident
	if err := json.Unmarshal(row.Body, &in); err != nil {
		return in, fmt.Errorf("%w: incident %s does not decode: %v", store.ErrLedgerDamaged, row.ID, err)
	}
	return in, nil
}

func incidentID(r *http.Request) (string, error) { return pathID(r, "id") }

// listIncidents pages the org's incidents, newest first, filtered by agent,
// status (open, acknowledged, resolved or active), severity, rule and since
// (updated at or after).
func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.IncidentFilter{Page: peek(p), AgentID: q.Get("agent"), Status: q.Get("status"), Severity: q.Get("severity"), Rule: q.Get("rule")}
	if f.AgentID != "" && !probity.ValidID(f.AgentID) {
		return probity.Invalid("agent", probity.IDRule)
	}
	switch f.Status {
	case "", store.IncidentOpen, store.IncidentAcknowledged, store.IncidentResolved, store.IncidentActive:
	default:
		return probity.Invalid("status", "must be open, acknowledged, resolved or active")
	}
	if f.Severity != "" && !slices.Contains(incident.Severities(), f.Severity) {
		return probity.Invalid("severity", "must be critical, high or medium")
	}
	if f.Rule != "" && !slices.Contains(incident.RuleIDs(), f.Rule) {
		return probity.Invalid("rule", "must be one of %s", strings.Join(incident.RuleIDs(), ", "))
	}
	if v := q.Get("since"); v != "" {
		if f.Since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return probity.Invalid("since", "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
	}
	if p.After != "" {
		if n, err := strconv.ParseInt(p.After, 10, 64); err != nil || n < 0 {
			return probity.Invalid("cursor", "not a cursor this list returned")
		}
	}
	var rows []store.Incident
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		rows, err = tx.ListIncidents(r.Context(), c.org, f)
		return err
	})
	if err != nil {
		return err
	}
	items := make([]incidentView, 0, len(rows))
	for _, row := range rows {
		in, err := incidentOf(row)
		if err != nil {
			return err
		}
		items = append(items, in)
	}
	writeJSON(w, http.StatusOK, paged(items, p, func(in incidentView) string { return strconv.FormatInt(in.LedgerIndex, 10) }))
	return nil
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := incidentID(r)
	if err != nil {
		return err
	}
	var row store.Incident
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		row, err = tx.GetIncident(r.Context(), c.org, id)
		return err
	})
	if err != nil {
		return err
	}
	in, err := incidentOf(row)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

type acknowledgeInput struct {
	Note string `json:"note"`
}

type resolveInput struct {
	RootCause string `json:"rootCause"`
	Note      string `json:"note"`
}

// acknowledgeIncident moves an open incident to acknowledged, with an
// optional note; anything but an open incident is 409.
func (s *Server) acknowledgeIncident(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := incidentID(r)
	if err != nil {
		return err
	}
	var in acknowledgeInput
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	if err := probity.CheckText("note", in.Note, incident.MaxText); err != nil {
		return err
	}
	return s.changeIncident(w, r, c, id, incident.ActionAcknowledged, in.Note, "")
}

// resolveIncident resolves an open or acknowledged incident; the root cause
// is required, a resolved incident is 409. Resolving does not reactivate
// a suspended agent: that is POST /v1/agents/{id}/reactivate.
func (s *Server) resolveIncident(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := incidentID(r)
	if err != nil {
		return err
	}
	var in resolveInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.RootCause) == "" {
		return probity.Invalid("rootCause", "is required: record the root cause of the incident")
	}
	for _, f := range []struct{ name, v string }{{"rootCause", in.RootCause}, {"note", in.Note}} {
		if err := probity.CheckText(f.name, f.v, incident.MaxText); err != nil {
			return err
		}
	}
	return s.changeIncident(w, r, c, id, incident.ActionResolved, in.RootCause, in.Note)
}

func (s *Server) changeIncident(w http.ResponseWriter, r *http.Request, c *call, id, action, text, note string) error {
	ctx := r.Context()
	var in incident.Incident
	err := s.store.Update(ctx, func(tx store.Tx) error {
		// The ledger lock first: two transitions of one incident (or one
		// and the evaluator's evidence) must not both read the old state.
		if err := tx.LockLedger(ctx, c.org); err != nil {
			return err
		}
		row, err := tx.GetIncident(ctx, c.org, id)
		if err != nil {
			return err
		}
		if in, err = incidentOf(row); err != nil {
			return err
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		if err := s.transition(ctx, tx, c.org, &in, action, c.actor(), text, note, now); err != nil {
			return err
		}
		return s.audit(r, tx, c, now, "incident."+strings.TrimSuffix(action, "d"), "incident:"+id,
			map[string]string{"status": in.Status, "note": note, "rootCause": in.RootCause})
	})
	if err != nil {
		return err
	}
	if action == incident.ActionResolved {
		s.markDirty(c.org, in.AgentID)
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

// getIncidentRules answers the org's rules in effect: its document laid
// over the server's rules.
func (s *Server) getIncidentRules(w http.ResponseWriter, r *http.Request, c *call) error {
	var cfg incident.Config
	err := s.store.View(r.Context(), func(tx store.Tx) error {
		var err error
		cfg, err = s.rulesOf(r.Context(), tx, c.org)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cfg)
	return nil
}

// rulesTypes are the media types a rules document may be sent as.
var rulesTypes = []string{"application/json", "application/yaml", "application/x-yaml", "text/yaml"}

const maxRulesBytes = 64 << 10

// putIncidentRules stores the org's rules document (YAML or JSON), which
// names only what it changes from the server's rules, and answers the rules
// now in effect. A bad document changes nothing and is 400 naming the
// first field at fault (every problem is in the message).
func (s *Server) putIncidentRules(w http.ResponseWriter, r *http.Request, c *call) error {
	isJSON := false
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !slices.Contains(rulesTypes, mt) {
			return clientError(errUnsupported, "Content-Type must be one of %s, got %q", strings.Join(rulesTypes, ", "), ct)
		}
		isJSON = mt == "application/json"
	}
	doc, err := readBody(r.Body)
	if err != nil {
		return err
	}
	if isJSON && len(bytes.TrimSpace(doc)) > 0 && !json.Valid(doc) {
		// YAML reads more than JSON allows; a JSON body is held to JSON.
		var v any
		return jsonError(json.Unmarshal(doc, &v))
	}
	cfg, err := incident.Parse(doc, s.serverRules())
	if err != nil {
		var fe *probity.FieldError
		if errors.As(err, &fe) {
			return probity.Invalid(fe.Field, "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		return err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if err := tx.SetIncidentRules(r.Context(), c.org, doc, now); err != nil {
			return err
		}
		return s.audit(r, tx, c, now, "incident.rules.update", "org:"+c.org, map[string]any{"document": string(doc), "effective": cfg})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cfg)
	return nil
}
