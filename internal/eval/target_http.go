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
	"strconv"
	"strings"
	"time"
)

// HTTPConfig configures a target that is a plain JSON-over-HTTP endpoint.
type HTTPConfig struct {
	URL string // the endpoint; each user turn is POSTed to it
	// Body is the request body: a JSON template holding {{input}} exactly
	// once, inside a JSON string, where the user turn is inserted
	// JSON-escaped. Default {"input":"{{input}}"}.
	Body string
	// Output is a JSON pointer (RFC 6901) to the answer in the response
	// body. Default /output.
	Output  string
	Headers map[string]string // sent with every request; Content-Type defaults to application/json
	Timeout time.Duration     // per request; default 60s
	Retries int               // on 429, 5xx and network errors; default 3 (negative: none)
	Client  *http.Client      // default: a client of its own
}

// The defaults of HTTPConfig.Body and HTTPConfig.Output.
const (
	DefaultHTTPBody   = `{"input":"{{input}}"}`
	DefaultHTTPOutput = "/output"
)

// HTTP is a target for simple agents without tools behind a JSON endpoint:
// each user turn of a case is sent as its own request, without the
// conversation's history or the system prompt, and the answers become the
// transcript's assistant messages. A case that offers tools or plants
// canaries cannot be played this way: running it is an error (ErrTarget),
// never a pass.
type HTTP struct {
	cfg     HTTPConfig
	hc      *http.Client
	prefix  []byte // Body up to {{input}}
	suffix  []byte // Body after {{input}}
	pointer []string
}

const inputPlaceholder = "{{input}}"

// NewHTTP returns a target for cfg with its defaults filled in. It checks
// the body template and the output pointer.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("target url %q: want an http:// or https:// URL such as https://agent.example.com/chat", cfg.URL)
	}
	if cfg.Body == "" {
		cfg.Body = DefaultHTTPBody
	}
	prefix, suffix, err := parseBodyTemplate(cfg.Body)
	if err != nil {
		return nil, fmt.Errorf("target body %q: %w", cfg.Body, err)
	}
	if cfg.Output == "" {
		cfg.Output = DefaultHTTPOutput
	}
	if cfg.Output[0] != '/' {
		return nil, fmt.Errorf("target output %q: want a JSON pointer starting with /, as in /output or /choices/0/text", cfg.Output)
	}
	ptr, err := parsePointer(cfg.Output)
	if err != nil {
		return nil, fmt.Errorf("target output: %w", err)
	}
	for k := range cfg.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			return nil, fmt.Errorf("target header %q: not a header name", k)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	hc := cfg.Client
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}
	}
	return &HTTP{cfg: cfg, hc: hc, prefix: []byte(prefix), suffix: []byte(suffix), pointer: ptr}, nil
}

// parseBodyTemplate splits a body template around its one {{input}}, which
// must sit inside a JSON string of an otherwise valid JSON document.
func parseBodyTemplate(tmpl string) (prefix, suffix string, err error) {
	switch n := strings.Count(tmpl, inputPlaceholder); n {
	case 0:
		return "", "", fmt.Errorf("want %s exactly once, inside a JSON string, as in %s; found none", inputPlaceholder, DefaultHTTPBody)
	case 1:
	default:
		return "", "", fmt.Errorf("want %s exactly once, found it %d times", inputPlaceholder, n)
	}
	prefix, suffix, _ = strings.Cut(tmpl, inputPlaceholder)
	if !insideString(prefix) {
		return "", "", fmt.Errorf("%s must be inside a JSON string, as in %s", inputPlaceholder, DefaultHTTPBody)
	}
	// The probe starts with a letter that is no JSON escape, so that a
	// backslash before the placeholder is caught too. Any escaped input is
	// then valid in its place.
	if probe := prefix + "probe" + suffix; !json.Valid([]byte(probe)) {
		var v any
		err := json.Unmarshal([]byte(probe), &v)
		return "", "", fmt.Errorf("not valid JSON once the input is inserted: %v", err)
	}
	return prefix, suffix, nil
}

// insideString reports whether a JSON text that begins with s ends inside
// a string.
func insideString(s string) bool {
	in, esc := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		}
	}
	return in
}

// Run sends each user turn of c in order and records the answers.
func (h *HTTP) Run(ctx context.Context, c *Case) (*Transcript, error) {
	t := &Transcript{}
	if len(c.Setup.Tools) > 0 {
		return t, fmt.Errorf("%w: the http target sends user turns only and cannot offer the case's %d tools", ErrTarget, len(c.Setup.Tools))
	}
	if len(c.Setup.Canaries) > 0 {
		return t, fmt.Errorf("%w: the http target sends user turns only and cannot plant the case's canaries", ErrTarget)
	}
	for _, turn := range c.Setup.Turns {
		t.Messages = append(t.Messages, Message{Role: "user", Content: turn})
		out, err := h.send(ctx, turn, t)
		if err != nil {
			return t, err
		}
		t.Messages = append(t.Messages, Message{Role: "assistant", Content: out})
	}
	t.JoinOutput()
	return t, nil
}

// body fills the template with input, escaped as a JSON string's content.
func (h *HTTP) body(input string) []byte {
	q, _ := json.Marshal(input) // a string always marshals; <, > and & come out as \u escapes
	b := make([]byte, 0, len(h.prefix)+len(q)+len(h.suffix))
	b = append(b, h.prefix...)
	b = append(b, q[1:len(q)-1]...)
	return append(b, h.suffix...)
}

// send posts one turn, retrying on 429, 5xx and network errors with
// exponential backoff and full jitter (or Retry-After), and adds its
// latency to t.
func (h *HTTP) send(ctx context.Context, input string, t *Transcript) (string, error) {
	body := h.body(input)
	for attempt := 0; ; attempt++ {
		out, retryAfter, err := h.once(ctx, body, t)
		if err == nil {
			return out, nil
		}
		var re retryable
		if !errors.As(err, &re) || attempt >= max(h.cfg.Retries, 0) || ctx.Err() != nil {
			return "", err
		}
		wait := retryAfter
		if wait <= 0 {
			// Full jitter: uniform in [0, 250ms·2^attempt], at most 10 s.
			wait = time.Duration(rand.Int64N(int64(min(250*time.Millisecond<<attempt, 10*time.Second)) + 1))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return "", fmt.Errorf("%w: %v (while waiting to retry: %v)", ErrTarget, err, ctx.Err())
		case <-timer.C:
		}
	}
}

func (h *HTTP) once(ctx context.Context, body []byte, t *Transcript) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrTarget, err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h.cfg.Headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := h.hc.Do(req)
	if err != nil {
		return "", 0, retryable{fmt.Errorf("%w: %v", ErrTarget, redactURLError(err))}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	t.LatencyMs += float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		return "", 0, retryable{fmt.Errorf("%w: reading the answer: %v", ErrTarget, err)}
	}
	if len(data) > maxResponse {
		return "", 0, fmt.Errorf("%w: the answer is larger than %d bytes", ErrTarget, maxResponse)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return "", retryAfter(resp.Header), retryable{fmt.Errorf("%w: status %d: %s", ErrTarget, resp.StatusCode, snippet(data))}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", 0, fmt.Errorf("%w: status %d: %s", ErrTarget, resp.StatusCode, snippet(data))
	}
	out, err := h.output(data)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrTarget, err)
	}
	return out, 0, nil
}

// output reads the answer at the output pointer: a string as it is, any
// other value but null as its JSON text.
func (h *HTTP) output(data []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "", fmt.Errorf("the answer is not JSON: %v: %s", err, snippet(data))
	}
	if _, err := d.Token(); err != io.EOF {
		return "", fmt.Errorf("the answer is not one JSON value: %s", snippet(data))
	}
	v, ok := lookup(v, h.pointer)
	if !ok {
		return "", fmt.Errorf("the answer has nothing at %s: %s", h.cfg.Output, snippet(data))
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case nil:
		return "", fmt.Errorf("the answer is null at %s", h.cfg.Output)
	default:
		b, _ := json.Marshal(x)
		return string(b), nil
	}
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date, at
// most a minute; 0 when absent.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, time.Minute)
	}
	if at, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(at), 0), time.Minute)
	}
	return 0
}
