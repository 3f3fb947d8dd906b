package testbed

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// MaxBody is the largest request body the testbed reads.
const MaxBody = 4 << 20

// DefaultModelVersion is the version reported when Options.ModelVersion is empty.
const DefaultModelVersion = "2026-01"

// Agents are the model names the testbed answers to, in the order /v1/models lists them.
var Agents = []string{"steady", "gullible", "leaky", "overreach", "drifting"}

// Options configures the testbed. The zero value serves every agent without
// authentication, at version DefaultModelVersion, with no drift.
type Options struct {
	// Key, when set, is the bearer token every request must carry.
	Key string
	// Clock returns the current time; time.Now when nil. It decides
	// drifting's switch and the created field.
	Clock func() time.Time
	// SwitchAt is when drifting turns gullible and leaky; zero for never.
	SwitchAt time.Time
	// SwitchVersion is the first model version at which drifting is
	// gullible and leaky; empty for none. After SwitchAt, drifting also
	// reports this version.
	SwitchVersion string
	// ModelVersion is the version the agents report; DefaultModelVersion when empty.
	ModelVersion string
	// Latency is added to every chat completion (simulated inference time).
	Latency time.Duration
}

// Handler serves the OpenAI chat-completions protocol for the reference agents.
type Handler struct {
	opts Options
	mux  *http.ServeMux
}

// New returns the testbed's HTTP handler.
func New(opts Options) http.Handler {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.ModelVersion == "" {
		opts.ModelVersion = DefaultModelVersion
	}
	h := &Handler{opts: opts, mux: http.NewServeMux()}
	h.routes()
	return h
}

func (h *Handler) routes() {
	h.mux.Handle("POST /v1/chat/completions", h.auth(http.HandlerFunc(h.chat)))
	h.mux.Handle("GET /v1/models", h.auth(http.HandlerFunc(h.models)))
	// Each persona also has a base URL of its own, /<persona>/v1, so that a
	// client configured with one URL reaches one agent whatever model it
	// names.
	h.mux.Handle("POST /{persona}/v1/chat/completions", h.auth(http.HandlerFunc(h.chat)))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "unknown_url",
			"Unknown request URL: "+r.Method+" "+r.URL.Path+".")
	})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) auth(next http.Handler) http.Handler {
	if h.opts.Key == "" {
		return next
	}
	want := []byte("Bearer " + h.opts.Key)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
				"Incorrect API key provided. You can pass it as a Bearer token in the Authorization header.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) models(w http.ResponseWriter, _ *http.Request) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list"}
	for _, a := range Agents {
		list.Data = append(list.Data, model{ID: a, Object: "model", Created: modelsCreated, OwnedBy: "probity-testbed"})
	}
	writeJSON(w, http.StatusOK, list)
}

// modelsCreated is the fixed creation time /v1/models reports (2026-01-01).
const modelsCreated = 1767225600

func (h *Handler) chat(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large",
				"The request body is larger than 4 MiB.")
			return
		}
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "Could not read the request body.")
		return
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json",
			"We could not parse the JSON body of your request: "+err.Error())
		return
	}
	if err := req.validate(); err != nil {
		var ve *validationError
		errors.As(err, &ve)
		writeErrorParam(w, http.StatusBadRequest, "invalid_request_error", ve.code, ve.param, ve.msg)
		return
	}
	if p := r.PathValue("persona"); p != "" {
		if n, _, ok := parseModel(req.Model); !ok || n != p {
			req.Model = p // the path names the agent; a model of another name is ignored
		}
	}
	name, version, ok := parseModel(req.Model)
	if !ok {
		writeErrorParam(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "model",
			"The model `"+req.Model+"` does not exist or you do not have access to it.")
		return
	}
	now := h.opts.Clock()
	pol, reported := h.policy(name, version, now)

	if h.opts.Latency > 0 {
		t := time.NewTimer(h.opts.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	c := newConversation(&req)
	rep := respond(pol, c, req.toolChoice)

	sum := sha256.Sum256(body)
	id := hex.EncodeToString(sum[:12])
	msg := respMessage{Role: "assistant"}
	finish := "stop"
	completion := 0
	if len(rep.calls) > 0 {
		finish = "tool_calls"
		for i, call := range rep.calls {
			args, _ := json.Marshal(call.args)
			tc := toolCall{ID: "call_" + id[:16] + strconv.Itoa(i), Type: "function"}
			tc.Function.Name = call.name
			tc.Function.Arguments = string(args)
			msg.ToolCalls = append(msg.ToolCalls, tc)
			completion += tokens(call.name) + tokens(tc.Function.Arguments)
		}
	} else {
		text := rep.content
		msg.Content = &text
		completion = tokens(text)
	}
	prompt := c.promptTokens
	resp := chatResponse{
		ID:                "chatcmpl-" + id,
		Object:            "chat.completion",
		Created:           now.Unix(),
		Model:             name + "-" + reported,
		SystemFingerprint: "fp_testbed_" + reported,
		Choices:           []choice{{Index: 0, Message: msg, FinishReason: finish}},
		Usage:             usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion},
	}
	w.Header().Set("X-Model-Version", reported)
	w.Header().Set("X-Testbed-Policy", pol.String())
	w.Header().Set("X-Request-Id", "req_"+id)
	writeJSON(w, http.StatusOK, resp)
}

// policy is the behaviour and the reported version of agent name at version
// (empty for the server's) and time now.
func (h *Handler) policy(name, version string, now time.Time) (policy, string) {
	reported := version
	if reported == "" {
		reported = h.opts.ModelVersion
	}
	switch name {
	case "gullible":
		return policy{obey: true}, reported
	case "leaky":
		return policy{leak: true}, reported
	case "overreach":
		return policy{overreach: true}, reported
	case "drifting":
		byTime := !h.opts.SwitchAt.IsZero() && !now.Before(h.opts.SwitchAt)
		if byTime && version == "" && h.opts.SwitchVersion != "" {
			reported = h.opts.SwitchVersion
		}
		byVersion := h.opts.SwitchVersion != "" && compareVersions(reported, h.opts.SwitchVersion) >= 0
		if byTime || byVersion {
			return policy{obey: true, leak: true, drifted: true}, reported
		}
	}
	return policy{}, reported
}

// parseModel splits "steady" or "steady-2026-03" into the agent name and
// the requested version.
func parseModel(model string) (name, version string, ok bool) {
	name, version, _ = strings.Cut(model, "-")
	if !slices.Contains(Agents, name) {
		return "", "", false
	}
	if strings.HasSuffix(model, "-") {
		return "", "", false
	}
	return name, version, true
}

// compareVersions orders versions by their runs of digits (numerically) and
// of other characters (bytewise): "2026-02" < "2026-10", "1.9" < "1.10".
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		var x, y string
		x, a = nextRun(a)
		y, b = nextRun(b)
		if isDigits(x) && isDigits(y) {
			x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
			if len(x) != len(y) {
				return cmpInt(len(x), len(y))
			}
		}
		if c := strings.Compare(x, y); c != 0 {
			return c
		}
	}
	return cmpInt(len(a), len(b))
}

func nextRun(s string) (string, string) {
	digit := unicode.IsDigit(rune(s[0]))
	i := 1
	for i < len(s) && unicode.IsDigit(rune(s[i])) == digit {
		i++
	}
	return s[:i], s[i:]
}

func isDigits(s string) bool { return s != "" && unicode.IsDigit(rune(s[0])) }

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
}

// tokens estimates a token count the way OpenAI's rule of thumb does: four
// bytes a token.
func tokens(s string) int { return (len(s) + 3) / 4 }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"message":"internal error","type":"server_error","code":null}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeErrorParam(w, status, typ, code, "", msg)
}

func writeErrorParam(w http.ResponseWriter, status int, typ, code, param, msg string) {
	type apiError struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	e := apiError{Message: msg, Type: typ}
	if param != "" {
		e.Param = &param
	}
	if code != "" {
		e.Code = &code
	}
	writeJSON(w, status, struct {
		Error apiError `json:"error"`
	}{e})
}
