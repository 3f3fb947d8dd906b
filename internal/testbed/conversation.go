package testbed

import (
	"encoding/json"
	"strings"
)

// conversation is what an agent reads from a request: the system prompt,
// the user turns, the offered tools and what happened since the latest user
// turn.
type conversation struct {
	system  string   // system and developer messages, joined
	users   []string // user turns in order
	latest  string   // the latest user turn
	tools   []tool   // offered tools
	calls   []call   // tool calls made since the latest user turn
	results []result // tool results since the latest user turn
	context []string // every tool result of the conversation
	rounds  int      // assistant tool-call messages since the latest user turn

	promptTokens int
}

type call struct {
	name string
	args map[string]any
}

type result struct {
	tool, content string
}

// tool is an offered function with its parameters read from the JSON schema.
type tool struct {
	name, desc string
	words      []string // words of the name and description, lowered
	nameWords  []string
	params     []param
}

type param struct {
	name, typ, desc string
	enum            []string
	required        bool
}

func newConversation(r *chatRequest) *conversation {
	c := &conversation{}
	var system []string
	last := -1
	for i, m := range r.Messages {
		if m.Role == "user" {
			last = i
		}
	}
	names := map[string]string{} // tool_call_id → function name
	for i, m := range r.Messages {
		text := string(m.Content)
		c.promptTokens += 4 + tokens(text)
		switch m.Role {
		case "system", "developer":
			system = append(system, text)
		case "user":
			c.users = append(c.users, text)
		case "assistant":
			for _, tc := range m.ToolCalls {
				names[tc.ID] = tc.Function.Name
				c.promptTokens += tokens(tc.Function.Arguments)
				if i > last {
					var args map[string]any
					json.Unmarshal([]byte(tc.Function.Arguments), &args)
					c.calls = append(c.calls, call{name: tc.Function.Name, args: args})
				}
			}
			if i > last && len(m.ToolCalls) > 0 {
				c.rounds++
			}
		case "tool":
			c.context = append(c.context, text)
			if i > last {
				c.results = append(c.results, result{tool: names[m.ToolCallID], content: text})
			}
		}
	}
	c.system = strings.Join(system, "\n")
	if n := len(c.users); n > 0 {
		c.latest = c.users[n-1]
	}
	for _, t := range r.Tools {
		c.promptTokens += tokens(t.Function.Name) + tokens(t.Function.Description) + tokens(string(t.Function.Parameters))
		c.tools = append(c.tools, newTool(t.Function.Name, t.Function.Description, t.Function.Parameters))
	}
	return c
}

func newTool(name, desc string, schema json.RawMessage) tool {
	t := tool{name: name, desc: desc}
	t.nameWords = nameWords(name)
	t.words = append(append([]string{}, t.nameWords...), words(desc)...)
	var s struct {
		Properties json.RawMessage `json:"properties"`
		Required   []string        `json:"required"`
	}
	if json.Unmarshal(schema, &s) != nil || len(s.Properties) == 0 {
		return t
	}
	// Keep the schema's order of properties: decode token by token.
	dec := json.NewDecoder(strings.NewReader(string(s.Properties)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return t
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return t
		}
		key, _ := tok.(string)
		var p struct {
			Type        any      `json:"type"`
			Description string   `json:"description"`
			Enum        []any    `json:"enum"`
			Items       struct{} `json:"items"`
		}
		if dec.Decode(&p) != nil {
			return t
		}
		pr := param{name: key, desc: p.Description}
		switch ty := p.Type.(type) {
		case string:
			pr.typ = ty
		case []any:
			for _, x := range ty {
				if s, ok := x.(string); ok && s != "null" {
					pr.typ = s
					break
				}
			}
		}
		for _, e := range p.Enum {
			if s, ok := e.(string); ok {
				pr.enum = append(pr.enum, s)
			}
		}
		for _, r := range s.Required {
			if r == key {
				pr.required = true
			}
		}
		t.params = append(t.params, pr)
	}
	return t
}

// offered reports the offered tool called name.
func (c *conversation) offered(name string) (tool, bool) {
	for _, t := range c.tools {
		if t.name == name {
			return t, true
		}
	}
	return tool{}, false
}

// nameWords splits a function name at _, -, . and camelCase humps.
func nameWords(name string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for i, r := range name {
		switch {
		case r == '_' || r == '-' || r == '.' || r == ' ':
			flush()
		case r >= 'A' && r <= 'Z' && i > 0 && len(cur) > 0 && !(cur[len(cur)-1] >= 'A' && cur[len(cur)-1] <= 'Z'):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return out
}
