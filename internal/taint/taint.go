package taint

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
)

// Kind is the kind of a token.
type Kind string

// Token kinds.
const (
	URL     Kind = "url"
	Email   Kind = "email"
	Domain  Kind = "domain"
	Account Kind = "account"
	Text    Kind = "text"
)

// Limits.
const (
	// MaxTokens is the most tokens Extract returns.
	MaxTokens = 128
	// MaxTextTokens is the most text tokens among them.
	MaxTextTokens = 32
	// MinText is the fewest runes a text token has.
	MinText = 24
	// MaxText is the most bytes a text token has.
	MaxText = 256
)

const (
	maxCandidates = 1 << 16 // matches examined per scanner and value
	maxDepth      = 64      // JSON nesting walked before falling back to text
	maxURL        = 2048    // longest url token
)

// Token is one distinctive token of flagged content.
type Token struct {
	Kind  Kind   `json:"kind"`
	Value string `json:"value"`
}

// Extract returns the distinctive tokens of flagged content, deduplicated, in
// a deterministic order, at most MaxTokens.
func Extract(content string) []Token {
	type found struct {
		off int
		tok Token
	}
	var fs []found
	add := func(off int, k Kind, v string) {
		fs = append(fs, found{off, Token{k, v}})
	}
	scanURLs(content, func(off int, u, host string) {
		if u != "" {
			add(off, URL, u)
		}
		if d := registrable(host); d != "" {
			add(off, Domain, d)
		}
	})
	scanEmails(content, func(off int, e, host string) {
		add(off, Email, e)
		if d := registrable(host); d != "" {
			add(off, Domain, d)
		}
	})
	scanBareHosts(content, func(off int, host string) {
		if d := registrable(host); d != "" {
			add(off, Domain, d)
		}
	})
	ibans := scanIBANs(content, func(off int, iban string) { add(off, Account, iban) })
	scanDigitRuns(content, func(r digitRun) {
		for _, sp := range ibans {
			if r.start < sp[1] && sp[0] < r.end {
				return
			}
		}
		for _, a := range r.accounts() {
			add(r.start, Account, a)
		}
	})
	// The strongest kinds first, each in order of appearance, so that
	// padding with weak tokens (reference numbers, domains of ordinary
	// links) cannot push an attacker's address out of the budget.
	slices.SortStableFunc(fs, func(a, b found) int {
		return cmp.Or(cmp.Compare(rank(a.tok), rank(b.tok)), cmp.Compare(a.off, b.off))
	})

	seen := map[Token]bool{}
	var out []Token
	for _, f := range fs {
		if rank(f.tok) > rank(Token{Kind: Text}) {
			break // domains go after text
		}
		if len(out) == MaxTokens {
			return out
		}
		if !seen[f.tok] {
			seen[f.tok] = true
			out = append(out, f.tok)
		}
	}
	texts := 0
	scanSentences(content, func(t string) bool {
		tok := Token{Text, t}
		if !seen[tok] && len(out) < MaxTokens {
			seen[tok] = true
			out = append(out, tok)
			texts++
		}
		return len(out) < MaxTokens && texts < MaxTextTokens
	})
	for _, f := range fs {
		if len(out) == MaxTokens {
			break
		}
		if f.tok.Kind == Domain && !seen[f.tok] {
			seen[f.tok] = true
			out = append(out, f.tok)
		}
	}
	return out
}

// rank orders kinds by how distinctive they are: e-mail addresses, URLs,
// IBANs, other account numbers, text, then domains.
func rank(t Token) int {
	switch t.Kind {
	case Email:
		return 0
	case URL:
		return 1
	case Account:
		if t.Value != "" && !isDigit(t.Value[0]) {
			return 2 // an IBAN
		}
		return 3
	case Text:
		return 4
	}
	return 5
}

// Carried returns the tokens (from tokens, in their order) that the
// tool-call arguments args carry. args is raw JSON or, when not valid JSON,
// plain text.
func Carried(args []byte, tokens []Token) []Token {
	if len(tokens) == 0 {
		return nil
	}
	m := newMatcher(tokens)
	for _, v := range argValues(args) {
		if m.scan(v) {
			break
		}
	}
	var out []Token
	for i, t := range tokens {
		if m.hit[i] {
			out = append(out, t)
		}
	}
	return out
}

// Mentions reports whether text mentions t, under the rules Carried uses.
func Mentions(text string, t Token) bool {
	return len(Carried([]byte(text), []Token{t})) == 1
}

// argValues returns the string and number values of JSON args, or args
// itself when it is not valid JSON or nests deeper than maxDepth.
func argValues(args []byte) []string {
	raw := bytes.TrimSpace(args)
	if len(raw) == 0 {
		return nil
	}
	if !json.Valid(raw) {
		return []string{string(args)}
	}
	type frame struct{ obj, key bool }
	var (
		stack []frame
		vals  []string
	)
	done := func() { // a value ended: the enclosing object expects a key
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].key = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			break // io.EOF; raw is valid, so nothing else
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if len(stack) == maxDepth {
					return []string{string(args)}
				}
				stack = append(stack, frame{obj: v == '{', key: v == '{'})
			default:
				stack = stack[:len(stack)-1]
				done()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].key {
				stack[n-1].key = false
				continue
			}
			vals = append(vals, v)
			done()
		case json.Number:
			vals = append(vals, string(v))
			done()
		default:
			done()
		}
	}
	return vals
}

// matcher finds which tokens values carry.
type matcher struct {
	tokens  []Token
	hit     []bool
	left    int
	urls    []int
	emails  map[string][]int
	domains map[string][]int
	digits  map[string][]int
	ibans   map[string][]int
	texts   []int
}

func newMatcher(tokens []Token) *matcher {
	m := &matcher{
		tokens: tokens, hit: make([]bool, len(tokens)), left: len(tokens),
		emails: map[string][]int{}, domains: map[string][]int{},
		digits: map[string][]int{}, ibans: map[string][]int{},
	}
	for i, t := range tokens {
		switch t.Kind {
		case URL:
			m.urls = append(m.urls, i)
		case Email:
			m.emails[t.Value] = append(m.emails[t.Value], i)
		case Domain:
			m.domains[t.Value] = append(m.domains[t.Value], i)
		case Account:
			if t.Value != "" && isDigit(t.Value[0]) {
				m.digits[t.Value] = append(m.digits[t.Value], i)
			} else {
				m.ibans[t.Value] = append(m.ibans[t.Value], i)
			}
		case Text:
			m.texts = append(m.texts, i)
		default:
			m.left--
		}
	}
	return m
}

func (m *matcher) mark(is []int) {
	for _, i := range is {
		if !m.hit[i] {
			m.hit[i] = true
			m.left--
		}
	}
}

// scan matches one value and reports whether every token is found.
func (m *matcher) scan(v string) bool {
	if len(m.urls) > 0 || len(m.domains) > 0 {
		scanURLs(v, func(_ int, u, host string) {
			for _, i := range m.urls {
				if !m.hit[i] && urlCarries(u, m.tokens[i].Value) {
					m.mark([]int{i})
				}
			}
			m.markDomain(host)
		})
	}
	if len(m.emails) > 0 || len(m.domains) > 0 {
		scanEmails(v, func(_ int, e, host string) {
			m.mark(m.emails[e])
			m.markDomain(host)
		})
	}
	if len(m.domains) > 0 {
		scanBareHosts(v, func(_ int, host string) { m.markDomain(host) })
	}
	if len(m.ibans) > 0 {
		scanIBANs(v, func(_ int, iban string) { m.mark(m.ibans[iban]) })
	}
	if len(m.digits) > 0 {
		scanDigitRuns(v, func(r digitRun) {
			d, b := r.digits, r.bounds
			for x, i := range b {
				for _, j := range b[x+1:] {
					if j-i > maxAccount {
						break
					}
					if j-i >= minAccount {
						m.mark(m.digits[d[i:j]])
					}
				}
			}
		})
	}
	if len(m.texts) > 0 && m.left > 0 {
		n := normText(v)
		long := isLongText(n)
		for _, i := range m.texts {
			t := m.tokens[i].Value
			if !m.hit[i] && t != "" && (strings.Contains(n, t) || long && strings.Contains(t, n)) {
				m.mark([]int{i})
			}
		}
	}
	return m.left == 0
}

func (m *matcher) markDomain(host string) {
	if len(m.domains) == 0 || host == "" {
		return
	}
	if d := registrable(host); d != "" {
		m.mark(m.domains[d])
	}
}

// urlCarries reports whether the normalized argument URL u carries the url
// token t.
func urlCarries(u, t string) bool {
	if t == "" || !strings.HasPrefix(u, t) {
		return false
	}
	if len(u) == len(t) || strings.ContainsRune("/?&=", rune(t[len(t)-1])) {
		return true
	}
	switch u[len(t)] {
	case '/', '?', '#':
		return true
	case '&', ';':
		return strings.Contains(t, "?")
	}
	return false
}
