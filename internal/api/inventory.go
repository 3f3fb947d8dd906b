package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// inventory lists every agent with its risk, verification and gap, widest
// gap first. The sort needs every agent, so the page cursor is an offset.
func (s *Server) inventory(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	offset := 0
	if p.After != "" {
		if offset, err = strconv.Atoi(p.After); err != nil || offset < 0 {
			return probity.Invalid("cursor", "not a cursor this list returned")
		}
	}
	var items []probity.InventoryItem
	now := s.now()
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		after := ""
		for {
			agents, err := tx.ListAgents(r.Context(), c.org, store.Page{After: after, Limit: maxPage})
			if err != nil {
				return err
			}
			for i := range agents {
				last, err := tx.LastRecordTime(r.Context(), c.org, agents[i].ID)
				if err != nil {
					return err
				}
				_, err = tx.PactOfAgent(r.Context(), c.org, agents[i].ID)
				if err != nil && !errors.Is(err, probity.ErrNotFound) {
					return err
				}
				v := probity.Verification{
					PactBound:    err == nil,
					Monitored24h: !last.IsZero() && now.Sub(last) <= 24*time.Hour,
				}
				if v.BaselineEval, v.EvalLast7Days, err = s.evalVerification(r.Context(), tx, c.org, agents[i], now); err != nil {
					return err
				}
				items = append(items, probity.Assess(&agents[i], v))
			}
			if len(agents) < maxPage {
				return nil
			}
			after = agents[len(agents)-1].ID
		}
	})
	if err != nil {
		return err
	}
	probity.SortInventory(items)
	out := list[probity.InventoryItem]{Items: []probity.InventoryItem{}}
	if offset < len(items) {
		end := min(offset+p.Limit, len(items))
		out.Items = items[offset:end]
		if end < len(items) {
			out.NextCursor = cursor(strconv.Itoa(end))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// evalVerification says whether the agent has a full security baseline
// (every suite of the score's baseline completed) on its current model
// version, and whether an eval run completed in the last 7 days. It reads
// the agent's newest 50 runs.
func (s *Server) evalVerification(ctx context.Context, tx store.Tx, org string, a probity.Agent, now time.Time) (baseline, recent bool, err error) {
	runs, err := tx.ListEvalRuns(ctx, org, store.EvalRunFilter{Page: store.Page{Limit: 50}, AgentID: a.ID})
	if err != nil {
		return false, false, err
	}
	done := map[string]bool{}
	for _, run := range runs {
		if run.Status != store.EvalCompleted {
			continue
		}
		if now.Sub(run.FinishedAt) <= 7*24*time.Hour {
			recent = true
		}
		if run.ModelVersion == a.Model.Version {
			for _, id := range run.Suites {
				done[id] = true
			}
		}
	}
	baseline = true
	for _, id := range s.scoreConfig.BaselineSuites {
		baseline = baseline && done[id]
	}
	return baseline, recent, nil
}
