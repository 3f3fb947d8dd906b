package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// Schedules: recurring eval runs, each a cron expression. The scheduler
// (RunSchedules, every 30 s in the server) takes the due schedules in a
// write transaction — on PostgreSQL with SKIP LOCKED, so replicas take
// different ones — queues a run of each and moves its next run to the next
// time the expression names after now, in that same transaction: a due run
// is queued once, and a server that was down queues one run on its return,
// not one per missed time.

// maxDuePerPass bounds the schedules queued in one transaction.
const maxDuePerPass = 100

// cronParser reads standard five-field expressions ("0 3 * * 1") and the
// descriptors @hourly, @daily, @weekly, @monthly and @yearly, in UTC.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

type scheduleView struct {
	ID        string    `json:"id"`
	AgentID   string    `json:"agentId"`
	Suites    []string  `json:"suites"`
	Repeat    int       `json:"repeat"`
	Cron      string    `json:"cron"`
	NextRun   time.Time `json:"nextRun"`
	LastRunID string    `json:"lastRunId,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy,omitempty"`
}

func viewOfSchedule(sc store.Schedule) scheduleView {
	return scheduleView{sc.ID, sc.AgentID, sc.Suites, sc.Repeat, sc.Cron, sc.NextRun, sc.LastRunID, sc.CreatedAt, sc.CreatedBy}
}

type createScheduleRequest struct {
	AgentID string   `json:"agentId"`
	Suites  []string `json:"suites"`
	Repeat  int      `json:"repeat"`
	Cron    string   `json:"cron"`
}

// nextRun is the first time after now that expr names.
func nextRun(expr string, now time.Time) (time.Time, error) {
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return time.Time{}, errors.New("time zones are not taken: schedules are in UTC")
	}
	sched, err := cronParser.Parse(expr)
	if err != nil {
		return time.Time{}, err
	}
	next := sched.Next(now.UTC())
	if next.IsZero() {
		return time.Time{}, errors.New("names no time in the next five years")
	}
	return next.UTC(), nil
}

func (s *Server) createSchedule(w http.ResponseWriter, r *http.Request, c *call) error {
	var req createScheduleRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Cron == "" {
		return probity.Invalid("cron", `is required: a cron expression such as "0 3 * * 1" (Mondays 03:00 UTC) or @weekly`)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	next, err := nextRun(req.Cron, now)
	if err != nil {
		return probity.Invalid("cron", "%v (five fields: minute hour day-of-month month day-of-week, in UTC; or @hourly, @daily, @weekly, @monthly)", err)
	}
	// Validate what the runs will name now, not at the first run.
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		_, err := s.newRun(s.lookupIn(r.Context(), tx, c.org), req.AgentID, req.Suites, req.Repeat, "schedule", c.actor())
		return err
	})
	if err != nil {
		return err
	}
	if req.Repeat == 0 {
		req.Repeat = 1
	}
	var b [8]byte
	rand.Read(b[:])
	sc := store.Schedule{ID: "sc_" + hex.EncodeToString(b[:]), AgentID: req.AgentID, Suites: req.Suites, Repeat: req.Repeat,
		Cron: req.Cron, NextRun: next, CreatedAt: now, CreatedBy: c.actor()}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		a, err := tx.GetAgent(r.Context(), c.org, req.AgentID)
		if errors.Is(err, probity.ErrNotFound) {
			return probity.Invalid("agentId", "unknown agent %q", req.AgentID)
		} else if err != nil {
			return err
		}
		if _, err := endpointOf(a); err != nil {
			return err
		}
		if err := tx.InsertSchedule(r.Context(), c.org, sc); err != nil {
			return err
		}
		return s.audit(r, tx, c, now, "schedule.create", "schedule:"+sc.ID, viewOfSchedule(sc))
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewOfSchedule(sc))
	return nil
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	var scs []store.Schedule
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		scs, err = tx.ListSchedules(r.Context(), c.org, peek(p))
		return err
	})
	if err != nil {
		return err
	}
	views := make([]scheduleView, len(scs))
	for i, sc := range scs {
		views[i] = viewOfSchedule(sc)
	}
	writeJSON(w, http.StatusOK, paged(views, p, func(v scheduleView) string { return v.ID }))
	return nil
}

func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if err := tx.DeleteSchedule(r.Context(), c.org, id); err != nil {
			return err
		}
		return s.audit(r, tx, c, s.now(), "schedule.delete", "schedule:"+id, nil)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// RunSchedules queues a run for every due schedule, across orgs. A
// schedule whose run cannot be queued (its agent lost its endpoint, a suite
// is gone) moves on to its next time and the reason is logged.
func (s *Server) RunSchedules(ctx context.Context) error {
	for {
		n := 0
		queued := false
		err := s.store.Update(ctx, func(tx store.Tx) error {
			now := s.now().UTC().Truncate(time.Microsecond)
			due, err := tx.DueSchedules(ctx, now, maxDuePerPass)
			if err != nil {
				return err
			}
			n, queued = len(due), false
			for _, d := range due {
				sc := d.Schedule
				if sc.NextRun, err = nextRun(sc.Cron, now); err != nil {
					sc.NextRun = now.Add(24 * time.Hour)
				}
				// The previous run still open: skip this time rather than
				// pile up runs behind it.
				if sc.LastRunID != "" {
					prev, err := tx.GetEvalRun(ctx, d.OrgID, sc.LastRunID)
					if err == nil && (prev.Status == store.EvalQueued || prev.Status == store.EvalRunning) {
						s.log.Warn("a scheduled eval was skipped: its previous run is still open", "org", d.OrgID, "schedule", sc.ID, "run", prev.ID)
						if err := tx.UpdateSchedule(ctx, d.OrgID, sc); err != nil {
							return err
						}
						continue
					} else if err != nil && !errors.Is(err, probity.ErrNotFound) {
						return err
					}
				}
				run, err := s.newRun(s.lookupIn(ctx, tx, d.OrgID), sc.AgentID, sc.Suites, sc.Repeat, "schedule", "schedule:"+sc.ID)
				if err == nil {
					var a probity.Agent
					if a, err = tx.GetAgent(ctx, d.OrgID, sc.AgentID); err == nil {
						err = s.queueTx(ctx, tx, d.OrgID, a, &run)
					}
				}
				switch {
				case err == nil:
					sc.LastRunID, queued = run.ID, true
				case errors.Is(err, probity.ErrInvalid) || errors.Is(err, probity.ErrNotFound) || errors.Is(err, probity.ErrConflict):
					// What the schedule names no longer works (an agent
					// without endpoint, a suite that no longer loads): this
					// schedule moves on; the others are not held up.
					s.log.Warn("a scheduled eval could not be queued", "org", d.OrgID, "schedule", sc.ID, "err", err)
				default:
					return fmt.Errorf("queueing schedule %s: %w", sc.ID, err)
				}
				if err := tx.UpdateSchedule(ctx, d.OrgID, sc); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if queued {
			s.wakeWorkers()
		}
		if n < maxDuePerPass {
			return nil
		}
	}
}
