package api

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/probity-dev/probity/internal/incident"
	"github.com/probity-dev/probity/internal/notify"
	"github.com/probity-dev/probity/internal/store"
)

// RemindIncidents tells the sinks again about every open (not yet
// acknowledged) high or critical incident that has waited longer than
// Config.IncidentRemindAfter since it opened or since the last reminder:
// the playbook expects an acknowledgement, and an unanswered page must
// not be forgotten. The server runs it every few minutes.
func (s *Server) RemindIncidents(ctx context.Context) error {
	after := s.cfg.IncidentRemindAfter
	if after <= 0 {
		return nil
	}
	orgs, err := s.orgs(ctx)
	if err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	var first error
	for _, o := range orgs {
		for p := (store.IncidentFilter{Page: store.Page{Limit: 100}, Status: incident.Open}); ; {
			var rows []store.Incident
			err := s.store.View(ctx, func(tx store.Tx) error {
				var err error
				rows, err = tx.ListIncidents(ctx, o.ID, p)
				return err
			})
			if err != nil {
				first = cmp.Or(first, err)
				break
			}
			for _, row := range rows {
				if row.Severity != incident.Critical && row.Severity != incident.High {
					continue
				}
				if err := s.remind(ctx, o.ID, row.ID, after, now); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					first = cmp.Or(first, fmt.Errorf("reminding of incident %s of %s: %w", row.ID, o.ID, err))
				}
			}
			if len(rows) < p.Limit {
				break
			}
			p.After = strconv.FormatInt(rows[len(rows)-1].LedgerIndex, 10)
		}
	}
	return first
}

// remind sends the reminder of one incident if it is still open and due,
// and notes when (under the org's lock, so replicas remind once).
func (s *Server) remind(ctx context.Context, org, id string, after time.Duration, now time.Time) error {
	return s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.LockLedger(ctx, org); err != nil {
			return err
		}
		row, err := tx.GetIncident(ctx, org, id)
		if err != nil {
			return err
		}
		var in incident.Incident
		if err := json.Unmarshal(row.Body, &in); err != nil {
			return fmt.Errorf("reading incident %s: %w", id, err)
		}
		last := in.OpenedAt
		if in.RemindedAt != nil {
			last = *in.RemindedAt
		}
		if in.Status != incident.Open || now.Sub(last) < after {
			return nil
		}
		in.RemindedAt = &now
		if err := s.putIncident(ctx, tx, org, &in, false); err != nil {
			return err
		}
		data, err := json.Marshal(&in)
		if err != nil {
			return err
		}
		waited := now.Sub(in.OpenedAt).Truncate(time.Minute)
		return s.emit(ctx, tx, org, notify.Event{Type: notify.IncidentUpdated, Severity: in.Severity, AgentID: in.AgentID, Time: now,
			Title:  fmt.Sprintf("not acknowledged after %s: %s", waited, in.Title),
			Detail: fmt.Sprintf("%s incident %s of agent %s (rule %s) has waited %s for acknowledgement", in.Severity, in.ID, in.AgentID, in.Rule, waited),
			Rule:   in.Rule, Subject: in.ID, Data: data})
	})
}
