package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// DefaultOrg is the org a fresh store starts with.
const DefaultOrg = "default"

// AdminKeyFile is where the first admin key is written, inside the data dir.
const AdminKeyFile = "admin.key"

// bootstrap gives an empty store its first org and admin key. The key is
// written to <data>/admin.key (mode 0600) before the transaction commits and
// removed again if it does not, and printed once to out.
func bootstrap(ctx context.Context, s store.Store, dataDir string, out io.Writer) error {
	path := filepath.Join(dataDir, AdminKeyFile)
	var secret string
	err := s.Update(ctx, func(tx store.Tx) error {
		orgs, err := tx.ListOrgs(ctx)
		if err != nil || len(orgs) > 0 {
			return err
		}
		now := store.Now()
		if err := tx.CreateOrg(ctx, probity.Org{ID: DefaultOrg, CreatedAt: now}); err != nil {
			return err
		}
		if err := ensureLedgerKey(ctx, tx, DefaultOrg); err != nil {
			return err
		}
		key, k, err := probity.NewKey(DefaultOrg, "bootstrap admin", []probity.Scope{probity.ScopeAdmin}, "bootstrap", now)
		if err != nil {
			return err
		}
		if err := tx.CreateKey(ctx, k); err != nil {
			return err
		}
		if err := store.Audit(ctx, tx, DefaultOrg, &probity.AuditEntry{Time: now, Actor: "bootstrap", Action: "org.create",
			Target: "org:" + DefaultOrg}); err != nil {
			return err
		}
		if err := writeKeyFile(path, key); err != nil {
			return err
		}
		secret = key
		return nil
	})
	if errors.Is(err, probity.ErrConflict) {
		return nil // another replica bootstrapped the same database first
	}
	if err != nil {
		if secret != "" {
			os.Remove(path)
		}
		return fmt.Errorf("bootstrapping an empty store: %w", err)
	}
	if secret != "" {
		fmt.Fprintf(out, "Created org %q and its first admin key (shown once, also saved to %s):\n\n    %s\n\n",
			DefaultOrg, path, secret)
	}
	return nil
}

// writeKeyFile writes a key readable by its owner only, replacing any file
// there atomically.
func writeKeyFile(path, key string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin.key-*")
	if err != nil {
		return fmt.Errorf("writing admin key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing admin key: %w", err)
	}
	if _, err := tmp.WriteString(key + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("writing admin key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing admin key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing admin key: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing admin key: %w", err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with values that always encode
	}
	return b
}
