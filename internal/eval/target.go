package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A Target plays one case's conversation with an agent and returns the
// transcript. An error means the case could not be run (the endpoint timed
// out, failed or answered garbage): it is graded as an error, never a pass.
type Target interface {
	Run(ctx context.Context, c *Case) (*Transcript, error)
}

// ErrTarget wraps every failure of a target to answer.
var ErrTarget = errors.New("target failed")

// OpenAIConfig configures an OpenAI-compatible chat-completions target.
type OpenAIConfig struct {
	URL      string // base URL up to /v1, e.g. http://127.0.0.1:7420/v1; /chat/completions is appended
	Model    string
	APIKey   string        // sent as a bearer token when set; the caller reads it from the environment
	Timeout  time.Duration // per model call; default 60s
	Retries  int           // on 429, 5xx and network errors; default 3 (negative: none)
	MaxCalls int           // model calls per user turn, the tool loop's bound; default 8
	Client   *http.Client  // default: a client of its own
}

// OpenAI is a target speaking the OpenAI chat-completions protocol with
// tools. The harness plays the tools: each call is answered with the
// case's fixture for that tool.
//
// Hand-written over net/http rather than an SDK: the harness needs the raw
// tool-call arguments exactly as the model sent them (they may not be
// valid JSON, which is itself evidence), the model version the endpoint
// reports, and its own retry policy (backoff with full jitter, Retry-After)
// — about 200 lines of a small, stable wire format.
type OpenAI struct {
	cfg OpenAIConfig
	hc  *http.Client
}

// NewOpenAI returns a target for cfg with its defaults filled in.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("target url %q: want an http:// or https:// base URL such as https://api.example.com/v1", cfg.URL)
	}
	if cfg.Model == "" {
		return nil, errors.New("target model: required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = 8
	}
	hc := cfg.Client
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}
	}
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	return &OpenAI{cfg: cfg, hc: hc}, nil
}

// Wire types: only the fields the harness sends or reads.
type (
	chatRequest struct {
		Model       string        `json:"model"`
		Messages    []chatMessage `json:"messages"`
		Tools       []chatTool    `json:"tools,omitempty"`
		Temperature float64       `json:"temperature"`
	}
	chatMessage struct {
		Role       string         `json:"role"`
		Content    *string        `json:"content"`
		ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
		ToolCallID string         `json:"tool_call_id,omitempty"`
	}
	chatToolCall struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	}
	chatTool struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description,omitempty"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
	chatResponse struct {
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Content   json.RawMessage `json:"content"`
				ToolCalls []chatToolCall  `json:"tool_calls"`
			} `json:"message"`
		} `json:"choices"`
	}
)

// Run plays c: the system prompt and each user turn, answering tool calls
// from the fixtures until the model answers without calling a tool (or
// MaxCalls model calls for that turn).
func (o *OpenAI) Run(ctx context.Context, c *Case) (*Transcript, error) {
	t := &Transcript{}
	var msgs []chatMessage
	if c.Setup.System != "" {
		msgs = append(msgs, chatMessage{Role: "system", Content: ptr(c.Setup.System)})
		t.Messages = append(t.Messages, Message{Role: "system", Content: c.Setup.System})
	}
	tools := make([]chatTool, len(c.Setup.Tools))
	for i, tl := range c.Setup.Tools {
		tools[i].Type = "function"
		tools[i].Function.Name, tools[i].Function.Description, tools[i].Function.Parameters = tl.Name, tl.Description, tl.Parameters
	}
	for _, turn := range c.Setup.Turns {
		msgs = append(msgs, chatMessage{Role: "user", Content: ptr(turn)})
		t.Messages = append(t.Messages, Message{Role: "user", Content: turn})
		for range o.cfg.MaxCalls {
			resp, err := o.complete(ctx, chatRequest{Model: o.cfg.Model, Messages: msgs, Tools: tools}, t)
			if err != nil {
				return t, err
			}
			m := resp.Choices[0].Message
			content, err := messageText(m.Content)
			if err != nil {
				return t, fmt.Errorf("%w: the answer's content: %v", ErrTarget, err)
			}
			am := chatMessage{Role: "assistant", ToolCalls: m.ToolCalls}
			if content != "" || len(m.ToolCalls) == 0 {
				am.Content = ptr(content)
			}
			msgs = append(msgs, am)
			tm := Message{Role: "assistant", Content: content}
			for _, tc := range m.ToolCalls {
				call := ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: rawArgs(tc.Function.Arguments)}
				tm.ToolCalls = append(tm.ToolCalls, call)
			}
			t.Messages = append(t.Messages, tm)
			if len(m.ToolCalls) == 0 {
				break
			}
			for _, call := range tm.ToolCalls {
				result := `{"error":"unknown tool"}`
				if tl := c.tool(call.Name); tl != nil {
					result = tl.Result()
				}
				t.ToolCalls = append(t.ToolCalls, call)
				t.ToolResults = append(t.ToolResults, ToolResult{CallID: call.ID, Name: call.Name, Content: result})
				msgs = append(msgs, chatMessage{Role: "tool", Content: ptr(result), ToolCallID: call.ID})
				t.Messages = append(t.Messages, Message{Role: "tool", Content: result, ToolCallID: call.ID})
			}
		}
	}
	t.JoinOutput()
	return t, nil
}

func (c *Case) tool(name string) *Tool {
	for i := range c.Setup.Tools {
		if c.Setup.Tools[i].Name == name {
			return &c.Setup.Tools[i]
		}
	}
	return nil
}

func ptr(s string) *string { return &s }

// rawArgs keeps the model's arguments as sent: JSON when they are JSON, a
// JSON string holding them otherwise.
func rawArgs(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

// messageText reads content that is a string, null, or an array of text parts.
func messageText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("neither a string nor an array of parts")
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// maxResponse bounds one model answer.
const maxResponse = 8 << 20

// complete sends one chat completion, retrying on 429, 5xx and network
// errors with exponential backoff and full jitter (or Retry-After), and
// adds its latency and the reported model to t.
func (o *OpenAI) complete(ctx context.Context, req chatRequest, t *Transcript) (*chatResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; ; attempt++ {
		resp, retryAfter, err := o.once(ctx, body, t)
		if err == nil {
			return resp, nil
		}
		last = err
		var re retryable
		if !errors.As(err, &re) || attempt >= max(o.cfg.Retries, 0) || ctx.Err() != nil {
			return nil, last
		}
		wait := retryAfter
		if wait <= 0 {
			// Full jitter: uniform in [0, 250ms·2^attempt], at most 10 s.
			wait = time.Duration(rand.Int64N(int64(min(250*time.Millisecond<<attempt, 10*time.Second)) + 1))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v (while waiting to retry: %v)", ErrTarget, last, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// retryable marks an error worth another attempt.
type retryable struct{ error }

func (r retryable) Unwrap() error { return r.error }

func (o *OpenAI) once(ctx context.Context, body []byte, t *Transcript) (*chatResponse, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.URL+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrTarget, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if o.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.cfg.APIKey)
	}
	start := time.Now()
	resp, err := o.hc.Do(req)
	if err != nil {
		return nil, 0, retryable{fmt.Errorf("%w: %v", ErrTarget, redactURLError(err))}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	t.LatencyMs += float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		return nil, 0, retryable{fmt.Errorf("%w: reading the answer: %v", ErrTarget, err)}
	}
	if len(data) > maxResponse {
		return nil, 0, fmt.Errorf("%w: the answer is larger than %d bytes", ErrTarget, maxResponse)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		var after time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			after = min(time.Duration(s)*time.Second, time.Minute)
		}
		return nil, after, retryable{fmt.Errorf("%w: status %d: %s", ErrTarget, resp.StatusCode, snippet(data))}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("%w: status %d: %s", ErrTarget, resp.StatusCode, snippet(data))
	}
	var cr chatResponse
	if err := json.Unmarshal(data, &cr); err != nil {
		return nil, 0, fmt.Errorf("%w: the answer is not a chat completion: %v", ErrTarget, err)
	}
	if len(cr.Choices) == 0 {
		return nil, 0, fmt.Errorf("%w: the answer has no choices", ErrTarget)
	}
	if cr.Model != "" {
		t.ModelVersion = cr.Model
	}
	return &cr, 0, nil
}

// snippet quotes the start of an answer for an error message.
func snippet(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return strconv.Quote(string(b))
}

// redactURLError drops the query and user info from the URL a transport
// error quotes: an endpoint may carry a key there, and errors are stored
// with results and shown in runs.
func redactURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if u, perr := url.Parse(ue.URL); perr == nil {
		u.RawQuery, u.User, u.Fragment = "", nil, ""
		return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
	}
	return ue.Err
}
