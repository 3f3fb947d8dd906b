package testbed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// chatRequest is the part of an OpenAI chat-completions request the agents
// read; other fields are ignored, as OpenAI does with fields it does not use.
type chatRequest struct {
	Model      string          `json:"model"`
	Messages   []chatMessage   `json:"messages"`
	Tools      []chatTool      `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
	Stream     bool            `json:"stream"`

	toolChoice toolChoice // set by validate
}

type chatMessage struct {
	Role       string     `json:"role"`
	Content    content    `json:"content"`
	ToolCalls  []toolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// content is a message's content: a string, null, or an array of parts of
// which the text parts are read.
type content string

func (c *content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*c = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = content(s)
		return nil
	case len(b) > 0 && b[0] == '[':
		var parts []struct {
			Type string  `json:"type"`
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(b, &parts); err != nil {
			return err
		}
		var sb strings.Builder
		for i, p := range parts {
			switch p.Type {
			case "text", "input_text", "output_text":
				if p.Text == nil {
					return fmt.Errorf("content[%d]: a text part needs text", i)
				}
				if sb.Len() > 0 {
					sb.WriteByte('\n')
				}
				sb.WriteString(*p.Text)
			case "image_url", "input_audio", "file", "refusal":
			default:
				return fmt.Errorf("content[%d]: unknown part type %q", i, p.Type)
			}
		}
		*c = content(sb.String())
		return nil
	}
	return errors.New("content must be a string, null or an array of content parts")
}

type toolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function functionCall `json:"function"`
}

type functionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// toolChoice is the request's tool_choice: "" (auto), "none", "required",
// or the name of the function that must be called.
type toolChoice struct {
	mode, name string
}

type chatResponse struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	SystemFingerprint string   `json:"system_fingerprint"`
	Choices           []choice `json:"choices"`
	Usage             usage    `json:"usage"`
}

type choice struct {
	Index        int         `json:"index"`
	Message      respMessage `json:"message"`
	Logprobs     *struct{}   `json:"logprobs"`
	FinishReason string      `json:"finish_reason"`
}

type respMessage struct {
	Role      string     `json:"role"`
	Content   *string    `json:"content"`
	Refusal   *string    `json:"refusal"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type validationError struct{ param, code, msg string }

func (e *validationError) Error() string { return e.param + ": " + e.msg }

func invalid(param, format string, args ...any) error {
	return &validationError{param: param, code: "invalid_value", msg: fmt.Sprintf(format, args...)}
}

var functionName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// validate checks what OpenAI checks before running a model.
func (r *chatRequest) validate() error {
	if r.Model == "" {
		return &validationError{param: "model", code: "missing_required_parameter", msg: "you must provide a model parameter"}
	}
	if len(r.Messages) == 0 {
		return &validationError{param: "messages", code: "missing_required_parameter", msg: "[] is too short - 'messages'"}
	}
	if r.Stream {
		return invalid("stream", "the testbed does not stream; send stream: false")
	}
	for i, m := range r.Messages {
		p := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer", "user":
			if len(m.ToolCalls) > 0 {
				return invalid(p+".tool_calls", "only assistant messages may have tool_calls")
			}
		case "assistant":
			for j, tc := range m.ToolCalls {
				if tc.Type != "" && tc.Type != "function" {
					return invalid(fmt.Sprintf("%s.tool_calls[%d].type", p, j), "tool call type must be 'function', got %q", tc.Type)
				}
				if tc.ID == "" || tc.Function.Name == "" {
					return invalid(fmt.Sprintf("%s.tool_calls[%d]", p, j), "a tool call needs an id and a function name")
				}
			}
		case "tool":
			if m.ToolCallID == "" {
				return &validationError{param: p + ".tool_call_id", code: "missing_required_parameter", msg: "a tool message needs tool_call_id"}
			}
		case "":
			return &validationError{param: p + ".role", code: "missing_required_parameter", msg: "a message needs a role"}
		default:
			return invalid(p+".role", "%q is not one of 'system', 'developer', 'user', 'assistant', 'tool'", m.Role)
		}
	}
	for i, t := range r.Tools {
		p := fmt.Sprintf("tools[%d]", i)
		if t.Type != "function" {
			return invalid(p+".type", "tool type must be 'function', got %q", t.Type)
		}
		if !functionName.MatchString(t.Function.Name) {
			return invalid(p+".function.name", "%q does not match '^[a-zA-Z0-9_-]{1,64}$'", t.Function.Name)
		}
		if len(t.Function.Parameters) > 0 && !bytes.Equal(bytes.TrimSpace(t.Function.Parameters), []byte("null")) {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(t.Function.Parameters, &obj); err != nil {
				return invalid(p+".function.parameters", "parameters must be a JSON Schema object")
			}
		}
	}
	tc := bytes.TrimSpace(r.ToolChoice)
	if len(tc) == 0 || bytes.Equal(tc, []byte("null")) {
		return nil
	}
	var mode string
	if json.Unmarshal(tc, &mode) == nil {
		switch mode {
		case "auto":
		case "none", "required":
			r.toolChoice.mode = mode
		default:
			return invalid("tool_choice", "%q is not one of 'none', 'auto', 'required'", mode)
		}
		if mode == "required" && len(r.Tools) == 0 {
			return invalid("tool_choice", "tool_choice 'required' needs tools")
		}
		return nil
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(tc, &named); err != nil || named.Type != "function" || named.Function.Name == "" {
		return invalid("tool_choice", "tool_choice must be a string or {\"type\":\"function\",\"function\":{\"name\":…}}")
	}
	for _, t := range r.Tools {
		if t.Function.Name == named.Function.Name {
			r.toolChoice = toolChoice{mode: "function", name: named.Function.Name}
			return nil
		}
	}
	return invalid("tool_choice", "tool_choice names %q, which is not among the tools", named.Function.Name)
}
