package pact

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// domainPattern is an egressDomains entry: a host name ("example.com",
// matching only itself), a wildcard ("*.example.com", matching every
// subdomain but not example.com itself), or an IP address.
type domainPattern struct {
	wildcard bool
	host     string // lowercase, no trailing dot; for a wildcard, the suffix without "*."
}

func (d domainPattern) String() string {
	if d.wildcard {
		return "*." + d.host
	}
	return d.host
}

func parseDomainPattern(s string) (domainPattern, error) {
	h := strings.TrimSuffix(strings.ToLower(s), ".")
	var d domainPattern
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		d.wildcard, h = true, rest
	}
	if net.ParseIP(h) != nil && !d.wildcard {
		d.host = h
		return d, nil
	}
	if !validHost(h) || isDigits(h[strings.LastIndexByte(h, '.')+1:]) {
		return d, fmt.Errorf("%q is not a domain such as example.com or *.example.com, or an IP address", s)
	}
	d.host = h
	return d, nil
}

func (d domainPattern) match(host string) bool {
	if d.wildcard {
		return len(host) > len(d.host)+1 && strings.HasSuffix(host, d.host) && host[len(host)-len(d.host)-1] == '.'
	}
	return host == d.host
}

func (s *Scope) allowedHost(host string) bool {
	for _, d := range s.domains {
		if d.match(host) {
			return true
		}
	}
	return false
}

// validHost reports whether h is a DNS name: dot-separated labels of 1-63
// letters, digits and hyphens, not starting or ending with a hyphen.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for l := range strings.SplitSeq(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

// destination is a host found in tool arguments.
type destination struct {
	host string // lowercase
	from string // "url", "email" or "host"
	path string // where in the arguments: "args.to", "args.items[2]"
}

// maxDestinations bounds the hosts extracted from one call's arguments.
const maxDestinations = 64

// destinations walks the tool arguments (every string value, at any depth,
// and the arguments themselves when they are a string) and returns the
// distinct hosts they name, in order of appearance:
//   - the host of every absolute URL (scheme://host…, and "//host" or
//     "www.host" at a token start);
//   - the domain of every e-mail address (local@domain, including mailto:);
//   - a string value that is, as a whole, a host name with at least two
//     labels and an alphabetic last label that is not a common file
//     extension (report.pdf is a file, not a host), or an IP address.
func (v *vars) destinations() []destination {
	v.parse()
	w := &walker{}
	w.walk(v.argsRaw, 0)
	return w.out
}

// walker collects destinations, keeping the path to the current value as a
// stack of segments joined only when a destination is found.
type walker struct {
	out  []destination
	path []segment
}

// segment is an object key, or a list index when key is "".
type segment struct {
	key string
	idx int
}

func (w *walker) pathString() string {
	b := []byte("args")
	for _, s := range w.path {
		if s.key != "" {
			b = append(append(b, '.'), s.key...)
		} else {
			b = append(strconv.AppendInt(append(b, '['), int64(s.idx), 10), ']')
		}
	}
	return string(b)
}

func (w *walker) add(host, from string) {
	if len(w.out) >= maxDestinations {
		return
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return
	}
	for _, d := range w.out {
		if d.host == host {
			return
		}
	}
	w.out = append(w.out, destination{host, from, w.pathString()})
}

func (w *walker) walk(x any, depth int) {
	if depth > 64 {
		return
	}
	switch x := x.(type) {
	case string:
		w.scan(x)
	case map[string]any:
		var buf [8]string
		keys := buf[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			w.path = append(w.path, segment{key: k})
			w.walk(x[k], depth+1)
			w.path = w.path[:len(w.path)-1]
		}
	case []any:
		for i, e := range x {
			w.path = append(w.path, segment{idx: i})
			w.walk(e, depth+1)
			w.path = w.path[:len(w.path)-1]
		}
	}
}

// fileExts are last labels that make a dotted word a file name, not a host.
var fileExts = map[string]bool{
	"txt": true, "md": true, "json": true, "yaml": true, "yml": true, "csv": true, "pdf": true, "doc": true,
	"docx": true, "xls": true, "xlsx": true, "png": true, "jpg": true, "jpeg": true, "gif": true, "svg": true,
	"html": true, "htm": true, "xml": true, "js": true, "ts": true, "go": true, "py": true, "rb": true,
	"java": true, "sh": true, "zip": true, "gz": true, "tar": true, "log": true, "sql": true, "exe": true,
}

func (w *walker) scan(s string) {
	if !strings.ContainsAny(s, "./@") {
		return
	}
	t := strings.TrimSpace(s)
	if !strings.ContainsAny(t, " \t\n") && !strings.ContainsAny(t, "/@:") {
		if net.ParseIP(t) != nil {
			w.add(t, "host")
			return
		}
		if i := strings.LastIndexByte(t, '.'); i > 0 && validHost(t) {
			tld := strings.ToLower(t[i+1:])
			if isAlpha(tld) && len(tld) >= 2 && !fileExts[tld] {
				w.add(t, "host")
			}
			return
		}
	}
	// URLs: scheme://host and scheme-relative //host.
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "//")
		if j < 0 {
			break
		}
		j += i
		k := j + 2
		end := k
		if k < len(s) && s[k] == '[' { // an IPv6 literal
			if e := strings.IndexByte(s[k:], ']'); e > 0 {
				end = k + e + 1
			}
		}
		for end < len(s) && !strings.ContainsRune("/?#\\ \t\r\n\"'<>()[]{}", rune(s[end])) {
			end++
		}
		// Any host after a scheme or at a word start counts, even one that
		// is not a valid DNS name (exämple.com, my_host.example): it is
		// still a destination, and skipping it would let it through.
		if h := hostOf(s[k:end]); h != "" && (j == 0 || isSpace(s[j-1]) || hasScheme(s[:j])) {
			w.add(h, "url")
		}
		i = end
		if end == k {
			i = k
		}
	}
	// www.host without a scheme.
	for i := 0; i < len(s); {
		j := indexWWW(s[i:])
		if j < 0 {
			break
		}
		j += i
		end := j
		for end < len(s) && hostByte(s[end]) {
			end++
		}
		if (j == 0 || isSpace(s[j-1]) || s[j-1] == '(' || s[j-1] == '"') && validHost(strings.TrimSuffix(s[j:end], ".")) {
			w.add(strings.TrimSuffix(s[j:end], "."), "url")
		}
		i = end
		if end == j {
			i = j + 4
		}
	}
	// E-mail addresses: the domain after each '@' preceded by a local part.
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '@')
		if j < 0 {
			break
		}
		j += i
		end := j + 1
		for end < len(s) && (hostByte(s[end]) || s[end] == '_' || s[end] >= utf8.RuneSelf) {
			end++
		}
		dom := strings.Trim(s[j+1:end], ".-")
		if j > 0 && localByte(s[j-1]) && strings.Contains(dom, ".") && (validHost(dom) || !isASCIIHost(dom)) {
			w.add(dom, "email")
		}
		i = end
		if end == j+1 {
			i = j + 1
		}
	}
}

// hostOf returns the host of a URL authority ("user:pw@host:port", "[::1]:80").
func hostOf(authority string) string {
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	if strings.HasPrefix(authority, "[") {
		if i := strings.IndexByte(authority, ']'); i > 0 {
			return authority[1:i]
		}
		return ""
	}
	if i := strings.IndexByte(authority, ':'); i >= 0 {
		authority = authority[:i]
	}
	return authority
}

// hasScheme reports whether s ends with "scheme:", a URL scheme (a letter,
// then letters, digits, '+', '-' or '.').
func hasScheme(s string) bool {
	if !strings.HasSuffix(s, ":") {
		return false
	}
	s = s[:len(s)-1]
	i := len(s)
	for i > 0 && (hostByte(s[i-1]) || s[i-1] == '+') {
		i--
	}
	for i < len(s) && !(s[i]|0x20 >= 'a' && s[i]|0x20 <= 'z') {
		i++ // a scheme starts with a letter
	}
	return i < len(s)
}

// isASCIIHost reports whether s is made only of the bytes of a DNS name; a
// domain with others (exämple.com, my_host.com) is reported as found rather
// than dropped.
func isASCIIHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if !hostByte(s[i]) {
			return false
		}
	}
	return true
}

// indexWWW is strings.Index(strings.ToLower(s), "www.") without the copy.
func indexWWW(s string) int {
	for i := 0; i+4 <= len(s); i++ {
		if s[i]|0x20 == 'w' && s[i+1]|0x20 == 'w' && s[i+2]|0x20 == 'w' && s[i+3] == '.' {
			return i
		}
	}
	return -1
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func hostByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.'
}

func localByte(c byte) bool {
	return hostByte(c) || strings.IndexByte("!#$%&'*+/=?^_`{|}~", c) >= 0
}
