package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/attest"
)

// Score is an agent's trust score now (GET /v1/agents/{id}/score): its six
// dimensions in [0,1], the composite from 0 to 1000, the confidence in it,
// the certification tier, the badges and OWASP posture, and what it rests
// on. docs/scoring.md defines every number.
type Score struct {
	AgentID           string             `json:"agentId"`
	CompositeScore    int                `json:"compositeScore"` // 0–1000
	Confidence        float64            `json:"confidence"`     // 0–1
	CertificationTier string             `json:"certificationTier"`
	Dimensions        map[string]float64 `json:"dimensions"` // accuracy, reliability, safety, security, scopeAdherence, outputSanitization
	ScoreVelocity     ScoreVelocity      `json:"scoreVelocity"`
	SecurityPosture   SecurityPosture    `json:"securityPosture"`
	Evidence          ScoreEvidence      `json:"evidence"`
	Model             probity.Model      `json:"model"`
	Pact              ScorePact          `json:"pact,omitzero"` // zero when the agent has no pact
	ComputedAt        time.Time          `json:"computedAt"`
	// Explain is the explanation GetScore asks for with explain, exactly as
	// sent; Explanation decodes it.
	Explain json.RawMessage `json:"explain,omitempty"`
}

// ScoreVelocity is the change of the composite, in points, over the last
// day, 7 days and 30 days (0 without a stored score that old).
type ScoreVelocity struct {
	Last1Day   int `json:"last1Day"`
	Last7Days  int `json:"last7Days"`
	Last30Days int `json:"last30Days"`
}

// SecurityPosture is an agent's badges, open incidents, days since its last
// security or safety failure, and its OWASP LLM Top 10 coverage: for each of
// LLM01…LLM10, "tested", "monitored" or "uncovered".
type SecurityPosture struct {
	Badges          []string          `json:"badges"`
	OpenIncidents   OpenIncidents     `json:"openIncidents"`
	CleanStreakDays int               `json:"cleanStreakDays"`
	OWASP           map[string]string `json:"owasp"`
}

// OpenIncidents counts an agent's open incidents by severity.
type OpenIncidents struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
}

// ScoreEvidence is how much a score rests on: graded eval cases and
// behavioral records, and the newest of each.
type ScoreEvidence struct {
	EvalCases    int       `json:"evalCases"`
	Records      int       `json:"records"`
	LastEvalAt   time.Time `json:"lastEvalAt,omitzero"`
	LastRecordAt time.Time `json:"lastRecordAt,omitzero"`
}

// ScorePact is the pact version an agent is held to.
type ScorePact struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Digest  string `json:"digest"` // "sha256:<hex>" of its canonical form
}

// ScoreExplanation is what explain adds to a score: how each dimension
// and the composite came out, why the tier, and each badge's counts.
type ScoreExplanation struct {
	Dimensions         map[string]DimensionExplanation `json:"dimensions"`
	UndecayedComposite float64                         `json:"undecayedComposite"`
	DecayFactor        float64                         `json:"decayFactor"` // 1 while evals are fresh
	DecayDays          float64                         `json:"decayDays"`   // days of decay past the grace period
	TierReason         string                          `json:"tierReason"`
	Badges             []BadgeExplanation              `json:"badges"`
	// ByModelVersion is each model version's dimensions and effective
	// evidence, from its own observations without age weighting.
	ByModelVersion map[string]VersionScore `json:"byModelVersion,omitempty"`
	Ignored        int                     `json:"ignored,omitempty"` // observations left out as invalid
}

// DimensionExplanation is how one dimension came out: its observations and
// their effective (age- and version-weighted) sum, the passes and failures
// among them, the prior's and the evidence's shares of the value, and the
// dimension's weight and contribution to the undecayed composite.
type DimensionExplanation struct {
	Observations         int     `json:"observations"`
	EffectiveEvidence    float64 `json:"effectiveEvidence"`
	Passes               float64 `json:"passes"`
	Failures             float64 `json:"failures"`
	PriorContribution    float64 `json:"priorContribution"`
	EvidenceContribution float64 `json:"evidenceContribution"`
	Value                float64 `json:"value"`
	Confidence           float64 `json:"confidence"`
	Weight               float64 `json:"weight"`
	Contribution         float64 `json:"contribution"` // points of the composite, 1000·weight·value
}

// BadgeExplanation says whether a badge is awarded, and why.
type BadgeExplanation struct {
	Name    string `json:"name"`
	Awarded bool   `json:"awarded"`
	Reason  string `json:"reason"`
}

// VersionScore is one model version's dimensions and effective evidence.
type VersionScore struct {
	Dimensions map[string]float64 `json:"dimensions"`
	Evidence   map[string]float64 `json:"evidence"`
}

// Explanation decodes s.Explain. It returns ok false when the score has
// none (GetScore without explain).
func (s Score) Explanation() (e ScoreExplanation, ok bool, err error) {
	if len(s.Explain) == 0 || string(s.Explain) == "null" {
		return e, false, nil
	}
	if err := json.Unmarshal(s.Explain, &e); err != nil {
		return e, false, fmt.Errorf("decoding the score's explanation: %w", err)
	}
	return e, true, nil
}

// GetScore returns the agent's trust score now, computed from the evidence
// stored; with explain, Explain holds each dimension's evidence, weight and
// contribution.
func (c *Client) GetScore(ctx context.Context, agentID string, explain bool) (Score, error) {
	var q url.Values
	if explain {
		q = url.Values{"explain": {"1"}}
	}
	var out Score
	err := c.do(ctx, http.MethodGet, agentPath(agentID)+"/score", q, nil, &out)
	return out, err
}

// ScorePoint is one stored score of an agent: the server stores one, with
// its ledger leaf, whenever the composite, tier or badges change.
type ScorePoint struct {
	Time              time.Time `json:"time"`
	CompositeScore    int       `json:"compositeScore"`
	CertificationTier string    `json:"certificationTier"`
	LedgerIndex       int64     `json:"ledgerIndex"`
}

// ScoreHistory returns the agent's stored scores with from <= time < to,
// oldest first (a zero from or to for no bound; the server returns at most
// 10,000).
func (c *Client) ScoreHistory(ctx context.Context, agentID string, from, to time.Time) ([]ScorePoint, error) {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.UTC().Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		q.Set("to", to.UTC().Format(time.RFC3339Nano))
	}
	var out struct {
		Points []ScorePoint `json:"points"`
	}
	err := c.do(ctx, http.MethodGet, agentPath(agentID)+"/score/history", q, nil, &out)
	return out.Points, err
}

// GateRequest asks whether an orchestrator may delegate to an agent now.
type GateRequest struct {
	AgentID string `json:"agentId"`
	// MinScore is the least composite allowed; nil for the reliance
	// threshold, 700.
	MinScore *int `json:"minScore,omitempty"`
	// MinTier is the least tier allowed (platinum, gold, silver, bronze or
	// uncertified); empty for any.
	MinTier string `json:"minTier,omitempty"`
	// RequireBadges are badges the agent must hold, such as injection-free.
	RequireBadges []string `json:"requireBadges,omitempty"`
}

// GateDecision is the gate's answer: Allow, or every reason it denies (the
// agent is suspended, below the minimum score or tier, lacks a badge, or
// its eval evidence is missing or stale), with the score it decided on.
type GateDecision struct {
	Allow             bool     `json:"allow"`
	Reasons           []string `json:"reasons"`
	CompositeScore    int      `json:"compositeScore"`
	CertificationTier string   `json:"certificationTier"`
	Status            string   `json:"status"` // the agent's: active or suspended
	Badges            []string `json:"badges"`
}

// Gate asks the server whether to delegate to an agent now (POST /v1/gate).
// A denial is an answer, not an error.
func (c *Client) Gate(ctx context.Context, req GateRequest) (GateDecision, error) {
	var out GateDecision
	err := c.do(ctx, http.MethodPost, "/v1/gate", nil, req, &out)
	return out, err
}

// GetAttestation returns the agent's trust attestation as the server signs
// it now, unverified: a DSSE envelope over an in-toto statement, valid for
// 24 hours. Package attest verifies it offline; GetTrustAttestation fetches
// and verifies in one call.
func (c *Client) GetAttestation(ctx context.Context, agentID string) (attest.Envelope, error) {
	b, err := c.raw(ctx, agentPath(agentID)+"/attestation", "application/json")
	if err != nil {
		return attest.Envelope{}, err
	}
	return attest.ParseEnvelope(b)
}

// AttestationKeys returns the attestation keys of a GET /v1/keys answer for
// package attest, checked as attest.ParseKeys checks them. Pin them with
// WithAttestationKeys after checking them out of band.
func (k Keys) AttestationKeys() ([]attest.PublicKey, error) {
	b, err := json.Marshal(struct {
		Attestation []AttestationKey `json:"attestation"`
	}{k.Attestation})
	if err != nil {
		return nil, err
	}
	return attest.ParseKeys(b)
}

// WithAttestationKeys pins the keys GetTrustAttestation verifies with: the
// org's attestation keys (active and retired) from a source the caller
// trusts, such as a GET /v1/keys answer checked once out of band. Without
// them (or with none), the Client fetches the keys from the server it
// verifies, once, and logs a warning that it trusts them.
func WithAttestationKeys(keys []attest.PublicKey) Option {
	return func(c *Client) { c.keys.pinned = slices.Clone(keys) }
}

// WithLogger makes the Client log to l instead of slog.Default(). It logs
// one thing: the warning, once, that it verifies attestations with keys
// fetched from the server (see WithAttestationKeys). To silence it, pass a
// logger that discards, such as slog.New(slog.DiscardHandler).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// trustKeys are the keys GetTrustAttestation verifies with: pinned ones,
// or the ones fetched from the server.
type trustKeys struct {
	pinned []attest.PublicKey

	mu      sync.Mutex
	fetched []attest.PublicKey // nil until fetched
	warned  bool
}

// attestationKeys returns the pinned keys, or the fetched ones, fetching
// them when there are none yet or refetch is set.
func (c *Client) attestationKeys(ctx context.Context, refetch bool) (keys []attest.PublicKey, pinned bool, err error) {
	if len(c.keys.pinned) > 0 {
		return c.keys.pinned, true, nil
	}
	c.keys.mu.Lock()
	defer c.keys.mu.Unlock()
	if c.keys.fetched != nil && !refetch {
		return c.keys.fetched, false, nil
	}
	b, err := c.raw(ctx, "/v1/keys", "application/json")
	if err != nil {
		return nil, false, fmt.Errorf("fetching the attestation keys: %w", err)
	}
	keys, err = attest.ParseKeys(b)
	if err != nil {
		return nil, false, fmt.Errorf("fetching the attestation keys: %w", err)
	}
	c.keys.fetched = keys
	if !c.keys.warned {
		c.keys.warned = true
		log := c.log
		if log == nil {
			log = slog.Default()
		}
		log.WarnContext(ctx, "probity client: verifying attestations with keys fetched from the server they verify (GET /v1/keys); "+
			"pin keys from a source you trust with client.WithAttestationKeys", "server", c.base)
	}
	return keys, false, nil
}

// GetTrustAttestation fetches the agent's attestation and verifies it
// before returning its predicate: the signature with the pinned keys (see
// WithAttestationKeys) or the keys fetched from the server, the validity
// period at the current time, and the subject, which must be
// agent:<org>/<agentID> with a predicate about agentID. The org is the one
// whose keys verified the signature. When keys fetched earlier do not
// know the signing key (the org rotated it since), they are fetched again,
// once. Verification errors wrap attest's sentinels (ErrUnknownKey,
// ErrBadSignature, ErrExpired, ErrSubjectMismatch, ErrMalformed).
func (c *Client) GetTrustAttestation(ctx context.Context, agentID string) (attest.Predicate, error) {
	env, err := c.GetAttestation(ctx, agentID)
	if err != nil {
		return attest.Predicate{}, err
	}
	keys, pinned, err := c.attestationKeys(ctx, false)
	if err != nil {
		return attest.Predicate{}, err
	}
	p, err := verifyTrust(env, keys, agentID, time.Now())
	if errors.Is(err, attest.ErrUnknownKey) && !pinned {
		if keys, _, err = c.attestationKeys(ctx, true); err != nil {
			return attest.Predicate{}, err
		}
		p, err = verifyTrust(env, keys, agentID, time.Now())
	}
	if err != nil {
		return attest.Predicate{}, fmt.Errorf("verifying the attestation of agent %s: %w", agentID, err)
	}
	return p, nil
}

// verifyTrust verifies env with keys at now and checks that it is about
// agentID, of whatever org.
func verifyTrust(env attest.Envelope, keys []attest.PublicKey, agentID string, now time.Time) (attest.Predicate, error) {
	v, err := attest.Open(env, keys, now, attest.Expect{})
	if err != nil {
		return attest.Predicate{}, err
	}
	name := v.Statement.Subject[0].Name // Open checked there is exactly one
	org, id, ok := strings.Cut(strings.TrimPrefix(name, "agent:"), "/")
	if !strings.HasPrefix(name, "agent:") || !ok || org == "" || id != agentID || v.Predicate.AgentID != agentID {
		return attest.Predicate{}, fmt.Errorf("%w: the attestation is about %q (agent %q), want agent:<org>/%s",
			attest.ErrSubjectMismatch, name, v.Predicate.AgentID, agentID)
	}
	return v.Predicate, nil
}
