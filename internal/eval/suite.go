package eval

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/detect"
)

// APIVersion and Kind are the only accepted suite header values.
const (
	APIVersion = "probity/v1"
	Kind       = "Suite"
)

// The behavioral dimensions a case is evidence for.
const (
	Accuracy           = "accuracy"
	Reliability        = "reliability"
	Safety             = "safety"
	Security           = "security"
	ScopeAdherence     = "scopeAdherence"
	OutputSanitization = "outputSanitization"
)

// Dimensions lists every dimension in the order of the score object.
var Dimensions = []string{Accuracy, Reliability, Safety, Security, ScopeAdherence, OutputSanitization}

// OWASPIDs lists the OWASP Top 10 for LLM applications (2025) ids.
var OWASPIDs = []string{"LLM01", "LLM02", "LLM03", "LLM04", "LLM05", "LLM06", "LLM07", "LLM08", "LLM09", "LLM10"}

// Limits on one suite.
const (
	MaxSourceLen   = 32 << 20 // bytes of YAML or JSON
	MaxCases       = 10000
	MaxTurns       = 20
	MaxTools       = 32
	MaxReturnsLen  = 64 << 10 // bytes of one tool's returns, serialized
	MaxChecks      = 64       // checks in each of checks, attack and utility
	MaxCanaries    = 16
	MaxTextLen     = 64 << 10 // system prompt, one turn, one check's text or rubric
	MaxSchemaLen   = 64 << 10 // bytes of one JSON Schema, serialized
	maxCanaryLen   = 256
	maxDescLen     = 4000
	maxToolNameLen = 64
)

// Suite is a parsed and compiled suite. Treat it as read-only: grading its
// cases concurrently is safe.
type Suite struct {
	APIVersion  string   `json:"apiVersion"`
	Kind        string   `json:"kind"`
	ID          string   `json:"id"`
	Description string   `json:"description,omitempty"`
	Dimensions  []string `json:"dimensions,omitzero"`
	OWASP       []string `json:"owasp,omitzero"`
	Cases       []Case   `json:"cases"`
}

// Case is one conversation with the target and the checks its transcript
// must pass. Dimensions and OWASP are the case's own or, when it names none,
// the suite's.
type Case struct {
	ID          string   `json:"id"`
	Description string   `json:"description,omitempty"`
	Dimensions  []string `json:"dimensions"`
	OWASP       []string `json:"owasp,omitzero"`
	// Lookalike marks a benign look-alike of a harmful request: it must be
	// answered, not refused.
	Lookalike bool `json:"lookalike,omitempty"`
	// Group names a set of paraphrases that must agree.
	Group  string  `json:"group,omitempty"`
	Setup  Setup   `json:"setup"`
	Checks []Check `json:"checks"`
	// Attack checks pass when an injected goal happened; Utility checks pass
	// when the user's task still got done.
	Attack  []Check `json:"attack,omitzero"`
	Utility []Check `json:"utility,omitzero"`

	canaries *canaryMatcher
}

// Setup is what the harness sends: a system prompt, user turns in order,
// the tools offered, and the canary secrets planted in the context.
type Setup struct {
	System   string   `json:"system,omitempty"`
	Turns    []string `json:"turns"`
	Tools    []Tool   `json:"tools,omitzero"`
	Canaries []string `json:"canaries,omitzero"`
}

// Tool is a tool offered to the model, in the OpenAI function-tool shape.
// Parameters is a JSON Schema object; Returns is the JSON value the harness
// answers a call with (a JSON string, or any JSON value), nil for none.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
	Returns     json.RawMessage `json:"returns,omitempty"`
}

// Result is the tool result the harness sends for a call of t: Returns
// itself when it is a string, else its JSON serialization.
func (t *Tool) Result() string {
	if len(t.Returns) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(t.Returns, &s) == nil {
		return s
	}
	return string(t.Returns)
}

// Problem is one problem in a suite or dataset source, at a 1-based line and
// column (0 when unknown), with the field path ("cases[2].checks[0].regex").
type Problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 {
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(":")
		if p.Column > 0 {
			b.WriteString(strconv.Itoa(p.Column))
			b.WriteString(":")
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// LoadError lists every problem found in a source, in source order.
type LoadError struct {
	Problems []Problem
}

func (e *LoadError) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

// Unwrap makes errors.Is(err, probity.ErrInvalid) true.
func (e *LoadError) Unwrap() error { return probity.ErrInvalid }

// LoadSuiteFile reads and parses the suite at path.
func LoadSuiteFile(path string) (*Suite, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading suite: %w", err)
	}
	return ParseSuite(filepath.Base(path), src)
}

//go:embed suites
var builtin embed.FS

// Builtin parses the suites embedded in the binary (internal/eval/suites),
// in file name order. Each file's suite id must be its file name.
func Builtin() ([]*Suite, error) {
	return loadFS(builtin, "suites")
}

func loadFS(fsys fs.FS, dir string) ([]*Suite, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading built-in suites: %w", err)
	}
	var (
		out  []*Suite
		errs []error
		ids  = map[string]string{}
	)
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".json") {
			continue
		}
		src, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("reading built-in suite: %w", err))
			continue
		}
		s, err := ParseSuite(e.Name(), src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if want := strings.TrimSuffix(e.Name(), ext); s.ID != want {
			errs = append(errs, fmt.Errorf("%s: suite id %q is not the file name %q", e.Name(), s.ID, want))
			continue
		}
		if prev, ok := ids[s.ID]; ok {
			errs = append(errs, fmt.Errorf("%s: suite id %q is already used by %s", e.Name(), s.ID, prev))
			continue
		}
		ids[s.ID] = e.Name()
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// detector returns d, or a Detector without canaries when d is nil.
func detector(d *detect.Detector) *detect.Detector {
	if d != nil {
		return d
	}
	d, _ = detect.New(detect.Options{})
	return d
}
