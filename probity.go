// Package probity holds the domain of the Probity accountability server: the
// nouns every other package speaks of (orgs, API keys, agents and their access
// profiles, audit entries) and the few sentinel errors that travel between the
// store, the API and the CLI.
//
// Its types are the JSON wire format of the HTTP API as well, so the public Go
// SDK in package client and the server never disagree about a field name.
package probity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors. Wrap them with fmt.Errorf("doing what: %w", err) and test
// with errors.Is; internal/api maps them to HTTP status codes in one place.
var (
	ErrNotFound  = errors.New("not found")
	ErrInvalid   = errors.New("invalid argument")
	ErrConflict  = errors.New("conflict")
	ErrForbidden = errors.New("forbidden")
)

// FieldError is an ErrInvalid that names the offending field (a JSON path such
// as "model.version" or "events[3].time").
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Unwrap makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Invalid returns a FieldError for field.
func Invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Org is a tenant. Every row belongs to exactly one org.
type Org struct {
	ID        string    `json:"id"` // user-chosen, same rules as an agent id
	CreatedAt time.Time `json:"createdAt"`
}

// Scope is what an API key may do.
type Scope string

// The API key scopes. Admin may do everything; the others are narrow.
const (
	ScopeAdmin  Scope = "admin"
	ScopeIngest Scope = "ingest" // write behavioral records only
	ScopeRead   Scope = "read"   // read everything in the org
	ScopeEval   Scope = "eval"   // start and read evaluations
)

// Scopes lists every valid scope in a stable order.
var Scopes = []Scope{ScopeAdmin, ScopeIngest, ScopeRead, ScopeEval}

// ParseScopes turns "read,eval" into scopes, rejecting unknown names.
func ParseScopes(field string, names []string) ([]Scope, error) {
	if len(names) == 0 {
		return nil, Invalid(field, "at least one scope is required (one of %s)", scopeList())
	}
	var out []Scope
	for _, n := range names {
		s := Scope(strings.TrimSpace(n))
		if !slices.Contains(Scopes, s) {
			return nil, Invalid(field, "unknown scope %q (want one of %s)", n, scopeList())
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func scopeList() string {
	var b strings.Builder
	for i, s := range Scopes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(s))
	}
	return b.String()
}

// APIKey is the stored view of a key: never the secret, only its hash.
type APIKey struct {
	ID        string     `json:"id"`
	OrgID     string     `json:"-"`
	Name      string     `json:"name,omitempty"`
	Prefix    string     `json:"prefix"` // first characters of the key, to recognise it in a list
	Scopes    []Scope    `json:"scopes"`
	CreatedAt time.Time  `json:"createdAt"`
	CreatedBy string     `json:"createdBy,omitempty"` // key id, or "cli" for offline creation
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	Hash      []byte     `json:"-"`
}

// Allows reports whether the key carries scope s; admin implies every scope.
func (k *APIKey) Allows(s Scope) bool {
	return slices.Contains(k.Scopes, ScopeAdmin) || slices.Contains(k.Scopes, s)
}

// Agent statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// Risk tiers an owner may declare for an agent.
var RiskTiers = []string{"low", "medium", "high", "critical"}

// Model identifies the model behind an agent. A change of any field is a
// model update, kept in the agent's model history.
type Model struct {
	Provider string `json:"provider,omitempty"`
	Name     string `json:"name,omitempty"`
	Version  string `json:"version,omitempty"`
}

// Endpoint is where evals reach the agent. APIKeyEnv names an environment
// variable of the server; the key itself is never stored.
//
// Kind openai is an OpenAI-compatible chat-completions API with tools (URL
// up to /v1, Model). Kind http is a simple JSON endpoint without tools:
// each user turn is POSTed to URL in Body, a JSON template holding
// {{input}} inside a string, and the answer is read at Output, a JSON
// pointer (defaults {"input":"{{input}}"} and /output).
type Endpoint struct {
	Kind      string `json:"kind,omitempty"`
	URL       string `json:"url,omitempty"`
	Model     string `json:"model,omitempty"`
	APIKeyEnv string `json:"apiKeyEnv,omitempty"`
	Body      string `json:"body,omitempty"`
	Output    string `json:"output,omitempty"`
}

// Access is what an agent may touch: the basis of its risk figure.
type Access struct {
	DataClasses []string `json:"dataClasses,omitempty"`
	Systems     []string `json:"systems,omitempty"`
	Production  bool     `json:"production"`
	Financial   bool     `json:"financial"`
	Actions     []string `json:"actions,omitempty"`
}

// Agent is an autonomous AI system under accountability.
type Agent struct {
	ID           string    `json:"id"`
	Name         string    `json:"name,omitempty"`
	Owner        string    `json:"owner,omitempty"`
	Description  string    `json:"description,omitempty"`
	Model        Model     `json:"model"`
	Endpoint     *Endpoint `json:"endpoint,omitempty"`
	Access       Access    `json:"access"`
	RiskTier     string    `json:"riskTier,omitempty"`
	Status       string    `json:"status"`
	StatusReason string    `json:"statusReason,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// ModelChange is one entry of an agent's model-version history.
type ModelChange struct {
	Model     Model     `json:"model"`
	Since     time.Time `json:"since"`
	ChangedBy string    `json:"changedBy,omitempty"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidID reports whether s is a valid agent (or other user-chosen) id:
// 1 to 64 characters of [a-z0-9._-], starting with a letter or digit (so
// that "." and ".." never reach a URL path).
func ValidID(s string) bool { return idPattern.MatchString(s) }

// IDRule says what ValidID accepts, for error messages.
const IDRule = "must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"

const (
	maxShort = 200  // names, owners, list items
	maxLong  = 4000 // descriptions, URLs
	maxList  = 100  // items in an access list
)

// Validate checks an agent as a client would submit it. It returns the first
// FieldError found.
func (a *Agent) Validate() error {
	if !ValidID(a.ID) {
		return Invalid("id", IDRule)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"name", a.Name, maxShort}, {"owner", a.Owner, maxShort}, {"description", a.Description, maxLong},
		{"model.provider", a.Model.Provider, maxShort}, {"model.name", a.Model.Name, maxShort},
		{"model.version", a.Model.Version, maxShort},
	} {
		if err := CheckText(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	if a.Endpoint != nil {
		if err := a.Endpoint.validate(); err != nil {
			return err
		}
	}
	if err := a.Access.validate(); err != nil {
		return err
	}
	if a.RiskTier != "" && !slices.Contains(RiskTiers, a.RiskTier) {
		return Invalid("riskTier", "must be one of low, medium, high, critical")
	}
	switch a.Status {
	case "", StatusActive, StatusSuspended:
	default:
		return Invalid("status", "must be active or suspended")
	}
	return nil
}

func (e *Endpoint) validate() error {
	switch e.Kind {
	case "", "openai":
		if e.Body != "" || e.Output != "" {
			return Invalid("endpoint.body", "body and output are for kind http; kind openai speaks chat completions")
		}
	case "http":
		if e.Body != "" && strings.Count(e.Body, "{{input}}") != 1 {
			return Invalid("endpoint.body", "must hold {{input}} exactly once, inside a JSON string, e.g. {\"input\":\"{{input}}\"}")
		}
		if e.Output != "" && !strings.HasPrefix(e.Output, "/") {
			return Invalid("endpoint.output", "must be a JSON pointer such as /output or /choices/0/text")
		}
	default:
		return Invalid("endpoint.kind", "unknown kind %q (supported: openai, http)", e.Kind)
	}
	if err := CheckText("endpoint.body", e.Body, maxLong); err != nil {
		return err
	}
	if err := CheckText("endpoint.output", e.Output, maxShort); err != nil {
		return err
	}
	if e.URL != "" && !strings.HasPrefix(e.URL, "http://") && !strings.HasPrefix(e.URL, "https://") {
		return Invalid("endpoint.url", "must be an http:// or https:// URL")
	}
	if err := CheckText("endpoint.url", e.URL, maxLong); err != nil {
		return err
	}
	if err := CheckText("endpoint.model", e.Model, maxShort); err != nil {
		return err
	}
	if e.APIKeyEnv != "" && !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`).MatchString(e.APIKeyEnv) {
		return Invalid("endpoint.apiKeyEnv", "must be an environment variable name")
	}
	return nil
}

func (a *Access) validate() error {
	for _, l := range []struct {
		name  string
		items []string
	}{{"access.dataClasses", a.DataClasses}, {"access.systems", a.Systems}, {"access.actions", a.Actions}} {
		if len(l.items) > maxList {
			return Invalid(l.name, "at most %d items", maxList)
		}
		for i, it := range l.items {
			field := fmt.Sprintf("%s[%d]", l.name, i)
			if it == "" {
				return Invalid(field, "must not be empty")
			}
			if err := CheckText(field, it, maxShort); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckText checks a free-text field: at most max bytes of valid UTF-8,
// with no control characters other than tab and newline, and no bidirectional
// overrides (which make text read differently from what it is).
func CheckText(field, v string, max int) error {
	if len(v) > max {
		return Invalid(field, "at most %d bytes", max)
	}
	if !utf8.ValidString(v) {
		return Invalid(field, "is not valid UTF-8")
	}
	for _, r := range v {
		if Unsafe(r) && r != '\t' && r != '\n' {
			return Invalid(field, "contains a control or bidirectional-override character (U+%04X)", r)
		}
	}
	return nil
}

// Unsafe reports whether r is a control character (C0, DEL, C1) or a
// bidirectional override or isolate, which terminals and pages must not be
// handed raw.
func Unsafe(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// AuditEntry records one admin action: who, what, when, and the change.
type AuditEntry struct {
	Seq    int64           `json:"seq"`
	Time   time.Time       `json:"time"`
	Actor  string          `json:"actor"`  // key id, or "cli" for offline actions
	Action string          `json:"action"` // e.g. agent.create, key.revoke
	Target string          `json:"target"` // e.g. agent:support-bot, key:k_3f…
	Change json.RawMessage `json:"change,omitempty"`

	LedgerIndex *int64 `json:"ledgerIndex,omitempty"` // its leaf in the org's ledger
}

// KeyPrefix starts every API key, so that secret scanners recognise one.
const KeyPrefix = "pb_"

// KeyLen is the length of every API key: the prefix and 32 random bytes in
// unpadded base64url.
const KeyLen = len(KeyPrefix) + 43

// NewKey makes a fresh API key for org. It returns the secret, to be shown
// once, and the stored form, which keeps only the secret's hash.
func NewKey(orgID, name string, scopes []Scope, createdBy string, now time.Time) (string, APIKey, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", APIKey{}, fmt.Errorf("making key: %w", err)
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return "", APIKey{}, fmt.Errorf("making key id: %w", err)
	}
	key := KeyPrefix + base64.RawURLEncoding.EncodeToString(secret)
	return key, APIKey{
		ID:        "k_" + hex.EncodeToString(id),
		OrgID:     orgID,
		Name:      name,
		Prefix:    key[:len(KeyPrefix)+6],
		Scopes:    scopes,
		CreatedAt: now,
		CreatedBy: createdBy,
		Hash:      HashKey(key),
	}, nil
}

// HashKey is how keys are stored and looked up. Keys carry 256 random bits,
// so a plain SHA-256 is enough: there is nothing to brute-force.
func HashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}
