package api

import (
	"net/http"
	"strconv"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	action, err := queryText(r, "action")
	if err != nil {
		return err
	}
	target, err := queryText(r, "target")
	if err != nil {
		return err
	}
	f := store.AuditFilter{Page: peek(p), Action: action, Target: target}
	var entries []probity.AuditEntry
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		entries, err = tx.ListAudit(r.Context(), c.org, f)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, paged(entries, p, func(e probity.AuditEntry) string { return strconv.FormatInt(e.Seq, 10) }))
	return nil
}
