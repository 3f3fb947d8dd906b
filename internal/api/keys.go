package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

type keyInput struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// createdKey is the one answer that carries a key's secret.
type createdKey struct {
	probity.APIKey
	Key string `json:"key"`
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, c *call) error {
	var in keyInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if len(in.Name) > 200 || strings.ContainsFunc(in.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return probity.Invalid("name", "at most 200 bytes, no control characters")
	}
	scopes, err := probity.ParseScopes("scopes", in.Scopes)
	if err != nil {
		return err
	}
	secret, k, err := probity.NewKey(c.org, in.Name, scopes, c.actor(), s.now())
	if err != nil {
		return err
	}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if err := tx.CreateKey(r.Context(), k); err != nil {
			return err
		}
		return s.audit(r, tx, c, "key.create", "key:"+k.ID, map[string]any{"name": k.Name, "scopes": k.Scopes})
	})
	if err != nil {
		return fmt.Errorf("creating key: %w", err)
	}
	writeJSON(w, http.StatusCreated, createdKey{k, secret})
	return nil
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	var keys []probity.APIKey
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		keys, err = tx.ListKeys(r.Context(), c.org, p)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, paged(keys, p, func(k probity.APIKey) string { return k.ID }))
	return nil
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var k probity.APIKey
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		k, err = tx.GetKey(r.Context(), c.org, id)
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return clientError(probity.ErrConflict, "key %s was already revoked at %s", id, k.RevokedAt.Format("2006-01-02T15:04:05Z"))
		}
		now := s.now()
		if err := tx.RevokeKey(r.Context(), c.org, id, now); err != nil {
			return err
		}
		k.RevokedAt = &now
		return s.audit(r, tx, c, "key.revoke", "key:"+id, nil)
	})
	if err != nil {
		return fmt.Errorf("revoking key %s: %w", id, err)
	}
	s.auth.forget(id)
	writeJSON(w, http.StatusOK, k)
	return nil
}
