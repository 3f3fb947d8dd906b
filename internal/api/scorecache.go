package api

import (
	"context"
	"sync"
	"time"
	"unique"

	"github.com/probity-dev/probity/internal/store"
)

// gradedCase is what scoring and the incident rules read of one eval
// result.
type gradedCase struct {
	Seq          int
	Suite        string
	CaseID       string
	Status       string
	ModelVersion string
	CreatedAt    time.Time
	LedgerIndex  int64
}

// runResults keeps the graded cases of ended runs for scoring: a run's
// results never change once it has ended, and rescoring every agent would
// otherwise read and decode them all again each pass.
type runResults struct {
	mu    sync.Mutex
	runs  map[[2]string][]gradedCase // org, run id
	cases int
}

// maxCachedCases bounds the graded cases kept (about 100 bytes each).
const maxCachedCases = 500_000

// gradedCases returns the graded cases of run, from memory when the run
// has ended and was read before.
func (s *Server) gradedCases(ctx context.Context, tx store.Tx, org string, run store.EvalRun) ([]gradedCase, error) {
	ended := run.Status == store.EvalCompleted || run.Status == store.EvalFailed || run.Status == store.EvalCancelled
	key := [2]string{org, run.ID}
	if ended {
		s.results.mu.Lock()
		gs, ok := s.results.runs[key]
		s.results.mu.Unlock()
		if ok {
			return gs, nil
		}
	}
	rs, err := allGrades(ctx, tx, org, run.ID)
	if err != nil {
		return nil, err
	}
	gs := make([]gradedCase, len(rs))
	for i, r := range rs {
		// Suite and case names repeat across runs and agents: one copy each.
		gs[i] = gradedCase{Seq: r.Seq, Suite: unique.Make(r.Suite).Value(), CaseID: unique.Make(r.CaseID).Value(), Status: r.Status,
			ModelVersion: unique.Make(r.ModelVersion).Value(), CreatedAt: r.CreatedAt, LedgerIndex: r.LedgerIndex}
	}
	if ended {
		s.results.mu.Lock()
		if s.results.runs == nil || s.results.cases+len(gs) > maxCachedCases {
			s.results.runs, s.results.cases = map[[2]string][]gradedCase{}, 0
		}
		if _, ok := s.results.runs[key]; !ok {
			s.results.runs[key] = gs
			s.results.cases += len(gs)
		}
		s.results.mu.Unlock()
	}
	return gs, nil
}

// violationFact is what scoring reads of one violation.
type violationFact struct {
	ID, Kind, Detail string
	Time             time.Time
}

// agentViolations is an agent's violations as last read, for scoring.
type agentViolations struct {
	last  int64     // the ledger index of the latest when read
	from  time.Time // the start of the window read
	facts []violationFact
}

// violationCache keeps each agent's recent violations between rescorings:
// violations are only ever added, so when the agent's latest is the one
// seen last time (one indexed lookup), the list read then is still whole.
type violationCache struct {
	mu     sync.Mutex
	agents map[[2]string]agentViolations
	facts  int
}

// violationFacts returns the agent's violations in [from, to), oldest
// first, at most maxScoreViolation of them.
func (s *Server) violationFacts(ctx context.Context, tx store.Tx, org, agent string, from, to time.Time) ([]violationFact, error) {
	last, err := tx.LastViolation(ctx, org, agent)
	if err != nil {
		return nil, err
	}
	key := [2]string{org, agent}
	s.violations.mu.Lock()
	c, ok := s.violations.agents[key]
	s.violations.mu.Unlock()
	within := func(facts []violationFact) []violationFact {
		out := make([]violationFact, 0, len(facts))
		for _, f := range facts {
			if !f.Time.Before(from) && f.Time.Before(to) {
				out = append(out, f)
			}
		}
		return out
	}
	if ok && c.last == last && !from.Before(c.from) {
		return within(c.facts), nil
	}
	// Read with no end, so that a violation timed after this window is in
	// the list kept for the next one.
	vs, err := tx.ListViolations(ctx, org, store.ViolationFilter{Page: store.Page{Limit: maxScoreViolation}, AgentID: agent, From: from})
	if err != nil {
		return nil, err
	}
	facts := make([]violationFact, len(vs))
	for i, v := range vs {
		facts[i] = violationFact{ID: v.ID, Kind: unique.Make(v.Kind).Value(), Detail: unique.Make(violationDetail(v)).Value(), Time: v.Time}
	}
	// A list cut at the limit is not kept: the next window may hold rows
	// past the cut.
	if len(vs) < maxScoreViolation {
		s.violations.mu.Lock()
		if s.violations.agents == nil || s.violations.facts+len(facts) > maxCachedCases {
			s.violations.agents, s.violations.facts = map[[2]string]agentViolations{}, 0
		}
		s.violations.facts += len(facts) - len(s.violations.agents[key].facts)
		s.violations.agents[key] = agentViolations{last, from, facts}
		s.violations.mu.Unlock()
	}
	return within(facts), nil
}
