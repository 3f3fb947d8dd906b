package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/notify"
	"github.com/probity-dev/probity/internal/score"
	"github.com/probity-dev/probity/internal/store"
)

// SetOutboxWake names the function that tells the delivery worker
// deliveries were queued. Call it before serving.
func (s *Server) SetOutboxWake(wake func()) { s.outboxWake = wake }

// emit queues events for the org's sinks in the caller's transaction, so
// an event is durable exactly when what it reports is (notify.Queue), and
// wakes the delivery worker.
func (s *Server) emit(ctx context.Context, tx store.Tx, org string, evs ...notify.Event) error {
	n, err := notify.Queue(ctx, tx, org, s.now(), evs...)
	if n > 0 && err == nil && s.outboxWake != nil {
		s.outboxWake()
	}
	return err
}

// What the server's own events say. Incidents build theirs where they are
// opened and resolved.

// violationEvents are the pact.violated events of stored violations.
func violationEvents(vs []store.Violation) []notify.Event {
	evs := make([]notify.Event, len(vs))
	for i, v := range vs {
		data, _ := json.Marshal(viewOfViolation(v))
		evs[i] = notify.Event{Type: notify.PactViolated, Severity: violationSeverity(v.Severity), AgentID: v.AgentID, Time: v.Time,
			Title: fmt.Sprintf("agent %s broke clause %s of pact %s", v.AgentID, v.Clause, v.PactID), Detail: v.Explanation,
			Rule: v.Clause, Subject: v.ID, Data: data}
	}
	return evs
}

// violationSeverity maps a pact clause's severity to an event's.
func violationSeverity(s string) string {
	switch s {
	case "critical":
		return notify.SeverityCritical
	case "major":
		return notify.SeverityHigh
	case "minor":
		return notify.SeverityLow
	}
	return notify.SeverityInfo
}

// agentStatusEvent is agent.suspended or agent.reactivated for a, whose
// status has just changed.
func agentStatusEvent(a probity.Agent) notify.Event {
	data, _ := json.Marshal(a)
	if a.Status == probity.StatusSuspended {
		return notify.Event{Type: notify.AgentSuspended, Severity: notify.SeverityHigh, AgentID: a.ID, Time: a.UpdatedAt,
			Title: "agent " + a.ID + " suspended", Detail: a.StatusReason, Subject: a.ID, Data: data}
	}
	return notify.Event{Type: notify.AgentReactivated, Severity: notify.SeverityInfo, AgentID: a.ID, Time: a.UpdatedAt,
		Title: "agent " + a.ID + " reactivated", Subject: a.ID, Data: data}
}

// evalEvent is eval.completed or eval.failed for a run that has just ended.
func evalEvent(run store.EvalRun) notify.Event {
	data, _ := json.Marshal(viewOfRun(run))
	if run.Status == store.EvalFailed {
		return notify.Event{Type: notify.EvalFailed, Severity: notify.SeverityMedium, AgentID: run.AgentID, Time: run.FinishedAt,
			Title: fmt.Sprintf("eval run %s of agent %s failed", run.ID, run.AgentID), Detail: run.Reason, Subject: run.ID, Data: data}
	}
	return notify.Event{Type: notify.EvalCompleted, Severity: notify.SeverityInfo, AgentID: run.AgentID, Time: run.FinishedAt,
		Title: fmt.Sprintf("eval run %s of agent %s completed: %d cases", run.ID, run.AgentID, run.Done), Subject: run.ID, Data: data}
}

// emitScore queues score.changed and score.tier_changed for sc, the
// agent's score about to be stored, against the one stored last. Falls
// matter more the deeper they are; rises are info.
func (s *Server) emitScore(ctx context.Context, tx store.Tx, org string, sc score.Score) error {
	type brief struct {
		CompositeScore    int    `json:"compositeScore"`
		CertificationTier string `json:"certificationTier"`
	}
	var from *brief
	last, err := tx.LatestScore(ctx, org, sc.AgentID)
	switch {
	case err == nil:
		var prev score.Score
		if json.Unmarshal(last.Score, &prev) == nil {
			from = &brief{prev.CompositeScore, prev.CertificationTier}
		}
	case !errors.Is(err, probity.ErrNotFound):
		return err
	}
	to := brief{sc.CompositeScore, sc.CertificationTier}
	data, err := json.Marshal(struct {
		AgentID string      `json:"agentId"`
		From    *brief      `json:"from"`
		To      brief       `json:"to"`
		Score   score.Score `json:"score"`
	}{sc.AgentID, from, to, sc})
	if err != nil {
		return err
	}
	var evs []notify.Event
	if from == nil || from.CompositeScore != to.CompositeScore {
		sev, title := notify.SeverityInfo, fmt.Sprintf("agent %s has a trust score of %d", sc.AgentID, to.CompositeScore)
		if from != nil {
			title = fmt.Sprintf("agent %s trust score %d → %d", sc.AgentID, from.CompositeScore, to.CompositeScore)
			switch drop := from.CompositeScore - to.CompositeScore; {
			case drop >= 100:
				sev = notify.SeverityHigh
			case drop >= 20:
				sev = notify.SeverityMedium
			case drop > 0:
				sev = notify.SeverityLow
			}
		}
		evs = append(evs, notify.Event{Type: notify.ScoreChanged, Severity: sev, AgentID: sc.AgentID, Time: sc.ComputedAt, Title: title, Data: data})
	}
	if from != nil && from.CertificationTier != to.CertificationTier {
		sev := notify.SeverityInfo
		if tierRank(to.CertificationTier) < tierRank(from.CertificationTier) {
			sev = notify.SeverityMedium
			if tierRank(to.CertificationTier) < tierRank("silver") && tierRank(from.CertificationTier) >= tierRank("silver") {
				sev = notify.SeverityHigh // below the reliance threshold
			}
		}
		evs = append(evs, notify.Event{Type: notify.ScoreTierChanged, Severity: sev, AgentID: sc.AgentID, Time: sc.ComputedAt,
			Title: fmt.Sprintf("agent %s tier %s → %s", sc.AgentID, from.CertificationTier, to.CertificationTier), Data: data})
	}
	return s.emit(ctx, tx, org, evs...)
}

// tierRank orders certification tiers, uncertified (or unknown) lowest.
func tierRank(tier string) int {
	return slices.Index([]string{"bronze", "silver", "gold", "platinum"}, tier)
}
