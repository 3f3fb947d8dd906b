// Package pact is an agent's behavioral specification and its checker.
//
// A pact is a YAML or JSON document (apiVersion probity/v1, kind Pact) that
// says what an agent may do in production: which tools it may call and under
// which CEL conditions, which data classes it may touch, which domains its
// tool arguments may reach, which ordered sequences of tool calls are
// forbidden within a session, which content its outputs must not carry, and
// which measurable commitments it keeps over time windows. Every clause has
// an id and a severity.
//
// Compile parses, validates and compiles a pact once, reporting every error
// with its line and column. Check evaluates one record against a compiled
// pact and a Session's state; it is pure (no I/O, no clock) and every CEL
// evaluation runs under a cost limit. EvaluateCommitment judges a commitment
// over samples in a window ending at a given time. docs/pact.md describes the
// format.
package pact

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/probity-dev/probity"
)

// APIVersion and Kind are the only accepted header values.
const (
	APIVersion = "probity/v1"
	Kind       = "Pact"
)

// Severities, most severe first.
const (
	Critical = "critical"
	Major    = "major"
	Minor    = "minor"
	Info     = "info"
)

// Severities lists every severity, most severe first.
var Severities = []string{Critical, Major, Minor, Info}

// Generated ids of the scope clauses that a pact cannot name itself.
// A scope.tools entry without an id gets "scope.tools.<name>".
const (
	ClauseScopeTools    = "scope.tools"
	ClauseDataClasses   = "scope.dataClasses"
	ClauseEgressDomains = "scope.egressDomains"
)

// Detector kinds an outputs clause may name; they are the kinds
// internal/detect knows.
var DetectKinds = []string{"injection", "xss", "sql", "shell", "secrets", "pii", "canary", "refusal"}

// Commitment metrics and operators.
var (
	Metrics   = []string{"latency_p95_ms", "error_rate", "accuracy", "safety_pass_rate"}
	Operators = []string{"<", "<=", ">", ">="}
)

// Limits on one pact.
const (
	MaxSourceLen  = 1 << 20 // bytes of YAML or JSON
	MaxClauses    = 500     // entries in each list
	MaxSteps      = 16      // steps in a forbidden sequence
	MaxExprLen    = 4096    // bytes of one CEL expression
	MaxWindow     = 90 * 24 * time.Hour
	maxNameLen    = 200
	maxDescLen    = 4000
	reservedIDPfx = "scope."
)

// Pact is a compiled pact. The exported fields are its content, in canonical
// order; Compile fills the unexported compiled state. Treat a compiled Pact as
// read-only: it is safe for concurrent Checks (each with its own Session),
// and Canonical and Digest describe the content as compiled.
type Pact struct {
	APIVersion  string       `json:"apiVersion"`
	Kind        string       `json:"kind"`
	ID          string       `json:"id"`
	Agents      []string     `json:"agents,omitzero"`
	Scope       *Scope       `json:"scope,omitempty"`
	Forbid      []Forbid     `json:"forbid,omitzero"`
	Outputs     []Output     `json:"outputs,omitzero"`
	Commitments []Commitment `json:"commitments,omitzero"`

	canonical []byte
	digest    string
	toolIndex map[string][]int // tool name → indexes into Scope.Tools
}

// Scope limits what the agent may reach. A nil list places no limit; an
// empty list allows nothing. Severity applies to the generated clauses
// scope.tools (a tool that no entry names), scope.dataClasses and
// scope.egressDomains, and to tool entries that give none.
type Scope struct {
	Severity      string   `json:"severity,omitempty"`
	Tools         []Tool   `json:"tools,omitzero"`
	DataClasses   []string `json:"dataClasses,omitzero"`
	EgressDomains []string `json:"egressDomains,omitzero"`

	domains []domainPattern
}

// Tool allows a tool. When, if set, is a CEL condition every call of the
// tool must satisfy. Several entries may name one tool (each with its own
// id); a call must satisfy all of them.
type Tool struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name"`
	When     string `json:"when,omitempty"`
	Severity string `json:"severity,omitempty"`

	clause   string // ID, or scope.tools.<name>
	severity string // Severity, or the scope's
	cond     *condition
}

// Clause returns the tool entry's clause id: its id, or scope.tools.<name>.
func (t *Tool) Clause() string { return t.clause }

// Forbid is a forbidden ordered sequence of tool calls within one session:
// the clause is broken by a call matching the last step after calls matching
// every earlier step, in order (other calls may come between them).
type Forbid struct {
	ID          string `json:"id"`
	Severity    string `json:"severity"`
	Description string `json:"description,omitempty"`
	Sequence    []Step `json:"sequence"`
}

// Step is one step of a forbidden sequence: a call of Tool for which When
// (if set) is true.
type Step struct {
	Tool string `json:"tool"`
	When string `json:"when,omitempty"`

	cond *condition
}

// Output forbids content in model outputs, by detector kind.
type Output struct {
	ID       string   `json:"id"`
	Severity string   `json:"severity"`
	Detect   []string `json:"detect"`
}

// Commitment is a measurable promise: Metric Op Value over every Window
// (for example latency_p95_ms <= 800 over 24h). Suite narrows accuracy and
// safety_pass_rate to one eval suite.
type Commitment struct {
	ID       string   `json:"id"`
	Severity string   `json:"severity"`
	Metric   string   `json:"metric"`
	Op       string   `json:"op"`
	Value    float64  `json:"value"`
	Window   Duration `json:"window"`
	Suite    string   `json:"suite,omitempty"`
}

// Duration is a window length written as a Go duration ("90m", "24h") or a
// whole number of days ("7d"). It encodes in its canonical form: whole days
// as "Nd", anything else as Go prints it.
type Duration time.Duration

func (d Duration) String() string {
	td := time.Duration(d)
	if td > 0 && td%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", td/(24*time.Hour))
	}
	return td.String()
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int64
		if _, err := fmt.Sscanf(n, "%d", &days); err != nil || fmt.Sprint(days) != n || days <= 0 || days > int64(MaxWindow/(24*time.Hour)) {
			return 0, fmt.Errorf("%q is not a whole number of days between 1 and %d", s, MaxWindow/(24*time.Hour))
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 90m, 24h or 7d", s)
	}
	if d <= 0 || d > MaxWindow {
		return 0, fmt.Errorf("%q must be positive and at most %s", s, Duration(MaxWindow))
	}
	return d, nil
}

// Error is one problem in a pact source, at a 1-based line and column (0
// when unknown), with the field path ("scope.tools[2].when").
type Error struct {
	Line, Column int
	Field        string
	Message      string
}

func (e Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", e.Line, e.Column)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem Compile found, in source order.
type Errors []Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Is makes errors.Is(err, probity.ErrInvalid) true.
func (es Errors) Is(target error) bool { return target == probity.ErrInvalid }

// Compile parses src (YAML or JSON), validates it and compiles every CEL
// condition once. On failure the error is an Errors listing every problem
// with its position.
func Compile(src []byte) (*Pact, error) {
	return compile(src, defaultLimits)
}

func compile(src []byte, lim limits) (*Pact, error) {
	if len(src) > MaxSourceLen {
		return nil, Errors{{Message: fmt.Sprintf("pact is longer than %d bytes", MaxSourceLen)}}
	}
	cc, err := newCELCompiler(lim)
	if err != nil {
		return nil, err
	}
	d := &decoder{src: src, ids: map[string]string{}, cel: cc}
	p := d.decode(src)
	if len(d.Problems) > 0 {
		return nil, d.errors()
	}
	c, err := canonical(p)
	if err != nil {
		return nil, fmt.Errorf("encoding canonical pact: %w", err)
	}
	p.canonical = c
	sum := sha256.Sum256(c)
	p.digest = "sha256:" + hex.EncodeToString(sum[:])
	if p.Scope != nil {
		p.toolIndex = map[string][]int{}
		for i, t := range p.Scope.Tools {
			p.toolIndex[t.Name] = append(p.toolIndex[t.Name], i)
		}
	}
	return p, nil
}

// Canonical returns the pact's canonical JSON: compact, fields in
// declaration order, absent fields omitted, domains lowercased, windows in
// canonical form. Identical content gives identical bytes whatever the
// source's formatting, key order or choice of YAML or JSON; the bytes
// compile back to an equal pact.
func (p *Pact) Canonical() []byte { return bytes.Clone(p.canonical) }

// Digest returns "sha256:<hex>" over Canonical.
func (p *Pact) Digest() string { return p.digest }

func canonical(p *Pact) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
