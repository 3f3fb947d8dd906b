package app

import (
	"context"
	"fmt"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/attest"
	"github.com/probity-dev/probity/internal/api"
	"github.com/probity-dev/probity/internal/store"
)

// The offline operations below act on the store directly, for the CLI's
// `org` and `key` commands. They audit as actor "cli".
const cliActor = "cli"

// CreateOrg makes a new org and its first admin key, returning the key.
func CreateOrg(ctx context.Context, s store.Store, id string) (string, error) {
	if !probity.ValidID(id) {
		return "", probity.Invalid("name", probity.IDRule)
	}
	var secret string
	err := s.Update(ctx, func(tx store.Tx) error {
		now := store.Now()
		if err := tx.CreateOrg(ctx, probity.Org{ID: id, CreatedAt: now}); err != nil {
			return err
		}
		if err := ensureLedgerKey(ctx, tx, id); err != nil {
			return err
		}
		key, k, err := probity.NewKey(id, "first admin", []probity.Scope{probity.ScopeAdmin}, cliActor, now)
		if err != nil {
			return err
		}
		if err := tx.CreateKey(ctx, k); err != nil {
			return err
		}
		secret = key
		return store.Audit(ctx, tx, id, &probity.AuditEntry{Time: now, Actor: cliActor, Action: "org.create", Target: "org:" + id})
	})
	if err != nil {
		return "", fmt.Errorf("creating org %s: %w", id, err)
	}
	return secret, nil
}

// CreateKey makes an API key in org and returns its secret and stored form.
func CreateKey(ctx context.Context, s store.Store, org, name string, scopes []probity.Scope) (string, probity.APIKey, error) {
	if err := probity.CheckText("name", name, 200); err != nil {
		return "", probity.APIKey{}, err
	}
	var secret string
	var k probity.APIKey
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetOrg(ctx, org); err != nil {
			return err
		}
		var err error
		now := store.Now()
		secret, k, err = probity.NewKey(org, name, scopes, cliActor, now)
		if err != nil {
			return err
		}
		if err := tx.CreateKey(ctx, k); err != nil {
			return err
		}
		return store.Audit(ctx, tx, org, &probity.AuditEntry{Time: now, Actor: cliActor, Action: "key.create", Target: "key:" + k.ID,
			Change: mustJSON(map[string]any{"name": name, "scopes": scopes})})
	})
	if err != nil {
		return "", k, fmt.Errorf("creating key: %w", err)
	}
	return secret, k, nil
}

// ListKeys returns every key of org, revoked ones included.
func ListKeys(ctx context.Context, s store.Store, org string) ([]probity.APIKey, error) {
	var out []probity.APIKey
	err := s.View(ctx, func(tx store.Tx) error {
		if _, err := tx.GetOrg(ctx, org); err != nil {
			return err
		}
		after := ""
		for {
			keys, err := tx.ListKeys(ctx, org, store.Page{After: after, Limit: 1000})
			if err != nil {
				return err
			}
			out = append(out, keys...)
			if len(keys) < 1000 {
				return nil
			}
			after = keys[len(keys)-1].ID
		}
	})
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	return out, nil
}

// RevokeKey revokes key id of org. Servers stop accepting it within their
// auth cache TTL.
func RevokeKey(ctx context.Context, s store.Store, org, id string) error {
	err := s.Update(ctx, func(tx store.Tx) error {
		k, err := tx.GetKey(ctx, org, id)
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return fmt.Errorf("already revoked: %w", probity.ErrConflict)
		}
		now := store.Now()
		if err := tx.RevokeKey(ctx, org, id, now); err != nil {
			return err
		}
		return store.Audit(ctx, tx, org, &probity.AuditEntry{Time: now, Actor: cliActor, Action: "key.revoke", Target: "key:" + id})
	})
	if err != nil {
		return fmt.Errorf("revoking key %s: %w", id, err)
	}
	return nil
}

// RotateSigningKey makes a new Ed25519 attestation key for org and returns
// its key id. The org's active key is retired: GET /v1/keys still lists it,
// so the attestations it signed still verify, and every new attestation is
// signed by the new key: running servers on the store switch to it within
// seconds.
func RotateSigningKey(ctx context.Context, s store.Store, org string) (string, error) {
	var keyID string
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetOrg(ctx, org); err != nil {
			return err
		}
		old, err := tx.ListAttestationKeys(ctx, org)
		if err != nil {
			return err
		}
		retired := []string{}
		for _, k := range old {
			if k.Status == attest.StatusActive {
				retired = append(retired, k.KeyID)
			}
		}
		now := store.Now()
		k, err := api.NewAttestationKey(ctx, tx, org, now)
		if err != nil {
			return err
		}
		keyID = k.KeyID
		return store.Audit(ctx, tx, org, &probity.AuditEntry{Time: now, Actor: cliActor, Action: "attestation-key.rotate",
			Target: "attestation-key:" + k.KeyID, Change: mustJSON(map[string]any{"retired": retired})})
	})
	if err != nil {
		return "", fmt.Errorf("rotating the attestation key of org %s: %w", org, err)
	}
	return keyID, nil
}
