package taint

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

var (
	urlRE   = regexp.MustCompile(`(?i)(?:https?|ftps?|sftp|wss?)://[^\s\p{Z}\p{Cc}<>"'` + "`" + `{}\[\]|\\^]+`)
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+`)
	hostRE  = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9\-]*(?:\.[A-Za-z0-9][A-Za-z0-9\-]*)+`)
	ibanRE  = regexp.MustCompile(`(?i)\b[a-z]{2}[0-9]{2}(?: ?[a-z0-9]){11,30}\b`)
)

// reserved are RFC 2606 top-level names accepted besides ICANN ones.
var reserved = map[string]bool{"example": true, "test": true, "invalid": true}

// bareBlocked are last labels that are TLDs but, in a bare name, far more
// often a file extension or a member name in code (main.py, user.id).
// Non-TLD extensions (pdf, go, json, txt…) are rejected by the suffix list.
var bareBlocked = map[string]bool{
	"py": true, "md": true, "sh": true, "zip": true, "rs": true, "pl": true,
	"mov": true, "java": true, "so": true, "cc": true, "pub": true,
	"id": true, "name": true, "data": true, "map": true, "run": true,
	"new": true, "page": true, "link": true, "build": true, "app": true,
	"now": true, "click": true, "email": true, "is": true, "in": true,
	"to": true, "it": true, "ms": true,
}

var defaultPort = map[string]string{
	"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21", "ftps": "990", "sftp": "22",
}

// scanURLs calls fn with the offset, normalized form ("" when too long) and
// lowercased host of each URL in s.
func scanURLs(s string, fn func(off int, u, host string)) {
	if !strings.Contains(s, "://") {
		return
	}
	for _, loc := range windowMatches(s, "://", isSchemeByte, isURLByte, urlRE) {
		u, host, ok := normURL(s[loc[0]:loc[1]])
		if !ok {
			continue
		}
		if len(u) > maxURL {
			u = ""
		}
		fn(loc[0], u, host)
	}
}

// normURL normalizes a URL matched by urlRE.
func normURL(s string) (u, host string, ok bool) {
	for s != "" {
		c := s[len(s)-1]
		if strings.IndexByte(".,;:!?'\"*", c) >= 0 ||
			c == ')' && strings.Count(s, ")") > strings.Count(s, "(") {
			s = s[:len(s)-1]
			continue
		}
		break
	}
	i := strings.Index(s, "://")
	if i < 0 {
		return "", "", false
	}
	scheme, rest := strings.ToLower(s[:i]), s[i+3:]
	auth, tail := rest, ""
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		auth, tail = rest[:j], rest[j:]
	}
	if j := strings.IndexByte(tail, '#'); j >= 0 {
		tail = tail[:j]
	}
	if tail == "/" {
		tail = ""
	}
	user := ""
	if j := strings.LastIndexByte(auth, '@'); j >= 0 {
		user, auth = auth[:j+1], auth[j+1:]
	}
	host, port := auth, ""
	if j := strings.LastIndexByte(auth, ':'); j >= 0 {
		host, port = auth[:j], auth[j+1:]
		if port == defaultPort[scheme] {
			port = ""
		}
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return "", "", false
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(user)
	b.WriteString(host)
	if port != "" {
		b.WriteByte(':')
		b.WriteString(port)
	}
	b.WriteString(tail)
	return b.String(), host, true
}

// scanEmails calls fn with the offset, lowercased address and domain of each
// e-mail address in s.
func scanEmails(s string, fn func(off int, e, host string)) {
	if !strings.Contains(s, "@") {
		return
	}
	for _, loc := range windowMatches(s, "@", isLocalByte, isHostByte, emailRE) {
		e := strings.ToLower(strings.TrimLeft(s[loc[0]:loc[1]], "."))
		at := strings.IndexByte(e, '@')
		if at < 1 || at > 64 || !validHost(e[at+1:]) {
			continue
		}
		fn(loc[0], e, e[at+1:])
	}
}

// scanBareHosts calls fn with the offset and lowercased form of each bare
// host name in s (see the package doc for what is rejected).
func scanBareHosts(s string, fn func(off int, host string)) {
	if !strings.Contains(s, ".") {
		return
	}
	for _, loc := range windowMatches(s, ".", isHostByte, isHostByte, hostRE) {
		if loc[0] > 0 && strings.IndexByte("/\\@_.", s[loc[0]-1]) >= 0 || loc[0] > 0 && isWord(s[loc[0]-1]) {
			continue
		}
		if loc[1] < len(s) && (isWord(s[loc[1]]) || s[loc[1]] == '(' || s[loc[1]] == '@') {
			continue
		}
		raw := s[loc[0]:loc[1]]
		h := strings.ToLower(raw)
		if h != raw && !strings.HasPrefix(h, "www.") {
			continue
		}
		if !validHost(h) || bareBlocked[h[strings.LastIndexByte(h, '.')+1:]] {
			continue
		}
		fn(loc[0], h)
	}
}

// validHost reports whether h (lowercase) is a DNS name under an ICANN or
// reserved top-level domain.
func validHost(h string) bool {
	if len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 {
		return false
	}
	if !strings.HasPrefix(tld, "xn--") {
		for i := 0; i < len(tld); i++ {
			if isDigit(tld[i]) || tld[i] == '-' {
				return false
			}
		}
	}
	if reserved[tld] {
		return true
	}
	_, icann := publicsuffix.PublicSuffix(tld)
	return icann
}

// registrable returns the registrable domain of host, or "" when host is not
// a valid name or is itself a public suffix.
func registrable(host string) string {
	host = strings.TrimSuffix(host, ".")
	if !validHost(host) {
		return ""
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return ""
	}
	return d
}

// scanIBANs calls fn with each IBAN in s and returns their byte spans.
func scanIBANs(s string, fn func(off int, iban string)) [][2]int {
	var spans [][2]int
	n := 0
	for i := 0; i+4 <= len(s) && n < maxCandidates; i++ {
		if !isLetter(s[i]) || !isLetter(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || i > 0 && isWord(s[i-1]) {
			continue
		}
		n++
		// An IBAN match is at most 64 bytes; 72 leaves room for \b.
		loc := ibanRE.FindStringIndex(s[i:min(len(s), i+72)])
		if loc == nil || loc[0] != 0 {
			continue
		}
		loc[0], loc[1] = i, i+loc[1]
		m := s[loc[0]:loc[1]]
		// The match may run into the next word: cut at spaces from the right
		// until the mod-97 check passes.
		for end := len(m); end > 0; end = strings.LastIndexByte(m[:end], ' ') {
			c := strings.ToUpper(strings.ReplaceAll(m[:end], " ", ""))
			if len(c) >= 15 && len(c) <= 34 && ibanOK(c) {
				spans = append(spans, [2]int{loc[0], loc[0] + end})
				fn(loc[0], c)
				break
			}
		}
		i = loc[1] - 1
	}
	return spans
}

// ibanOK checks the ISO 13616 mod-97 checksum of an upper-case compact IBAN.
func ibanOK(c string) bool {
	r := 0
	for i := range len(c) {
		ch := c[(i+4)%len(c)]
		switch {
		case isDigit(ch):
			r = (r*10 + int(ch-'0')) % 97
		case ch >= 'A' && ch <= 'Z':
			r = (r*100 + int(ch-'A'+10)) % 97
		default:
			return false
		}
	}
	return r == 1
}

const (
	minAccount = 8
	maxAccount = 34
)

// digitRun is a run of digit groups with single ' ', '-' or '.' between them.
type digitRun struct {
	start, end int
	digits     string // separators removed
	bounds     []int  // offsets in digits where groups start, and len(digits)
	seps       []byte // seps[i] is between group i and i+1
}

func (r digitRun) group(i int) string { return r.digits[r.bounds[i]:r.bounds[i+1]] }

// scanDigitRuns calls fn with each digit run of s that is not glued to a
// letter, digit or underscore. At most maxCandidates runs of 8 or more
// digits are passed.
func scanDigitRuns(s string, fn func(r digitRun)) {
	n := 0
	for i := 0; i < len(s) && n < maxCandidates; {
		if !isDigit(s[i]) {
			i++
			continue
		}
		if i > 0 && isWord(s[i-1]) {
			for i < len(s) && isWord(s[i]) {
				i++
			}
			continue
		}
		r := digitRun{start: i}
		var d []byte
		for {
			r.bounds = append(r.bounds, len(d))
			for i < len(s) && isDigit(s[i]) {
				d = append(d, s[i])
				i++
			}
			if i+1 < len(s) && (s[i] == ' ' || s[i] == '-' || s[i] == '.') && isDigit(s[i+1]) {
				r.seps = append(r.seps, s[i])
				i++
				continue
			}
			break
		}
		r.bounds = append(r.bounds, len(d))
		r.end = i
		if i < len(s) && isWord(s[i]) {
			for i < len(s) && isWord(s[i]) {
				i++
			}
			continue
		}
		if len(d) >= minAccount {
			r.digits = string(d)
			n++
			fn(r)
		}
	}
}

// accounts returns the account numbers of an extracted run: dates are cut
// out, and what remains must have 8 to 34 digits and not read as a decimal,
// an IPv4 address or a number with thousands separators.
func (r digitRun) accounts() []string {
	ng := len(r.bounds) - 1
	var out []string
	from := 0
	flush := func(to int) { // groups [from, to)
		if to <= from {
			return
		}
		if acc := r.account(from, to); acc != "" {
			out = append(out, acc)
		}
	}
	for g := 0; g+2 < ng; g++ {
		if r.isDate(g) {
			flush(g)
			from = g + 3
			g += 2
		}
	}
	flush(ng)
	return out
}

func (r digitRun) isDate(g int) bool {
	if r.seps[g] != r.seps[g+1] || r.seps[g] == ' ' {
		return false
	}
	a, b, c := r.group(g), r.group(g+1), r.group(g+2)
	switch {
	case len(a) == 4 && len(b) == 2 && len(c) == 2:
		return atoi(b) >= 1 && atoi(b) <= 12 && atoi(c) >= 1 && atoi(c) <= 31
	case len(a) == 2 && len(b) == 2 && len(c) == 4:
		return atoi(a) >= 1 && atoi(a) <= 31 && atoi(b) >= 1 && atoi(b) <= 31 && (atoi(a) <= 12 || atoi(b) <= 12)
	}
	return false
}

func (r digitRun) account(from, to int) string {
	d := r.digits[r.bounds[from]:r.bounds[to]]
	if len(d) < minAccount || len(d) > maxAccount {
		return ""
	}
	dots, short, three := 0, 0, true
	for g := from; g < to; g++ {
		if g > from && r.seps[g-1] == '.' {
			dots++
		}
		if len(r.group(g)) <= 3 {
			short++
		}
		if g > from && len(r.group(g)) != 3 {
			three = false
		}
	}
	if dots > 0 {
		ng := to - from
		if ng == 2 || ng == 4 && short == 4 || three && len(r.group(from)) <= 3 {
			return ""
		}
	}
	return d
}

func atoi(s string) int {
	n := 0
	for i := range len(s) {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// scanSentences calls fn with the text token of each line and sentence of s
// that is long enough, until fn returns false. At most maxCandidates
// segments are examined.
func scanSentences(s string, fn func(t string) bool) {
	n := 0
	for start, i := 0, 0; i <= len(s) && n < maxCandidates; i++ {
		end := i == len(s) || s[i] == '\n' || s[i] == '\r' ||
			(s[i] == '.' || s[i] == '!' || s[i] == '?') && (i+1 == len(s) || isSpaceByte(s[i+1]))
		if !end {
			continue
		}
		seg := s[start:i]
		start = i + 1
		if utf8.RuneCountInString(seg) < MinText {
			continue
		}
		n++
		t := normText(seg)
		if !isLongText(t) {
			continue
		}
		if len(t) > MaxText {
			k := MaxText
			for k > 0 && !utf8.RuneStart(t[k]) {
				k--
			}
			t = strings.TrimRight(t[:k], " ")
		}
		if !fn(t) {
			return
		}
	}
}

// normText lowercases s, collapses whitespace runs to one space and trims
// surrounding punctuation, quotes and spaces.
func normText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(unicode.ToLower(r))
	}
	return strings.TrimFunc(b.String(), func(r rune) bool {
		return unicode.IsPunct(r) || unicode.IsSpace(r) || unicode.IsSymbol(r)
	})
}

// isLongText reports whether normalized text has MinText runes and 4 words.
func isLongText(t string) bool {
	return len(t) >= MinText && utf8.RuneCountInString(t) >= MinText && strings.Count(t, " ") >= 3
}

// windowMatches returns the matches of re (with offsets in s) inside the
// windows around each occurrence of sep: the bytes before it that are left
// and after it that are right. Matching only windows keeps the regexp off
// ordinary text; at most maxCandidates windows are examined.
func windowMatches(s, sep string, left, right func(byte) bool, re *regexp.Regexp) [][]int {
	var out [][]int
	for i, n := 0, 0; n < maxCandidates; n++ {
		j := strings.Index(s[i:], sep)
		if j < 0 {
			break
		}
		lo, hi := i+j, i+j+len(sep)
		for lo > i && left(s[lo-1]) {
			lo--
		}
		for hi < len(s) && right(s[hi]) {
			hi++
		}
		for _, loc := range re.FindAllStringIndex(s[lo:hi], maxCandidates) {
			out = append(out, []int{lo + loc[0], lo + loc[1]})
		}
		i = hi
	}
	return out
}

func isSchemeByte(c byte) bool { return isAlnum(c) || c == '+' || c == '.' || c == '-' }

func isURLByte(c byte) bool {
	return c > ' ' && c != 0x7f && strings.IndexByte("<>\"'`{}[]|\\^", c) < 0
}

func isLocalByte(c byte) bool { return isAlnum(c) || strings.IndexByte("._%+-", c) >= 0 }

func isHostByte(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isWord(c byte) bool { return isAlnum(c) || c == '_' }

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
