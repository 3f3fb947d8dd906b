package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/attest"
	"github.com/probity-dev/probity/internal/score"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/ledger"
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
// expiresAt (24 h) and the signed ledger checkpoint it is consistent with.
// Issuing one is a ledger leaf, written before the answer (issuances are
// committed in groups, so many at once cost one transaction).
func (s *Server) getAttestation(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	now := s.now().UTC().Truncate(time.Second)
	note, cp, err := s.latestCheckpoint(ctx, c.org)
	if err != nil {
		return err
	}
	// A score computed within scoreFresh, with no new evidence and no write
	// to the agent since, is the agent's score now (it names the model).
	sc, ok := s.cachedScoreOf(c.org, id, now)
	if !ok {
		err = s.store.View(ctx, func(tx store.Tx) error {
			sc, _, err = s.computeScore(ctx, tx, c.org, id, now)
			return err
		})
		if err != nil {
			return err
		}
	}
	key, err := s.activeKey(ctx, c.org, now)
	if err != nil {
		return err
	}
	dims := map[string]float64{}
	for _, d := range score.DimensionNames() {
		dims[d] = sc.Dimensions.Get(d)
	}
	p := attest.Predicate{AgentID: sc.AgentID, CompositeScore: sc.CompositeScore, Confidence: sc.Confidence, CertificationTier: sc.CertificationTier,
		Dimensions: dims,
		ScoreVelocity: attest.Velocity{Last1Day: float64(sc.ScoreVelocity.Last1Day), Last7Days: float64(sc.ScoreVelocity.Last7Days),
			Last30Days: float64(sc.ScoreVelocity.Last30Days)},
		SecurityPosture: attest.SecurityPosture{Badges: sc.SecurityPosture.Badges, CleanStreakDays: sc.SecurityPosture.CleanStreakDays,
			OWASP: sc.SecurityPosture.OWASP, OpenIncidents: attest.OpenIncidents{Critical: sc.SecurityPosture.OpenIncidents.Critical,
				High: sc.SecurityPosture.OpenIncidents.High, Medium: sc.SecurityPosture.OpenIncidents.Medium}},
		Evidence: attest.Evidence{EvalCases: int64(sc.Evidence.EvalCases), Records: int64(sc.Evidence.Records),
			LastEvalAt: sc.Evidence.LastEvalAt, LastRecordAt: sc.Evidence.LastRecordAt},
		Model:      attest.Model{Provider: sc.Model.Provider, Name: sc.Model.Name, Version: sc.Model.Version},
		Pact:       attest.Pact{ID: sc.Pact.ID, Version: sc.Pact.Version, Digest: sc.Pact.Digest},
		ComputedAt: sc.ComputedAt, IssuedAt: now, ExpiresAt: now.Add(attestationTTL),
		Ledger: attest.Ledger{Origin: cp.Origin, Size: cp.Size, RootHash: base64.StdEncoding.EncodeToString(cp.Hash[:]), Checkpoint: string(note)},
	}
	env, err := attest.Issue(c.org, p, key.KeyID, ed25519.PrivateKey(key.Private))
	if err != nil {
		return err
	}
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(body)
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
	}{sc.AgentID, key.KeyID, sc.CompositeScore, sc.CertificationTier, now, now.Add(attestationTTL), cp.Size, "sha256:" + hex.EncodeToString(digest[:])}})
	if err != nil {
		return err
	}
	if err := s.issuances.append(ctx, c.org, leaf); err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.attestation.json"`, id))
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(body, '\n'))
	return nil
}

// latestCheckpoint returns the org's latest signed checkpoint (the signer
// signs one about every second), signing one only when there is none yet.
func (s *Server) latestCheckpoint(ctx context.Context, org string) ([]byte, ledger.Checkpoint, error) {
	// The signer signs at most about once a second: a note read less than a
	// second ago is as recent as the store's.
	s.keysMu.Lock()
	if c, ok := s.checkpoints[org]; ok && time.Since(c.read) < time.Second {
		s.keysMu.Unlock()
		return c.note, c.cp, nil
	}
	s.keysMu.Unlock()
	note, cp, err := s.readCheckpoint(ctx, org)
	if err == nil {
		s.keysMu.Lock()
		if s.checkpoints == nil {
			s.checkpoints = map[string]checkpointEntry{}
		}
		s.checkpoints[org] = checkpointEntry{note, cp, time.Now()}
		s.keysMu.Unlock()
	}
	return note, cp, err
}

type checkpointEntry struct {
	note []byte
	cp   ledger.Checkpoint
	read time.Time
}

func (s *Server) readCheckpoint(ctx context.Context, org string) ([]byte, ledger.Checkpoint, error) {
	var note []byte
	var cp ledger.Checkpoint
	err := s.store.View(ctx, func(tx store.Tx) error {
		_, n, err := tx.LatestCheckpoint(ctx, org)
		if err != nil {
			return err
		}
		k, err := tx.LedgerKey(ctx, org)
		if err != nil {
			return err
		}
		note = n
		cp, err = ledger.OpenCheckpoint(n, k.Verifier)
		return err
	})
	if errors.Is(err, probity.ErrNotFound) {
		return s.Checkpoint(ctx, org)
	}
	return note, cp, err
}

// keyTTL is how long the active signing key is reused before the store is
// read again (a key rotated offline takes effect within it).
const keyTTL = 2 * time.Second

// activeKey returns the org's active signing key, making one when the org
// has none.
func (s *Server) activeKey(ctx context.Context, org string, now time.Time) (store.AttestationKey, error) {
	s.keysMu.Lock()
	if k, ok := s.keys[org]; ok && time.Since(k.read) < keyTTL {
		s.keysMu.Unlock()
		return k.key, nil
	}
	s.keysMu.Unlock()
	var key store.AttestationKey
	err := s.store.Update(ctx, func(tx store.Tx) error {
		var err error
		key, err = signingKey(ctx, tx, org, now)
		return err
	})
	if err != nil {
		return key, err
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	if s.keys == nil {
		s.keys = map[string]signingKeyEntry{}
	}
	s.keys[org] = signingKeyEntry{key, time.Now()}
	return key, nil
}

type signingKeyEntry struct {
	key  store.AttestationKey
	read time.Time
}

// issuanceLog appends attestation leaves in groups: each caller waits
// until its leaf has committed, and the leaves waiting when a transaction
// starts share it.
type issuanceLog struct {
	s       *Server
	mu      sync.Mutex
	pending map[string][]issuance // by org
	running bool
}

type issuance struct {
	leaf []byte
	done chan error
}

// maxIssuanceGroup bounds the leaves of one transaction.
const maxIssuanceGroup = 1000

func (l *issuanceLog) append(ctx context.Context, org string, leaf []byte) error {
	done := make(chan error, 1)
	l.mu.Lock()
	if l.pending == nil {
		l.pending = map[string][]issuance{}
	}
	l.pending[org] = append(l.pending[org], issuance{leaf, done})
	if !l.running {
		l.running = true
		go l.run()
	}
	l.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// The leaf may still commit; the caller is told nothing was issued.
		return ctx.Err()
	}
}

// run commits pending groups until none are left.
func (l *issuanceLog) run() {
	for {
		l.mu.Lock()
		var org string
		var group []issuance
		for o, is := range l.pending {
			org, group = o, is[:min(len(is), maxIssuanceGroup)]
			if len(is) > len(group) {
				l.pending[o] = is[len(group):]
			} else {
				delete(l.pending, o)
			}
			break
		}
		if group == nil {
			l.running = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		leaves := make([][]byte, len(group))
		for i, is := range group {
			leaves[i] = is.leaf
		}
		ctx := context.Background()
		err := l.s.store.Update(ctx, func(tx store.Tx) error {
			if err := tx.LockLedger(ctx, org); err != nil {
				return err
			}
			_, err := store.AppendLedger(ctx, tx, org, leaves)
			return err
		})
		for _, is := range group {
			is.done <- err
		}
	}
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
