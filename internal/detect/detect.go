package detect

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind names a family of detectors.
type Kind string

// The detector families. Scan runs all of them when given none.
const (
	Injection Kind = "injection"
	XSS       Kind = "xss"
	SQL       Kind = "sql"
	Shell     Kind = "shell"
	Secrets   Kind = "secrets"
	PII       Kind = "pii"
	Canary    Kind = "canary"
	Refusal   Kind = "refusal"
)

// Kinds lists every Kind in the order Scan reports them.
func Kinds() []Kind {
	return []Kind{Injection, XSS, SQL, Shell, Secrets, PII, Canary, Refusal}
}

// A Finding is one match of one rule.
type Finding struct {
	Kind Kind
	// Rule is "<kind>.<name>", for example "pii.email" or "secrets.aws_access_key".
	Rule string
	// Start and End are byte offsets into the scanned text, text[Start:End] is the match.
	Start, End int
	// Excerpt is short and safe to log: secrets, PII and canaries are redacted,
	// control and invisible characters are escaped.
	Excerpt string
}

// Options configures a Detector.
type Options struct {
	// Canaries are org-configured tokens, matched case-sensitively; each must be
	// at least MinCanaryLen bytes so that it cannot match ordinary text.
	Canaries []string
}

// MinCanaryLen is the shortest canary New accepts.
const MinCanaryLen = 8

// ErrInvalid reports bad Options.
var ErrInvalid = errors.New("invalid detector options")

// A Detector holds compiled canary forms. It is safe for concurrent use.
// The rule tables themselves are compiled once per process and never change.
type Detector struct {
	canaries []canaryForm
}

// New returns a Detector for opts, reporting every bad canary at once.
func New(opts Options) (*Detector, error) {
	var errs []error
	d := &Detector{}
	for i, c := range opts.Canaries {
		if len(c) < MinCanaryLen {
			errs = append(errs, fmt.Errorf("canaries[%d]: shorter than %d bytes", i, MinCanaryLen))
			continue
		}
		d.canaries = append(d.canaries, canaryForms(c)...)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return d, nil
}

// Scan reports the findings of the given kinds (all kinds when none are given),
// ordered by kind, then by Start. It never fails: malformed UTF-8 is scanned
// byte-wise. Its cost is linear in len(text).
func (d *Detector) Scan(text string, kinds ...Kind) []Finding {
	if len(kinds) == 0 {
		kinds = Kinds()
	}
	s := newScan(text)
	var out []Finding
	for _, k := range Kinds() {
		if !slices.Contains(kinds, k) {
			continue
		}
		var fs []Finding
		switch k {
		case Injection:
			fs = scanInjection(s, 0)
		case XSS:
			fs = s.runRules(XSS, xssRules)
		case SQL:
			fs = s.runRules(SQL, sqlRules)
		case Shell:
			fs = s.runRules(Shell, shellRules)
		case Secrets:
			fs = scanSecrets(s)
		case PII:
			fs = scanPII(s)
		case Canary:
			fs = d.scanCanaries(s)
		case Refusal:
			if i, j, ok := refusal(s); ok {
				fs = []Finding{s.finding(Refusal, "refusal.phrase", i, j)}
			}
		}
		out = append(out, mergeFindings(fs)...)
	}
	return out
}

// Refusal reports whether text opens by declining the request. A refusal
// phrase quoted, conditional ("if I can't help") or late in a long answer is
// not a refusal.
func (d *Detector) Refusal(text string) bool {
	_, _, ok := refusal(newScan(text))
	return ok
}

// scan is one text prepared for matching: low is text with ASCII letters
// lowered and curly apostrophes kept byte-for-byte, so offsets agree.
type scan struct {
	text, low string
	hits      [][]hit // anchor occurrences per rule id (see anchorIndex)
}

func newScan(text string) scan {
	s := scan{text: text, low: asciiLower(text)}
	s.hits = anchors.low.find(s.low, anchors.nrules)
	return s
}

// occurrences returns the sorted start offsets of r's anchors in its
// haystack; for raw rules, only those whose case matches.
func (s scan) occurrences(r *rule) []hit {
	h := s.hits[anchors.id[r]]
	if !r.raw {
		return h
	}
	var out []hit
	for _, x := range h {
		if n := anchorLen(s.text, x.start, r); n > 0 {
			out = append(out, hit{x.start, n})
		}
	}
	return out
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// A rule is a regexp run only near occurrences of its anchors, so that text
// without any anchor costs one substring search per anchor. Windows around
// anchors are merged, so each byte is matched at most once per rule.
type rule struct {
	name    string
	anchors []string // lowercase unless raw; nil means the whole text
	back    int      // bytes before an anchor to include
	fwd     int      // bytes after an anchor's start to include
	raw     bool     // match text instead of low
	// near, when set, filters anchor occurrences hay[i:j] cheaply before any
	// window is opened.
	near func(hay string, i, j int) bool
	// start, when set, makes the rule anchored: re (which must begin with ^)
	// is tried once at start(hay, i) for each anchor occurrence i, on at most
	// fwd bytes, instead of searching merged windows. A negative start skips.
	start func(hay string, i int) int
	re    *regexp.Regexp
	// check, when set, vets a match; hay is the whole haystack (text or low)
	// and m holds absolute submatch offsets into it.
	check func(hay string, m []int) bool
}

func (s scan) runRules(k Kind, rules []*rule) []Finding {
	var out []Finding
	for _, r := range rules {
		out = s.runRule(k, r, out)
	}
	return out
}

func (s scan) runRule(k Kind, r *rule, out []Finding) []Finding {
	hay := s.low
	if r.raw {
		hay = s.text
	}
	if r.start != nil {
		return s.runAnchored(k, r, hay, out)
	}
	for _, w := range s.windows(hay, r) {
		win := hay[w[0]:w[1]]
		for _, m := range r.re.FindAllStringSubmatchIndex(win, -1) {
			for i := range m {
				if m[i] >= 0 {
					m[i] += w[0]
				}
			}
			if r.check != nil && !r.check(hay, m) {
				continue
			}
			out = append(out, s.finding(k, r.name, m[0], m[1]))
		}
	}
	return out
}

func (s scan) runAnchored(k Kind, r *rule, hay string, out []Finding) []Finding {
	next := 0 // matches may not overlap: skip anchors inside the last one
	for _, x := range s.occurrences(r) {
		i := x.start
		if i < next || (r.near != nil && !r.near(hay, i, i+x.n)) {
			continue
		}
		st := r.start(hay, i)
		if st < 0 {
			continue
		}
		m := r.re.FindStringSubmatchIndex(hay[st:min(len(hay), st+r.fwd)])
		if m == nil {
			continue
		}
		for j := range m {
			if m[j] >= 0 {
				m[j] += st
			}
		}
		if r.check != nil && !r.check(hay, m) {
			continue
		}
		out = append(out, s.finding(k, r.name, m[0], m[1]))
		next = m[1]
	}
	return out
}

// anchorLen returns the length of the longest anchor of r at hay[i:].
func anchorLen(hay string, i int, r *rule) int {
	n := 0
	for _, a := range r.anchors {
		if len(a) > n && strings.HasPrefix(hay[i:], a) {
			n = len(a)
		}
	}
	return n
}

// atAnchor starts an anchored rule at its anchor.
func atAnchor(_ string, i int) int { return i }

// identStart starts an anchored rule at the beginning of the identifier
// (letters, digits, '_', '.', '-') that contains the anchor, looking back at
// most 40 bytes.
func identStart(hay string, i int) int {
	j := i
	for j > 0 && i-j < 40 && (wordCharAt(hay, j-1) || hay[j-1] == '.' || hay[j-1] == '-') {
		j--
	}
	return j
}

// wordStart accepts anchors that begin a word.
func wordStart(hay string, i, _ int) bool {
	return i == 0 || !(isAlnum(hay[i-1]) || hay[i-1] == '_')
}

func (s scan) windows(hay string, r *rule) [][2]int {
	if r.anchors == nil {
		return [][2]int{{0, len(hay)}}
	}
	var ws [][2]int
	for _, x := range s.occurrences(r) {
		i := x.start
		if r.near != nil && !r.near(hay, i, i+x.n) {
			continue
		}
		w := [2]int{max(0, i-r.back), min(len(hay), i+r.fwd)}
		if n := len(ws); n > 0 && w[0] <= ws[n-1][1] {
			ws[n-1][1] = max(ws[n-1][1], w[1])
			continue
		}
		ws = append(ws, w)
	}
	return ws
}

func (s scan) finding(k Kind, name string, i, j int) Finding {
	return Finding{Kind: k, Rule: name, Start: i, End: j, Excerpt: excerpt(k, s.text[i:j])}
}

// mergeFindings sorts fs by Start and merges overlapping findings of one rule.
func mergeFindings(fs []Finding) []Finding {
	if len(fs) < 2 {
		return fs
	}
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	out := fs[:0]
	for _, f := range fs {
		merged := false
		for i := len(out) - 1; i >= 0 && i >= len(out)-8; i-- {
			if o := &out[i]; o.Rule == f.Rule && f.Start < o.End {
				if f.End > o.End {
					o.End = f.End
				}
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, f)
		}
	}
	return out
}

const maxExcerpt = 80

// excerpt makes a match safe to log.
func excerpt(k Kind, m string) string {
	switch k {
	case Secrets:
		// Keep the first 4 bytes (a type prefix such as "AKIA" or "ghp_"), never more.
		keep := min(4, len(m)/4)
		return escape(m[:keep]) + "…[" + strconv.Itoa(len(m)) + " bytes redacted]"
	case PII, Canary:
		return "[" + strconv.Itoa(len(m)) + " bytes redacted]"
	}
	if len(m) > maxExcerpt {
		cut := maxExcerpt
		for cut > 0 && !utf8.RuneStart(m[cut]) {
			cut--
		}
		return escape(m[:cut]) + "…"
	}
	return escape(m)
}

// escape replaces control, invisible and invalid runes with \u escapes.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case r == ' ' || (unicode.IsGraphic(r) && !unicode.Is(unicode.Cf, r)):
			b.WriteRune(r)
		default:
			b.WriteString(strconv.QuoteRuneToASCII(r)[1 : len(strconv.QuoteRuneToASCII(r))-1])
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool { return byteClass[c]&clAlnum != 0 }

const (
	clAlnum = 1 << iota
	clB64
)

// byteClass holds character classes for the hand-written scanners.
var byteClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if isDigit(b) || isUpper(b) || ('a' <= b && b <= 'z') {
			t[c] |= clAlnum | clB64
		}
		if b == '+' || b == '/' || b == '-' || b == '_' {
			t[c] |= clB64
		}
	}
	return t
}()

// wordCharAt reports whether s[i] exists and is a letter, digit or underscore.
func wordCharAt(s string, i int) bool {
	return i >= 0 && i < len(s) && (isAlnum(s[i]) || s[i] == '_')
}

// after returns hay[j:] with up to 8 leading spaces or tabs (and "sudo ") skipped.
func after(hay string, j int) string {
	k := j
	for k < len(hay) && k-j < 8 && (hay[k] == ' ' || hay[k] == '\t') {
		k++
	}
	rest := hay[k:min(len(hay), k+40)]
	if r, ok := strings.CutPrefix(rest, "sudo "); ok {
		rest = strings.TrimLeft(r, " ")
	}
	return rest
}

// before returns the byte before i, skipping spaces, tabs and closing parens,
// or 0 at the start.
func before(hay string, i int) byte {
	for i > 0 && (hay[i-1] == ' ' || hay[i-1] == '\t' || hay[i-1] == ')') {
		i--
	}
	if i == 0 {
		return 0
	}
	return hay[i-1]
}

// followedBy returns a near filter accepting anchors followed by one of words.
func followedBy(words ...string) func(string, int, int) bool {
	return func(hay string, _, j int) bool {
		rest := after(hay, j)
		for _, w := range words {
			if strings.HasPrefix(rest, w) {
				return true
			}
		}
		return false
	}
}
