package detect

import (
	"regexp"
	"strings"
)

// emailAt reports the address around the '@' at i in low, if any: a local
// part of [a-z0-9._%+-] and a dotted domain with an alphabetic TLD.
func emailAt(low string, i int) (int, int, bool) {
	st := i
	for st > 0 && i-st < 64 && (isAlnum(low[st-1]) || strings.IndexByte("._%+-", low[st-1]) >= 0) {
		st--
	}
	en, lastDot := i+1, -1
	for en < len(low) && en-i < 255 && (isAlnum(low[en]) || low[en] == '-' || low[en] == '.') {
		if low[en] == '.' {
			lastDot = en
		}
		en++
	}
	// Drop a trailing dot or hyphen (end of sentence).
	for en > i+1 && (low[en-1] == '.' || low[en-1] == '-') {
		en--
		if lastDot >= en {
			lastDot = strings.LastIndexByte(low[i:en], '.')
			if lastDot >= 0 {
				lastDot += i
			}
		}
	}
	if st == i || lastDot < i+2 || en-lastDot-1 < 2 || en-lastDot-1 > 24 {
		return 0, 0, false
	}
	for k := lastDot + 1; k < en; k++ {
		if low[k] < 'a' || low[k] > 'z' {
			return 0, 0, false
		}
	}
	if !emailOK(low, []int{st, en}) {
		return 0, 0, false
	}
	return st, en, true
}

func scanEmails(s scan) []Finding {
	var out []Finding
	for off := 0; ; {
		i := strings.IndexByte(s.low[off:], '@')
		if i < 0 {
			return out
		}
		i += off
		off = i + 1
		if st, en, ok := emailAt(s.low, i); ok {
			out = append(out, s.finding(PII, "pii.email", st, en))
			off = en
		}
	}
}

// emailOK rejects RFC 2606 reserved domains (not anyone's address),
// image-density suffixes such as logo@2x.png and git@host remotes.
func emailOK(hay string, m []int) bool {
	e := hay[m[0]:m[1]]
	local, domain, _ := strings.Cut(e, "@")
	if local == "" || local[0] == '.' || local == "git" || (m[0] > 0 && hay[m[0]-1] == '/') {
		return false
	}
	tld := domain[strings.LastIndexByte(domain, '.')+1:]
	switch tld {
	case "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css", "js", "json", "html", "txt", "pdf", "zip", "gz", "tar", "test", "invalid", "localhost", "example", "local", "internal", "tld":
		return false
	}
	for _, r := range []string{"example.com", "example.org", "example.net"} {
		if domain == r || strings.HasSuffix(domain, "."+r) {
			return false
		}
	}
	return true
}

// scanPII finds e-mail addresses, phone numbers, payment cards, US SSNs,
// IBANs, UK National Insurance numbers and Spanish DNI/NIE numbers. It cannot
// find numbers written without separators where they are ambiguous
// (a bare 10-digit number is not reported as a phone number), names,
// street addresses or dates of birth.
func scanPII(s scan) []Finding {
	out := scanEmails(s)
	out = append(out, digitRuns(s)...)
	out = append(out, upperIDs(s)...)
	return out
}

type group struct{ start, end int } // digits only

func digitRuns(s scan) []Finding {
	t := s.text
	var out []Finding
	for i := 0; i < len(t); {
		c := t[i]
		startOK := isDigit(c) || ((c == '+' || c == '(') && i+1 < len(t) && isDigit(t[i+1]))
		if !startOK || (i > 0 && runBlocked(t, i)) {
			if isDigit(c) || isAlnum(c) {
				for i < len(t) && (isAlnum(t[i]) || t[i] == '_') {
					i++
				}
				continue
			}
			i++
			continue
		}
		var gs []group
		j := i
		if !isDigit(t[j]) {
			j++
		}
		for j < len(t) && len(gs) < 64 {
			k := j
			for k < len(t) && isDigit(t[k]) {
				k++
			}
			gs = append(gs, group{j, k})
			// Up to two separators between digit groups.
			n := 0
			for k+n < len(t) && n < 2 && strings.IndexByte(" -./()", t[k+n]) >= 0 {
				n++
			}
			if n == 0 || k+n >= len(t) || !isDigit(t[k+n]) {
				j = k
				break
			}
			j = k + n
		}
		end := j
		if end < len(t) && (isAlnum(t[end]) || t[end] == '_') {
			if f, ok := dni(s, gs, end); ok {
				out = append(out, f)
			}
			for end < len(t) && (isAlnum(t[end]) || t[end] == '_') {
				end++
			}
			i = end
			continue
		}
		if end+1 < len(t) && (t[end] == '.' || t[end] == '-' || t[end] == '/') && isAlnum(t[end+1]) && !isDigit(t[end+1]) {
			// Followed by ".x" or "-x": part of a version, path or identifier.
			i = end + 1
			continue
		}
		out = append(out, classifyGroups(s, i, gs)...)
		i = end
	}
	return out
}

// runBlocked reports whether a digit run at i continues an identifier,
// version or path ("v1.2", "abc-123", "/2024").
func runBlocked(t string, i int) bool {
	p := t[i-1]
	if isAlnum(p) || p == '_' {
		return true
	}
	if (p == '.' || p == '-' || p == '/' || p == '#') && i >= 2 && (isAlnum(t[i-2]) || p == '#') {
		return true
	}
	return false
}

func classifyGroups(s scan, runStart int, gs []group) []Finding {
	t := s.text
	var out []Finding
	for a := 0; a < len(gs); {
		matched := false
		for b := min(len(gs)-1, a+6); b >= a; b-- {
			st := gs[a].start
			if a == 0 && st > runStart {
				st = runStart // leading '+' or '('
			} else if st > 0 && t[st-1] == '(' {
				st--
			}
			en := gs[b].end
			if en < len(t) && t[en] == ')' {
				en++
			}
			if b+1 < len(gs) && gs[b+1].start-en < 1 {
				continue
			}
			if rule := classifyNumber(t[st:en]); rule != "" {
				out = append(out, s.finding(PII, rule, st, en))
				a = b + 1
				matched = true
				break
			}
		}
		if !matched {
			a++
		}
	}
	return out
}

var (
	ssnRe      = regexp.MustCompile(`^\d{3}-\d{2}-\d{4}$`)
	usPhoneRe  = regexp.MustCompile(`^(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}$`)
	natPhoneRe = regexp.MustCompile(`^(?:0[1-9]\d{0,3}|\(0[1-9]\d{0,3}\))(?:[ .-]\d{2,8}){1,4}$`)
	intlRe     = regexp.MustCompile(`^\+[1-9][0-9]{0,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}$`)
)

func classifyNumber(c string) string {
	var digits []byte
	for i := 0; i < len(c); i++ {
		if isDigit(c[i]) {
			digits = append(digits, c[i])
		}
	}
	d := string(digits)
	switch {
	case ssnRe.MatchString(c):
		if validSSN(d) {
			return "pii.ssn"
		}
		return ""
	case len(d) >= 13 && len(d) <= 19 && c[0] != '+' && c[0] != '(' && cardGrouping(c) && luhn(d) && knownIIN(d):
		if testPANs[d] {
			return ""
		}
		return "pii.card"
	case c[0] == '+' && len(d) >= 8 && len(d) <= 15 && intlRe.MatchString(c):
		return "pii.phone"
	case usPhoneRe.MatchString(c):
		return "pii.phone"
	case natPhoneRe.MatchString(c) && (len(d) == 10 || len(d) == 11) && strings.ContainsAny(c, " .-"):
		return "pii.phone"
	}
	return ""
}

// testPANs are card numbers published by networks and processors for
// testing; they identify no one.
var testPANs = map[string]bool{
	"4111111111111111": true, "4242424242424242": true, "4012888888881881": true, "5555555555554444": true,
	"5105105105105100": true, "378282246310005": true, "371449635398431": true, "6011111111111117": true,
	"3530111333300000": true, "4000056655665556": true, "5200828282828210": true,
}

// validSSN applies the SSA rules: area not 000, 666 or 900–999, group not 00,
// serial not 0000, and not the widely published 078-05-1120 and 219-09-9999.
func validSSN(d string) bool {
	area, grp, serial := d[:3], d[3:5], d[5:]
	if area == "000" || area == "666" || area[0] == '9' || grp == "00" || serial == "0000" {
		return false
	}
	return d != "078051120" && d != "219099999"
}

// cardGrouping accepts 13–19 digits written together, in fours with one
// kind of separator, or in the 4-6-5 / 4-6-4 Amex and Diners layouts.
func cardGrouping(c string) bool {
	sep := byte(0)
	var lens []int
	n := 0
	for i := 0; i < len(c); i++ {
		if isDigit(c[i]) {
			n++
			continue
		}
		if c[i] != ' ' && c[i] != '-' || (sep != 0 && c[i] != sep) || n == 0 {
			return false
		}
		sep = c[i]
		lens = append(lens, n)
		n = 0
	}
	lens = append(lens, n)
	if len(lens) == 1 {
		return true
	}
	if len(lens) == 3 && lens[0] == 4 && lens[1] == 6 && (lens[2] == 5 || lens[2] == 4) {
		return true
	}
	for i, l := range lens {
		if i < len(lens)-1 && l != 4 || i == len(lens)-1 && (l < 1 || l > 4) {
			return false
		}
	}
	return true
}

func luhn(d string) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}

func knownIIN(d string) bool {
	p := func(n int) int {
		v := 0
		for i := 0; i < n; i++ {
			v = v*10 + int(d[i]-'0')
		}
		return v
	}
	l := len(d)
	switch {
	case d[0] == '4':
		return l == 13 || l == 16 || l == 19
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720:
		return l == 16
	case p(2) == 34 || p(2) == 37:
		return l == 15
	case p(4) == 6011, p(3) >= 644 && p(3) <= 649, p(2) == 65:
		return l >= 16
	case p(4) >= 3528 && p(4) <= 3589:
		return l >= 16
	case p(2) == 36 || p(2) == 38, p(3) >= 300 && p(3) <= 305:
		return l >= 14 && l <= 16
	case p(2) == 62:
		return l >= 16
	case p(4) == 5018 || p(4) == 5020 || p(4) == 5038 || p(4) == 6304 || p(4) == 6759 || (p(4) >= 6761 && p(4) <= 6763):
		return true
	}
	return false
}

const dniLetters = "TRWAGMYFPDXBNJZSQVHLCKE"

// dni checks a Spanish DNI: eight digits, an optional hyphen and the mod-23 letter.
func dni(s scan, gs []group, end int) (Finding, bool) {
	t := s.text
	if len(gs) != 1 || gs[0].end-gs[0].start != 8 || gs[0].end != end {
		return Finding{}, false
	}
	k := end
	if k < len(t) && t[k] == '-' {
		k++
	}
	if k >= len(t) || !isUpper(t[k]) || (k+1 < len(t) && (isAlnum(t[k+1]) || t[k+1] == '_')) {
		return Finding{}, false
	}
	n := 0
	for i := gs[0].start; i < end; i++ {
		n = n*10 + int(t[i]-'0')
	}
	if dniLetters[n%23] != t[k] {
		return Finding{}, false
	}
	return s.finding(PII, "pii.national_id", gs[0].start, k+1), true
}

var (
	ibanRe = regexp.MustCompile(`^[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?`)
	ninoRe = regexp.MustCompile(`^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?(?:\d{6}|\d{2} \d{2} \d{2}) ?[A-D]`)
	nieRe  = regexp.MustCompile(`^[XYZ]-?\d{7}-?[A-Z]`)
)

// ibanLen holds the lengths of common IBAN countries; others need 15–34.
var ibanLen = map[string]int{
	"AT": 20, "BE": 16, "CH": 21, "CZ": 24, "DE": 22, "DK": 18, "ES": 24, "FI": 18, "FR": 27, "GB": 22,
	"GR": 27, "HU": 28, "IE": 22, "IT": 27, "LU": 20, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "SE": 24,
}

// upperIDs finds IBANs (mod-97), UK NINOs (format and prefix rules; they
// have no checksum) and Spanish NIEs (mod-23 letter).
func upperIDs(s scan) []Finding {
	t := s.text
	var out []Finding
	for i := 0; i+8 < len(t); i++ {
		if !isUpper(t[i]) || (i > 0 && (isAlnum(t[i-1]) || t[i-1] == '_')) {
			continue
		}
		c1, c2 := t[i+1], t[i+2]
		if !(isUpper(c1) && (isDigit(c2) || c2 == ' ')) && !(t[i] >= 'X' && t[i] <= 'Z' && (isDigit(c1) || c1 == '-')) {
			continue
		}
		w := t[i:min(len(t), i+48)]
		if m := ibanRe.FindString(w); m != "" && boundaryAt(t, i+len(m)) && validIBAN(m) {
			out = append(out, s.finding(PII, "pii.iban", i, i+len(m)))
			i += len(m)
			continue
		}
		if m := ninoRe.FindString(w); m != "" && boundaryAt(t, i+len(m)) {
			switch m[:2] {
			case "BG", "GB", "NK", "KN", "TN", "NT", "ZZ":
			default:
				out = append(out, s.finding(PII, "pii.national_id", i, i+len(m)))
				i += len(m)
				continue
			}
		}
		if m := nieRe.FindString(w); m != "" && boundaryAt(t, i+len(m)) {
			ds := strings.ReplaceAll(m[:len(m)-1], "-", "")
			n := int(ds[0] - 'X') // X=0, Y=1, Z=2
			for _, c := range ds[1:] {
				n = n*10 + int(c-'0')
			}
			if dniLetters[n%23] == m[len(m)-1] {
				out = append(out, s.finding(PII, "pii.national_id", i, i+len(m)))
				i += len(m)
			}
		}
	}
	return out
}

func boundaryAt(t string, i int) bool {
	return i >= len(t) || !(isAlnum(t[i]) || t[i] == '_')
}

func validIBAN(m string) bool {
	v := strings.ReplaceAll(m, " ", "")
	if want, ok := ibanLen[v[:2]]; ok && len(v) != want || len(v) < 15 || len(v) > 34 {
		return false
	}
	rem := 0
	for _, c := range v[4:] + v[:4] {
		switch {
		case '0' <= c && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		default:
			rem = (rem*100 + int(c-'A'+10)) % 97
		}
	}
	return rem == 1
}
