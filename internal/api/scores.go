package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/eval"
	"github.com/probity-dev/probity/internal/pact"
	"github.com/probity-dev/probity/internal/record"
	"github.com/probity-dev/probity/internal/score"
	"github.com/probity-dev/probity/internal/store"
)

// Trust scores (internal/score, docs/scoring.md) are computed from what the
// store holds: graded eval cases of the agent's runs, and runtime checks of
// its records against its pact (passes counted per day, violations one by
// one).

// Bounds of the evidence a score reads.
const (
	scoreWindow       = 90 * 24 * time.Hour // older evidence weighs under 2^-6 with the 14-day half-life
	maxScoreRuns      = 200                 // the newest eval runs read
	maxScoreResults   = 100000              // graded cases read over those runs
	maxScoreViolation = 20000               // violations read
	runtimeDailyCap   = 20                  // passing runtime checks of one kind counted per day
)

// scoreInputs gathers what a score of agent a at now is computed from.
func (s *Server) scoreInputs(ctx context.Context, tx store.Tx, org string, a probity.Agent, now time.Time) (score.Inputs, error) {
	in := score.Inputs{AgentID: a.ID, Model: a.Model, RegisteredAt: a.CreatedAt, Completed: map[string][]string{}}
	if err := s.incidentScoreInputs(ctx, tx, org, &in); err != nil {
		return in, err
	}
	from := now.Add(-scoreWindow)

	// The pact: what it binds, which OWASP items its clauses monitor, and
	// which kinds of runtime check it makes.
	var checksScope, checksOutput bool
	if id, err := tx.PactOfAgent(ctx, org, a.ID); err == nil {
		v, err := tx.LatestPactVersion(ctx, org, id)
		if err != nil {
			return in, err
		}
		in.Pact = score.PactRef{ID: v.PactID, Version: v.Version, Digest: v.Digest}
		if p, err := s.checker.compiled(v); err == nil {
			checksScope = p.Scope != nil || len(p.Forbid) > 0
			checksOutput = len(p.Outputs) > 0
			if checksScope {
				in.MonitoredOWASP = append(in.MonitoredOWASP, score.OWASPForClause("scope", "")...)
			}
			for _, o := range p.Outputs {
				for _, k := range o.Detect {
					in.MonitoredOWASP = append(in.MonitoredOWASP, score.OWASPForClause("output", k)...)
				}
			}
			for _, c := range p.Commitments {
				in.MonitoredOWASP = append(in.MonitoredOWASP, score.OWASPForClause("commitment", c.Metric)...)
			}
		}
	} else if !errors.Is(err, probity.ErrNotFound) {
		return in, err
	}

	// Eval evidence: every graded case (errors are not evidence) of the
	// agent's recent runs, for each dimension its case names.
	find := s.lookupIn(ctx, tx, org)
	read := 0
	for p := (store.EvalRunFilter{Page: store.Page{Limit: 50}, AgentID: a.ID}); read < maxScoreResults; {
		runs, err := tx.ListEvalRuns(ctx, org, p)
		if err != nil {
			return in, err
		}
		for _, run := range runs {
			if run.CreatedAt.Before(from) || read >= maxScoreResults {
				continue
			}
			if run.Status == store.EvalCompleted {
				in.Completed[run.ModelVersion] = append(in.Completed[run.ModelVersion], run.Suites...)
			}
			rs, err := s.gradedCases(ctx, tx, org, run)
			if err != nil {
				return in, err
			}
			read += len(rs)
			for _, r := range rs {
				if r.Status == eval.StatusError {
					continue
				}
				st, err := find(r.Suite)
				if err != nil {
					continue // a suite gone since: its cases are not evidence
				}
				c := caseOf(st, r.CaseID)
				if c == nil {
					continue
				}
				mv := r.ModelVersion
				if mv == "" || run.ModelVersion != "" {
					mv = run.ModelVersion
				}
				for _, d := range c.Dimensions {
					in.Evidence = append(in.Evidence, score.Observation{Dimension: d, Time: r.CreatedAt, Passed: r.Status == eval.StatusPassed,
						Source: score.SourceEval, Kind: score.EvalKind(d, c.OWASP), Ref: fmt.Sprintf("%s/%d", run.ID, r.Seq),
						Suite: r.Suite, ModelVersion: mv, OWASP: c.OWASP})
				}
			}
		}
		if len(runs) < p.Limit || len(runs) == 0 || read >= maxScoreResults {
			break
		}
		p.After = runs[len(runs)-1].ID
		if p.After <= "" || len(runs) >= maxScoreRuns {
			break
		}
	}

	// Runtime evidence: records checked against the pact pass unless they
	// broke it; passes are counted per day (at most runtimeDailyCap of a
	// kind, so that a busy agent's traffic does not drown its evals), each
	// violation counts once.
	days, err := tx.RecordDays(ctx, org, a.ID, from, now)
	if err != nil {
		return in, err
	}
	for _, d := range days {
		in.Records += int(d.Count)
		if d.Last.After(in.LastRecordAt) {
			in.LastRecordAt = d.Last
		}
		dim, kind := score.ScopeAdherence, score.KindScope
		switch {
		case d.Type == record.ToolCall && checksScope:
		case d.Type == record.ModelOutput && checksOutput:
			dim, kind = score.OutputSanitization, score.KindOutput
		default:
			continue
		}
		in.Evidence = append(in.Evidence, score.Observation{Dimension: dim, Time: d.Day.Add(12 * time.Hour), Passed: true,
			Weight: float64(min(d.Count, runtimeDailyCap)), Source: score.SourceRuntime, Kind: kind, ModelVersion: a.Model.Version})
	}
	vs, err := s.violationFacts(ctx, tx, org, a.ID, from, now.Add(time.Microsecond))
	if err != nil {
		return in, err
	}
	for _, v := range vs {
		dim, kind, ok := score.RuntimeCheck(v.Kind, v.Detail)
		if !ok {
			continue
		}
		in.Evidence = append(in.Evidence, score.Observation{Dimension: dim, Time: v.Time, Passed: false, Source: score.SourceRuntime,
			Kind: kind, Ref: v.ID, ModelVersion: a.Model.Version})
	}

	// History, for velocity.
	hist, err := tx.ListScores(ctx, org, a.ID, now.Add(-31*24*time.Hour), now.Add(time.Microsecond), 10000)
	if err != nil {
		return in, err
	}
	for _, h := range hist {
		in.History = append(in.History, score.Point{Time: h.ComputedAt, Composite: h.Composite})
	}
	return in, nil
}

func caseOf(st *eval.Suite, id string) *eval.Case {
	for i := range st.Cases {
		if st.Cases[i].ID == id {
			return &st.Cases[i]
		}
	}
	return nil
}

// violationDetail is the detector kind of an output violation or the
// metric of a commitment breach, read from its explanation (the violation
// does not store them apart).
func violationDetail(v store.Violation) string {
	switch v.Kind {
	case pact.KindOutput:
		if _, rest, ok := strings.Cut(v.Explanation, "model output contains "); ok {
			k, _, _ := strings.Cut(rest, " ")
			return k
		}
	case pact.KindCommitment:
		if _, rest, ok := strings.Cut(v.Explanation, " is breached: "); ok {
			m, _, _ := strings.Cut(rest, " ")
			return m
		}
	}
	return ""
}

// scoreFresh is how long a computed score is reused by the gate and
// attestations when no new evidence arrived for the agent.
const scoreFresh = time.Minute

type cachedScore struct {
	score score.Score
	at    time.Time
}

// cachedScoreOf returns a score computed within scoreFresh of now for an
// agent with no new evidence since, if there is one.
func (s *Server) cachedScoreOf(org, agent string, now time.Time) (score.Score, bool) {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	c, ok := s.scores[[2]string{org, agent}]
	if !ok || now.Sub(c.at) > scoreFresh || now.Before(c.at) {
		return score.Score{}, false
	}
	return c.score, true
}

func (s *Server) cacheScore(org, agent string, sc score.Score, now time.Time) {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	if s.scores == nil || len(s.scores) >= maxCachedScores {
		s.scores = map[[2]string]cachedScore{}
	}
	s.scores[[2]string{org, agent}] = cachedScore{sc, now}
}

type cachedAgent struct {
	status string
	at     time.Time
}

// agentFresh bounds how long the gate trusts a status it read: the time a
// suspension made through another replica may take to deny.
const agentFresh = time.Second

// cachedStatusOf returns the agent's status read within agentFresh of now,
// and the write generation to pass to cacheStatus after a fresh read.
func (s *Server) cachedStatusOf(org, agent string, now time.Time) (string, uint64, bool) {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	key := [2]string{org, agent}
	c, ok := s.agents[key]
	if !ok || now.Sub(c.at) > agentFresh || now.Before(c.at) || s.writing[key] > 0 {
		return "", s.agentGen, false
	}
	return c.status, s.agentGen, true
}

// cacheStatus keeps a status read at generation gen, unless an agent was
// written since: that read may predate the write.
func (s *Server) cacheStatus(org, agent, status string, now time.Time, gen uint64) {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	if gen != s.agentGen || s.writing[[2]string{org, agent}] > 0 {
		return
	}
	if s.agents == nil || len(s.agents) >= maxCachedScores {
		s.agents = map[[2]string]cachedAgent{}
	}
	s.agents[[2]string{org, agent}] = cachedAgent{status, now}
}

// agentWriting notes that a transaction is writing an agent: until it
// ends, the gate reads the agent's status from the store (watchedStore
// calls it).
func (s *Server) agentWriting(key [2]string) {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	if s.writing == nil {
		s.writing = map[[2]string]int{}
	}
	s.writing[key]++
	s.agentGen++
	delete(s.agents, key)
}

// agentsChanged drops what the server remembers of agents a transaction
// wrote, once it has ended (watchedStore calls it).
func (s *Server) agentsChanged(keys [][2]string) {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	s.agentGen++
	for _, k := range keys {
		if s.writing[k]--; s.writing[k] <= 0 {
			delete(s.writing, k)
		}
		delete(s.agents, k)
		delete(s.scores, k)
	}
}

// maxCachedScores bounds the scores kept for the gate.
const maxCachedScores = 100000

// computeScore reads an agent's evidence and computes its score at now.
func (s *Server) computeScore(ctx context.Context, tx store.Tx, org, agentID string, now time.Time) (score.Score, probity.Agent, error) {
	a, err := tx.GetAgent(ctx, org, agentID)
	if err != nil {
		return score.Score{}, a, err
	}
	in, err := s.scoreInputs(ctx, tx, org, a, now)
	if err != nil {
		return score.Score{}, a, err
	}
	sc := score.Compute(in, s.scoreConfig, now)
	s.cacheScore(org, agentID, sc, now)
	return sc, a, nil
}

// getScore answers the agent's trust score now; ?explain=1 adds each
// dimension's evidence, weights and contributions.
func (s *Server) getScore(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	explain := false
	switch v := r.URL.Query().Get("explain"); v {
	case "", "0", "false":
	case "1", "true":
		explain = true
	default:
		return probity.Invalid("explain", "must be 1 or 0")
	}
	var sc score.Score
	now := s.now().UTC().Truncate(time.Microsecond)
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		sc, _, err = s.computeScore(r.Context(), tx, c.org, id, now)
		return err
	})
	if err != nil {
		return err
	}
	if !explain {
		sc.Explain = nil
	}
	writeJSON(w, http.StatusOK, sc)
	return nil
}

// scoreHistory pages an agent's stored score snapshots, oldest first.
func (s *Server) scoreHistory(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var from, to time.Time
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := r.URL.Query().Get(p.name); v != "" {
			if *p.t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return probity.Invalid(p.name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			}
		}
	}
	type point struct {
		Time              time.Time `json:"time"`
		CompositeScore    int       `json:"compositeScore"`
		CertificationTier string    `json:"certificationTier"`
		LedgerIndex       int64     `json:"ledgerIndex"`
	}
	out := []point{}
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if _, err := tx.GetAgent(r.Context(), c.org, id); err != nil {
			return err
		}
		snaps, err := tx.ListScores(r.Context(), c.org, id, from, to, 10000)
		for _, sn := range snaps {
			out = append(out, point{sn.ComputedAt, sn.Composite, sn.Tier, sn.LedgerIndex})
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"agentId": id, "points": out})
	return nil
}

// RecordScores computes the score of every agent of every org and stores a
// snapshot, with its ledger leaf, when the composite, tier or badges
// changed since the last one. The server runs it on an interval (decay and
// new evidence both move scores).
func (s *Server) RecordScores(ctx context.Context) error {
	orgs, err := s.orgs(ctx)
	if err != nil {
		return err
	}
	var first error
	for _, o := range orgs {
		for p := (store.Page{Limit: 100}); ; {
			var agents []probity.Agent
			err := s.store.View(ctx, func(tx store.Tx) error {
				var err error
				agents, err = tx.ListAgents(ctx, o.ID, p)
				return err
			})
			if err != nil {
				first = cmp.Or(first, err)
				break
			}
			ids := make([]string, len(agents))
			for i, a := range agents {
				ids[i] = a.ID
			}
			if err := s.rescore(ctx, o.ID, ids); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				first = cmp.Or(first, err)
			}
			if len(agents) < p.Limit {
				break
			}
			p.After = agents[len(agents)-1].ID
		}
	}
	return first
}

// markDirty notes that new evidence arrived for an agent: the next
// RecordDirtyScores recomputes its score (debounced, off the request).
func (s *Server) markDirty(org, agent string) {
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	if s.dirty == nil {
		s.dirty = map[[2]string]bool{}
	}
	s.dirty[[2]string{org, agent}] = true
	delete(s.scores, [2]string{org, agent})
}

// RecordDirtyScores recomputes, and stores when changed, the scores of the
// agents new evidence arrived for since the last call. The server runs it
// every few seconds; RecordScores covers every agent hourly (decay).
func (s *Server) RecordDirtyScores(ctx context.Context) error {
	s.dirtyMu.Lock()
	dirty := s.dirty
	s.dirty = nil
	s.dirtyMu.Unlock()
	byOrg := map[string][]string{}
	for k := range dirty {
		byOrg[k[0]] = append(byOrg[k[0]], k[1])
	}
	var first error
	for org, ids := range byOrg {
		slices.Sort(ids)
		if err := s.rescore(ctx, org, ids); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			first = cmp.Or(first, err)
		}
	}
	return first
}

// rescore computes the scores of an org's agents, one agent per CPU at a
// time (scoring is reading, in concurrent transactions, and computing),
// and stores those that changed together: one transaction, one ledger
// append, one commit for the lot. The incident rules then look at each.
func (s *Server) rescore(ctx context.Context, org string, agentIDs []string) error {
	var mu sync.Mutex
	var changed []scoreChange
	var errs []error
	var wg sync.WaitGroup
	next := make(chan string)
	for range min(runtime.GOMAXPROCS(0), len(agentIDs)) {
		wg.Go(func() {
			for id := range next {
				ch, err := s.scoreChanged(ctx, org, id)
				mu.Lock()
				if err != nil && ctx.Err() == nil {
					errs = append(errs, fmt.Errorf("scoring %s/%s: %w", org, id, err))
				} else if ch != nil {
					changed = append(changed, *ch)
				}
				mu.Unlock()
			}
		})
	}
	for _, id := range agentIDs {
		next <- id
	}
	close(next)
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	slices.SortFunc(changed, func(a, b scoreChange) int { return strings.Compare(a.sc.AgentID, b.sc.AgentID) })
	if err := s.storeScores(ctx, org, changed); err != nil {
		errs = append(errs, fmt.Errorf("storing the scores of %d agents of %s: %w", len(changed), org, err))
	}
	// Once the scores are recorded (or found unchanged), the incident
	// rules look at them.
	for _, id := range agentIDs {
		s.markIncidentsDue(org, id)
	}
	return errors.Join(errs...)
}

// scoreChange is a score to store: it differs from the agent's latest
// snapshot (or there is none).
type scoreChange struct {
	sc   score.Score
	body []byte // sc in JSON, without the explanation
	at   time.Time
}

// scoreChanged computes the agent's score now and returns it when its
// composite, tier or badges differ from the latest snapshot's; nil when
// they do not.
func (s *Server) scoreChanged(ctx context.Context, org, agentID string) (*scoreChange, error) {
	now := s.now().UTC().Truncate(time.Microsecond)
	var sc score.Score
	var changed bool
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		if sc, _, err = s.computeScore(ctx, tx, org, agentID, now); err != nil {
			return err
		}
		last, err := tx.LatestScore(ctx, org, agentID)
		if errors.Is(err, probity.ErrNotFound) {
			changed = true
			return nil
		} else if err != nil {
			return err
		}
		// A replica whose clock is behind the one that stored the last
		// snapshot must not write history backwards.
		if !now.After(last.ComputedAt) {
			now = last.ComputedAt.Add(time.Microsecond)
		}
		var prev score.Score
		if err := json.Unmarshal(last.Score, &prev); err != nil {
			changed = true
			return nil
		}
		changed = prev.CompositeScore != sc.CompositeScore || prev.CertificationTier != sc.CertificationTier ||
			!slices.Equal(prev.SecurityPosture.Badges, sc.SecurityPosture.Badges)
		return nil
	})
	if err != nil || !changed {
		return nil, err
	}
	sc.Explain = nil
	body, err := json.Marshal(sc)
	if err != nil {
		return nil, err
	}
	return &scoreChange{sc, body, now}, nil
}

// storeScores stores score snapshots, each with its ledger leaf and its
// events, in one transaction.
func (s *Server) storeScores(ctx context.Context, org string, changes []scoreChange) error {
	if len(changes) == 0 {
		return nil
	}
	return s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.LockLedger(ctx, org); err != nil {
			return err
		}
		leaves := make([][]byte, len(changes))
		for i, ch := range changes {
			var err error
			leaves[i], err = json.Marshal(struct {
				Kind  string          `json:"kind"`
				Score json.RawMessage `json:"score"`
			}{"score", ch.body})
			if err != nil {
				return err
			}
		}
		first, err := store.AppendLedger(ctx, tx, org, leaves)
		if err != nil {
			return err
		}
		for i, ch := range changes {
			if err := s.emitScore(ctx, tx, org, ch.sc); err != nil {
				return err
			}
			err := tx.InsertScore(ctx, org, store.ScoreSnapshot{AgentID: ch.sc.AgentID, ComputedAt: ch.at, Composite: ch.sc.CompositeScore,
				Tier: ch.sc.CertificationTier, Score: ch.body, LedgerIndex: first + int64(i)})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// gateRequest is what an orchestrator asks before delegating to an agent.
type gateRequest struct {
	AgentID       string   `json:"agentId"`
	MinScore      *int     `json:"minScore"`
	MinTier       string   `json:"minTier"`
	RequireBadges []string `json:"requireBadges"`
}

type gateAnswer struct {
	Allow             bool     `json:"allow"`
	Reasons           []string `json:"reasons"`
	CompositeScore    int      `json:"compositeScore"`
	CertificationTier string   `json:"certificationTier"`
	Status            string   `json:"status"`
	Badges            []string `json:"badges"`
}

// defaultMinScore is the reliance threshold.
const defaultMinScore = 700

// gate decides whether an orchestrator may delegate to the agent now: it
// denies when the agent is suspended, below minScore (700 by default) or
// minTier, lacks a required badge, or its eval evidence is stale; every
// reason is listed.
func (s *Server) gate(w http.ResponseWriter, r *http.Request, c *call) error {
	var req gateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if !probity.ValidID(req.AgentID) {
		return probity.Invalid("agentId", probity.IDRule)
	}
	minScore := defaultMinScore
	if req.MinScore != nil {
		if *req.MinScore < 0 || *req.MinScore > 1000 {
			return probity.Invalid("minScore", "must be between 0 and 1000")
		}
		minScore = *req.MinScore
	}
	tierRank := map[string]int{}
	tiers := s.scoreConfig.Tiers
	for i, t := range tiers {
		tierRank[t.Name] = len(tiers) - i
	}
	if req.MinTier != "" {
		if _, ok := tierRank[req.MinTier]; !ok {
			names := make([]string, len(tiers))
			for i, t := range tiers {
				names[i] = t.Name
			}
			return probity.Invalid("minTier", "must be one of %v", names)
		}
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	// The decision is answered from memory when it can be: the score
	// computed within scoreFresh with no new evidence since, and the
	// status read within agentFresh with no write to the agent since (a
	// suspension through this server denies at once; one through another
	// replica within agentFresh).
	sc, haveScore := s.cachedScoreOf(c.org, req.AgentID, now)
	status, gen, haveStatus := s.cachedStatusOf(c.org, req.AgentID, now)
	if !haveScore || !haveStatus {
		err := s.store.View(r.Context(), func(tx store.Tx) error {
			var a probity.Agent
			var err error
			if haveScore {
				a, err = tx.GetAgent(r.Context(), c.org, req.AgentID)
			} else {
				sc, a, err = s.computeScore(r.Context(), tx, c.org, req.AgentID, now)
			}
			if errors.Is(err, probity.ErrNotFound) {
				return probity.Invalid("agentId", "unknown agent %q", req.AgentID)
			}
			status = a.Status
			return err
		})
		if err != nil {
			return err
		}
		s.cacheStatus(c.org, req.AgentID, status, now, gen)
	}
	ans := gateAnswer{Reasons: []string{}, CompositeScore: sc.CompositeScore, CertificationTier: sc.CertificationTier, Status: status,
		Badges: sc.SecurityPosture.Badges}
	if status == probity.StatusSuspended {
		ans.Reasons = append(ans.Reasons, "the agent is suspended")
	}
	if sc.CompositeScore < minScore {
		ans.Reasons = append(ans.Reasons, fmt.Sprintf("composite score %d is below %d", sc.CompositeScore, minScore))
	}
	if req.MinTier != "" && tierRank[sc.CertificationTier] < tierRank[req.MinTier] {
		ans.Reasons = append(ans.Reasons, fmt.Sprintf("tier %s is below %s", sc.CertificationTier, req.MinTier))
	}
	for _, b := range req.RequireBadges {
		if !slices.Contains(sc.SecurityPosture.Badges, b) {
			ans.Reasons = append(ans.Reasons, fmt.Sprintf("badge %s is missing", b))
		}
	}
	switch last := sc.Evidence.LastEvalAt; {
	case last.IsZero():
		ans.Reasons = append(ans.Reasons, "the agent has no eval evidence")
	case now.Sub(last) > s.scoreConfig.GracePeriod:
		ans.Reasons = append(ans.Reasons, fmt.Sprintf("its eval evidence is stale: the last eval was %s ago (grace period %s)",
			now.Sub(last).Truncate(time.Hour), s.scoreConfig.GracePeriod))
	}
	ans.Allow = len(ans.Reasons) == 0
	s.metrics.gate(ans.Allow)
	writeJSON(w, http.StatusOK, ans)
	return nil
}
