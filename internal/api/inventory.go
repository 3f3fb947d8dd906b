package api

import (
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
				// Evals, which a later part of the server adds, will set the
				// other two checks; until then they stay false.
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
