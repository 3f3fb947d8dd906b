package api

import (
	"net/http"
	"time"

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
	if err := probity.CheckText("name", in.Name, 200); err != nil {
		return err
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
		return s.audit(r, tx, c, k.CreatedAt, "key.create", "key:"+k.ID, map[string]any{"name": k.Name, "scopes": k.Scopes})
	})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store") // the one answer with a secret
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
		keys, err = tx.ListKeys(r.Context(), c.org, peek(p))
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
			return clientError(probity.ErrConflict, "key %s was already revoked at %s", id, k.RevokedAt.Format(time.RFC3339Nano))
		}
		now := s.now()
		if err := tx.RevokeKey(r.Context(), c.org, id, now); err != nil {
			return err
		}
		k.RevokedAt = &now
		return s.audit(r, tx, c, now, "key.revoke", "key:"+id, nil)
	})
	if err != nil {
		return err
	}
	s.auth.forget(id)
	writeJSON(w, http.StatusOK, k)
	return nil
}
