// Package anchor is the promptfoo anchor's workload (docs/benchmarks.md):
// a deterministic set of single-turn cases, written both as a Probity suite
// and as a promptfoo config with equivalent assertions, and the local agent
// both tools run them against.
//
// The agent echoes its input with a fixed sentence, so that a case's
// expected text is in the answer and nothing but the runners' own cost is
// measured. One case in ten expects a sentence the agent never says: both
// tools must fail exactly those.
package anchor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Case is one single-turn case: the input, a text the answer must contain
// and one it must not (both compared ignoring case).
type Case struct {
	ID          string
	Input       string
	Contains    string
	NotContains string
}

// Reply is the fixed sentence the agent adds to every answer.
const Reply = "Thank you, your request has been logged and a specialist will follow up shortly."

var (
	cities = []string{"Lisbon", "Oslo", "Nairobi", "Osaka", "Lima", "Quebec", "Tunis", "Hanoi", "Perth", "Dakar"}
	topics = []string{"a late delivery", "a damaged parcel", "an address change", "a duplicate charge", "a missing invoice"}
)

// Cases returns n cases, the same every time. Case i passes on the agent
// unless i%10 == 9.
func Cases(n int) []Case {
	out := make([]Case, n)
	for i := range out {
		code := fmt.Sprintf("ORD-%05d-%c%c", (i*7919+13)%100000, 'A'+i%26, 'A'+(i/26)%26)
		c := Case{
			ID:          fmt.Sprintf("c-%03d", i),
			Input:       fmt.Sprintf("Ticket %d from %s about %s: please confirm order code %s.", i, cities[i%len(cities)], topics[i%len(topics)], code),
			Contains:    strings.ToLower(code), // the checks ignore case
			NotContains: "internal error",
		}
		if i%10 == 9 {
			c.Contains = "your refund has been approved"
		}
		out[i] = c
	}
	return out
}

// q quotes s as a JSON string, which is also a YAML double-quoted scalar.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// SuiteYAML writes cases as a Probity suite.
func SuiteYAML(cases []Case) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: probity/v1\nkind: Suite\nid: promptfoo-anchor\n")
	b.WriteString("description: Single-turn cases with contains and not_contains checks, mirrored in a promptfoo config.\n")
	b.WriteString("dimensions: [accuracy]\ncases:\n")
	for _, c := range cases {
		fmt.Fprintf(&b, "  - id: %s\n    setup:\n      turns: [%s]\n    checks:\n      - contains: %s\n      - not_contains: %s\n",
			c.ID, q(c.Input), q(c.Contains), q(c.NotContains))
	}
	return []byte(b.String())
}

// PromptfooYAML writes cases as a promptfoo config whose http provider
// posts {"input": prompt} to url and reads the answer's output field.
func PromptfooYAML(cases []Case, url string) []byte {
	var b strings.Builder
	b.WriteString("description: Probity anchor, single-turn cases with icontains and not-icontains\n")
	b.WriteString("prompts:\n  - '{{input}}'\n")
	fmt.Fprintf(&b, "providers:\n  - id: http\n    config:\n      url: %s\n      method: POST\n", q(url))
	b.WriteString("      headers: {Content-Type: application/json}\n")
	b.WriteString("      body: {input: '{{prompt}}'}\n")
	b.WriteString("      transformResponse: json.output\n")
	b.WriteString("tests:\n")
	for _, c := range cases {
		fmt.Fprintf(&b, "  - description: %s\n    vars: {input: %s}\n    assert:\n      - type: icontains\n        value: %s\n      - type: not-icontains\n        value: %s\n",
			c.ID, q(c.Input), q(c.Contains), q(c.NotContains))
	}
	return []byte(b.String())
}

// Agent is the local target: POST /chat with {"input": "…"} answers
// {"output": "You said: … <Reply>"}. It also counts what it served: GET
// /stats reports the requests since the last POST /stats/reset and the
// time from the first request's arrival to the last answer, the window in
// which a runner did its work, without its start-up and shut-down.
type Agent struct {
	mu          sync.Mutex
	n           int
	first, last time.Time
}

// Stats is what GET /stats answers.
type Stats struct {
	Requests      int     `json:"requests"`
	WindowSeconds float64 `json:"windowSeconds"` // first request in to last answer out
}

// Handler serves the agent's routes.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /chat", a.chat)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a.Stats())
	})
	mux.HandleFunc("POST /stats/reset", func(w http.ResponseWriter, _ *http.Request) {
		a.mu.Lock()
		a.n, a.first, a.last = 0, time.Time{}, time.Time{}
		a.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// Stats returns the requests served since the last reset and their window.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Stats{Requests: a.n, WindowSeconds: a.last.Sub(a.first).Seconds()}
}

func (a *Agent) chat(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req struct {
		Input string `json:"input"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, `{"error":"want {\"input\": \"…\"}"}`, http.StatusBadRequest)
		return
	}
	out, _ := json.Marshal(struct {
		Output string `json:"output"`
	}{"You said: " + req.Input + " " + Reply})
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
	end := time.Now()
	a.mu.Lock()
	a.n++
	if a.first.IsZero() || start.Before(a.first) {
		a.first = start
	}
	if end.After(a.last) {
		a.last = end
	}
	a.mu.Unlock()
}
