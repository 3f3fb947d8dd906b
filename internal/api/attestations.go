package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/probity-dev/probity/attest"
	"github.com/probity-dev/probity/internal/store"
)

// attestationTTL is how long an attestation is valid.
const attestationTTL = 24 * time.Hour

// signingKey returns the org's active attestation key, making one (in tx)
// when the org has none yet.
func signingKey(ctx context.Context, tx store.Tx, org string, now time.Time) (store.AttestationKey, error) {
	ks, err := tx.ListAttestationKeys(ctx, org)
	if err != nil {
		return store.AttestationKey{}, err
	}
	for i := len(ks) - 1; i >= 0; i-- {
		if ks[i].Status == attest.StatusActive {
			return ks[i], nil
		}
	}
	return NewAttestationKey(ctx, tx, org, now)
}

// NewAttestationKey makes a new Ed25519 signing key for org, retiring the
// active ones: their public keys stay published, so what they signed still
// verifies.
func NewAttestationKey(ctx context.Context, tx store.Tx, org string, now time.Time) (store.AttestationKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return store.AttestationKey{}, err
	}
	k := store.AttestationKey{KeyID: attest.KeyID(pub), Public: pub, Private: priv, Status: attest.StatusActive, CreatedAt: now}
	if err := tx.RetireAttestationKeys(ctx, org); err != nil {
		return store.AttestationKey{}, err
	}
	return k, tx.InsertAttestationKey(ctx, org, k)
}

// getAttestation signs the agent's trust state now: a DSSE envelope over
// an in-toto Statement whose predicate is the score object with issuedAt,
// expiresAt (24 h) and the ledger checkpoint it is consistent with.
// Issuing one is a ledger leaf.
func (s *Server) getAttestation(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	// The checkpoint first: everything the score rests on is in the tree
	// it signs (the score reads the store afterwards, so it sees no less).
	note, cp, err := s.Checkpoint(ctx, c.org)
	if err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Second)
	var env attest.Envelope
	err = s.store.Update(ctx, func(tx store.Tx) error {
		sc, a, err := s.computeScore(ctx, tx, c.org, id, now)
		if err != nil {
			return err
		}
		dims := map[string]float64{}
		for _, d := range []string{"accuracy", "reliability", "safety", "security", "scopeAdherence", "outputSanitization"} {
			dims[d] = sc.Dimensions.Get(d)
		}
		p := attest.Predicate{AgentID: a.ID, CompositeScore: sc.CompositeScore, Confidence: sc.Confidence, CertificationTier: sc.CertificationTier,
			Dimensions: dims,
			ScoreVelocity: attest.Velocity{Last1Day: float64(sc.ScoreVelocity.Last1Day), Last7Days: float64(sc.ScoreVelocity.Last7Days),
				Last30Days: float64(sc.ScoreVelocity.Last30Days)},
			SecurityPosture: attest.SecurityPosture{Badges: sc.SecurityPosture.Badges, CleanStreakDays: sc.SecurityPosture.CleanStreakDays,
				OWASP: sc.SecurityPosture.OWASP, OpenIncidents: attest.OpenIncidents{Critical: sc.SecurityPosture.OpenIncidents.Critical,
					High: sc.SecurityPosture.OpenIncidents.High, Medium: sc.SecurityPosture.OpenIncidents.Medium}},
			Evidence: attest.Evidence{EvalCases: int64(sc.Evidence.EvalCases), Records: int64(sc.Evidence.Records),
				LastEvalAt: sc.Evidence.LastEvalAt, LastRecordAt: sc.Evidence.LastRecordAt},
			Model:      attest.Model{Provider: a.Model.Provider, Name: a.Model.Name, Version: a.Model.Version},
			Pact:       attest.Pact{ID: sc.Pact.ID, Version: sc.Pact.Version, Digest: sc.Pact.Digest},
			ComputedAt: sc.ComputedAt, IssuedAt: now, ExpiresAt: now.Add(attestationTTL),
			Ledger: attest.Ledger{Origin: cp.Origin, Size: cp.Size, RootHash: base64.StdEncoding.EncodeToString(cp.Hash[:]), Checkpoint: string(note)},
		}
		st, err := attest.NewStatement(c.org, p)
		if err != nil {
			return err
		}
		key, err := signingKey(ctx, tx, c.org, now)
		if err != nil {
			return err
		}
		if env, err = attest.Sign(st, key.KeyID, ed25519.PrivateKey(key.Private)); err != nil {
			return err
		}
		body, err := json.Marshal(env)
		if err != nil {
			return err
		}
		digest := sha256.Sum256(body)
		if err := tx.LockLedger(ctx, c.org); err != nil {
			return err
		}
		leaf, err := json.Marshal(struct {
			Kind        string `json:"kind"`
			Attestation any    `json:"attestation"`
		}{"attestation", struct {
			AgentID        string    `json:"agentId"`
			KeyID          string    `json:"keyid"`
			CompositeScore int       `json:"compositeScore"`
			Tier           string    `json:"certificationTier"`
			IssuedAt       time.Time `json:"issuedAt"`
			ExpiresAt      time.Time `json:"expiresAt"`
			CheckpointSize int64     `json:"checkpointSize"`
			Envelope       string    `json:"envelope"`
		}{a.ID, key.KeyID, sc.CompositeScore, sc.CertificationTier, now, now.Add(attestationTTL), cp.Size, "sha256:" + hex.EncodeToString(digest[:])}})
		if err != nil {
			return err
		}
		_, err = store.AppendLedger(ctx, tx, c.org, [][]byte{leaf})
		return err
	})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.attestation.json"`, id))
	writeJSON(w, http.StatusOK, env)
	return nil
}

// attestationKeyView is one published attestation key (DESIGN.md section 6).
type attestationKeyView struct {
	KeyID     string `json:"keyid"`
	Algorithm string `json:"algorithm"`
	PublicKey string `json:"publicKey"`
	Status    string `json:"status"`
}

// attestationKeys lists the org's attestation public keys, oldest first.
func attestationKeys(ctx context.Context, tx store.Tx, org string) ([]attestationKeyView, error) {
	ks, err := tx.ListAttestationKeys(ctx, org)
	if err != nil {
		return nil, err
	}
	out := make([]attestationKeyView, len(ks))
	for i, k := range ks {
		out[i] = attestationKeyView{k.KeyID, "ed25519", base64.StdEncoding.EncodeToString(k.Public), k.Status}
	}
	return out, nil
}
