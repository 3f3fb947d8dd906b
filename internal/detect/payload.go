package detect

import (
	"regexp"
	"strings"
)

// XSS rules need a literal "<" (or a javascript: URL in markdown), so
// HTML-escaped text (&lt;script&gt;) never matches. They do not decode HTML
// entities or URL encoding inside attributes, and they treat an inline event
// handler in a code sample as a payload: rendered, it would run.
var xssRules = []*rule{
	{
		name: "xss.script_tag", fwd: 16,
		anchors: []string{"<script", "</script"},
		re:      regexp.MustCompile(`</?script\b`),
		check:   notInCodeSpan,
	},
	{
		name: "xss.event_handler", fwd: 500, start: tagStart,
		anchors: []string{"on"},
		near:    handlerName,
		re:      regexp.MustCompile(`^<[a-z][a-z0-9-]*\b[^<>]*?[\s/"'](on[a-z]{3,24})\s*=\s*([^\s>])`),
		check:   eventHandler,
	},
	{
		name: "xss.js_url", back: 400, fwd: 64,
		anchors: []string{"script:", "script&colon;", "script&#58;", "data:text/html"},
		re: regexp.MustCompile(`<[a-z][a-z0-9-]*\b[^<>]*?\b(?:href|src|action|formaction|xlink:href|data|background|poster|lowsrc|dynsrc)\s*=\s*["'\x60]?\s*(?:java|vb)\s*script\s*(?::|&colon;|&#0*58;?)` +
			`|<[a-z][a-z0-9-]*\b[^<>]*?\b(?:href|src|action|data)\s*=\s*["']?\s*data:text/html` +
			`|\]\(\s*<?\s*(?:javascript|vbscript)\s*:` +
			`|\]\(\s*<?\s*data:text/html`),
	},
	{
		name: "xss.dangerous_tag", fwd: 300,
		anchors: []string{"<iframe", "<frame", "<object", "<embed", "<base", "<meta"},
		re:      regexp.MustCompile(`<(?:iframe|frame|object|embed)\b[^<>]*?\b(?:src|data|srcdoc)\s*=|<frameset\b|<base\s+href\s*=|<meta\s[^>]*http-equiv\s*=\s*["']?refresh`),
		check:   notInCodeSpan,
	},
	{
		name: "xss.srcdoc", back: 400, fwd: 16,
		anchors: []string{"srcdoc"},
		re:      regexp.MustCompile(`<[a-z][a-z0-9-]*\b[^<>]*?\bsrcdoc\s*=`),
	},
	{
		name: "xss.template", back: 8, fwd: 64,
		anchors: []string{"constructor", "{{", "${"},
		re:      regexp.MustCompile(`constructor\.constructor\s*\(|\{\{[^}]*(?:\$on\.constructor|\$eval|alert\s*\(|document\.cookie)|\$\{\s*alert\s*\(`),
	},
}

// eventHandler rejects JSX handlers (onClick={…}).
// It also requires the tag to close, so "a<b then onload = x" in prose does not match.
func eventHandler(hay string, m []int) bool {
	if hay[m[4]] == '{' || !notInCodeSpan(hay, m) {
		return false
	}
	rest := hay[m[1]:min(len(hay), m[1]+300)]
	gt := strings.IndexByte(rest, '>')
	lt := strings.IndexByte(rest, '<')
	return gt >= 0 && (lt < 0 || gt < lt)
}

// notInCodeSpan rejects a match directly inside markdown inline code.
func notInCodeSpan(hay string, m []int) bool {
	return m[0] == 0 || hay[m[0]-1] != '\x60'
}

// SQL rules look for the shape of a payload: a quote that breaks out of a
// string literal, followed by a tautology, UNION, stacked statement, timing
// call or comment. Ordinary queries in code samples have balanced quotes and
// do not match. A security article that quotes a payload matches: the
// detector finds payloads, the caller decides what the context means. Numeric
// (quote-less) injection is found only with a tautology or stacked DROP/DELETE.
var sqlRules = []*rule{
	{
		name: "sql.tautology", fwd: 120,
		anchors: []string{"or", "||", "and", "&&"},
		near:    afterQuoteOrNumber,
		start:   operandStart,
		re: regexp.MustCompile(`^(?:['"]|\d+|\))\s*\)*\s*(?:\bor\b|\|\||\band\b|&&)\s*\(*\s*` +
			`(?:'([^'\n]{0,20})'\s*(?:=|like)\s*'([^'\n&;#()]{0,20})` +
			`|"([^"\n]{0,20})"\s*(?:=|like)\s*"([^"\n&;#()]{0,20})` +
			`|([a-z0-9_]{1,20})\s*(?:=|like)\s*([a-z0-9_]{1,20})\b` +
			`|(true)\b()|(\d+)()\s*(?:--|#|/\*|;|$))`),
		check: tautology,
	},
	{
		name: "sql.union", back: 48, fwd: 160,
		anchors: []string{"union"},
		re:      regexp.MustCompile(`union(?:\s+|/\*[^*]*\*/|\+|%20)+(?:all(?:\s+|/\*[^*]*\*/|\+|%20)+|distinct\s+)?select\b`),
		check:   unionShape,
	},
	{
		name: "sql.stacked", back: 24, fwd: 64,
		anchors: []string{";"},
		near:    followedBy("drop", "truncate", "delete", "insert", "update", "shutdown", "exec", "xp_", "master.", "alter", "create", "grant"),
		re:      regexp.MustCompile(`(['"]?)\s*\)*\s*;\s*(?:drop\s+(?:table|database|schema|user)|truncate\s+(?:table\s+)?\w|delete\s+from|insert\s+into|update\s+\w+\s+set|shutdown\b|exec(?:ute)?\s|(?:exec\s+)?(?:master\.\.)?xp_cmdshell|alter\s+(?:table|user)|create\s+(?:user|login)|grant\s)`),
		check:   stackedShape,
	},
	{
		name: "sql.timing", back: 40, fwd: 80,
		anchors: []string{"sleep", "benchmark", "waitfor"},
		re: regexp.MustCompile(`(?:['"\d)])\s*\)*\s*(?:\band\b|\bor\b|\|\||;|&&|,|\+)\s*\(*\s*(?:select\b[^;\n]*?)?(?:sleep|pg_sleep|benchmark|dbms_lock\.sleep)\s*\(` +
			`|(?:['"\d)])\s*\)*\s*;?\s*waitfor\s+delay\s+'`),
	},
	{
		name: "sql.comment_break", back: 40, fwd: 16,
		anchors: []string{"'--", "' --", "'#", "' #", "'/*", "' /*", "'-- ", "');--", "'); --", "';--", "'; --"},
		re:      regexp.MustCompile(`(?:^|[\s=:(,])([a-z0-9_@.]+)'\s*\)*\s*;?\s*(?:--|#|/\*)`),
		check:   commentBreak,
	},
	{
		name: "sql.order_by", fwd: 48, start: operandStart,
		anchors: []string{"order by"},
		re:      regexp.MustCompile(`^['"]\s*\)*\s*order\s+by\s+\d+\s*(?:--|#|/\*|;|%23)`),
		check:   quoteBreakAt(0),
	},
	{
		name: "sql.error_based", back: 24, fwd: 64,
		anchors: []string{"extractvalue", "updatexml", "@@version", "information_schema", "load_file", "into outfile"},
		re:      regexp.MustCompile(`['"\d)]\s*\)*\s*(?:\band\b|\bor\b|\|\|)\s*\(*\s*(?:extractvalue|updatexml)\s*\(|['"]\s*\)*\s*(?:\band\b|\bor\b|union|\|\|)[^;\n]*(?:@@version|information_schema|load_file\s*\(|into\s+outfile)`),
		check:   quoteBreakAt(0),
	},
}

// tautology accepts "x = x" style comparisons whose sides are equal.
// The bare "or true" and "or 1 --" forms need a quote before them.
func tautology(hay string, m []int) bool {
	for g := 1; g+1 < len(m)/2; g += 2 {
		if m[2*g] < 0 {
			continue
		}
		if g >= 7 {
			return hay[m[0]] == '\'' || hay[m[0]] == '"'
		}
		l, r := hay[m[2*g]:m[2*g+1]], hay[m[2*g+2]:m[2*g+3]]
		return strings.TrimSpace(l) == strings.TrimSpace(r)
	}
	return false
}

// quoteBreakAt checks that a quote at the start of submatch 0 opens a string
// (is odd-numbered on its line): "name = 'x' OR …" closes a literal, while
// "x' OR 1=1" breaks out of one.
func quoteBreakAt(_ int) func(string, []int) bool {
	return func(hay string, m []int) bool {
		i := m[0]
		if hay[i] != '\'' && hay[i] != '"' {
			return true
		}
		return oddQuote(hay, i)
	}
}

const maxLine = 512

// oddQuote reports whether the quote at i is the odd-numbered one of its
// kind on its line.
func oddQuote(hay string, i int) bool {
	q := hay[i]
	// Lines longer than maxLine count from maxLine bytes back, which keeps
	// the check constant-time on text without newlines.
	lo := max(0, i-maxLine)
	ls := lo + strings.LastIndexByte(hay[lo:i], '\n') + 1
	return strings.Count(hay[ls:i], string(q))%2 == 0
}

func unionShape(hay string, m []int) bool {
	if m[0] > 0 && 'a' <= hay[m[0]-1] && hay[m[0]-1] <= 'z' {
		return false
	}
	// Look back past spaces and inline comments for a quote or "=<number>".
	j := m[0]
	for j > 0 {
		if hay[j-1] == ' ' || hay[j-1] == '\t' || hay[j-1] == '+' || hay[j-1] == ')' {
			j--
		} else if strings.HasSuffix(hay[:j], "%20") {
			j -= 3
		} else {
			break
		}
	}
	if strings.HasSuffix(hay[:j], "*/") {
		return true
	}
	if j > 0 && (hay[j-1] == '\'' || hay[j-1] == '"') && oddQuote(hay, j-1) {
		return true
	}
	k := j
	for k > 0 && isDigit(hay[k-1]) {
		k--
	}
	if k < j {
		p := strings.TrimRight(hay[:k], " -")
		if strings.HasSuffix(p, "=") {
			return true
		}
	}
	rest := hay[m[1]:min(len(hay), m[1]+120)]
	if strings.Contains(hay[m[0]:m[1]], "/*") || strings.Contains(hay[m[0]:m[1]], "%20") {
		return true
	}
	rest = strings.TrimLeft(rest, " (")
	for _, fp := range []string{"null,", "null ,", "null--", "null#", "null from", "@@", "version()", "user()", "database()", "current_user", "table_name", "column_name", "information_schema", "load_file", "concat(", "group_concat", "char(", "0x", "password", "passwd", "sqlite_master", "pg_shadow", "sys.", "banner from"} {
		if strings.HasPrefix(rest, fp) || (len(fp) > 5 && strings.Contains(rest, fp)) {
			return true
		}
	}
	if n := leadingNumberList(rest); n >= 2 {
		return true
	}
	return false
}

func leadingNumberList(s string) int {
	n := 0
	for {
		i := 0
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == 0 {
			return n
		}
		n++
		s = strings.TrimLeft(s[i:], " ")
		if !strings.HasPrefix(s, ",") {
			return n
		}
		s = strings.TrimLeft(s[1:], " ")
	}
}

func stackedShape(hay string, m []int) bool {
	if m[2] < m[3] {
		return oddQuote(hay, m[2])
	}
	// Numeric: "=<digits>;" right before.
	j := m[0]
	for j > 0 && hay[j-1] == ' ' {
		j--
	}
	k := j
	for k > 0 && isDigit(hay[k-1]) {
		k--
	}
	if k < j && (k == 0 || hay[k-1] == '\n' || strings.HasSuffix(strings.TrimRight(hay[:k], " "), "=")) {
		return true
	}
	return strings.Contains(hay[m[0]:m[1]], "xp_cmdshell") || strings.Contains(hay[m[0]:m[1]], "shutdown")
}

func commentBreak(hay string, m []int) bool {
	q := m[3] // the quote follows the word in group 1
	return oddQuote(hay, q)
}

// Shell rules look for metacharacters that chain or substitute a command and
// for well-known destructive, download-and-run and reverse-shell commands.
// They do not parse shell, so a plain "rm -rf build" after "&&" in a script
// is not a finding, and "curl … | sh" install one-liners are (by design).
var shellRules = []*rule{
	{
		name: "shell.rm_root", fwd: 100, start: atAnchor, near: wordStart,
		anchors: []string{"rm "},
		re:      regexp.MustCompile(`^rm\s+(?:-[a-z-]+\s+)*-[a-z]*[rf][a-z]*\s+(?:-[a-z-]+\s+)*(?:/|/\*|~/?|\*|\$home|\$\{home\}|/(?:etc|usr|var|bin|boot|home|root|lib|sbin|opt|srv|sys)/?\*?|\.\*?|--no-preserve-root)(?:\s|$|[;&|'"\x60)])`),
	},
	{
		name: "shell.quote_break", back: 4, fwd: 120,
		anchors: []string{"';", "\";", "'|", "\"|", "'&", "\"&", "`;", "';", "' ;", "\" ;", "' &&", "\" &&", "' |", "\" |"},
		re:      regexp.MustCompile(`['"\x60]\s*(?:;|\|\|?|&&?)\s*(?:(?:sudo|/bin/|/usr/bin/)\s*)?(?:rm\s+-|curl\s|wget\s|nc\s|ncat\s|netcat\s|bash\b|sh\s|/bin/sh|python[23]?\s+-c|perl\s+-e|php\s+-r|cat\s+/etc/|chmod\s|id\b|whoami\b|uname\b|ping\s+-c|sleep\s+\d|echo\s+\w+\s*[>|]|mkfifo|telnet\s|powershell|cmd(?:\.exe)?\s+/c|ls\s+-la?\s+/|env\b|printenv\b)`),
	},
	{
		name: "shell.subst", fwd: 100, start: oneBefore,
		anchors: []string{"$(", "`"},
		near:    substNear,
		re:      regexp.MustCompile(`^(?:(?s:.)?\$\(\s*(?:curl|wget|nc|ncat|rm\s+-|cat\s+/etc/(?:passwd|shadow)|bash\s+-i|sh\s+-i|base64\s+-d|python[23]?\s+-c|perl\s+-e)\b|[\w'";|&]\$\(\s*(?:whoami|id|uname(?:\s+-a)?)\s*\)|[\w'";|&=]\x60\s*(?:curl|wget|nc|ncat|rm\s+-|cat\s+/etc/(?:passwd|shadow)|whoami|id|uname(?:\s+-a)?|bash\s+-i)\b[^\x60\n]*\x60)`),
	},
	{
		name: "shell.pipe_exec", fwd: 400, start: segmentStart,
		anchors: []string{"|"},
		near:    followedBy("sh", "bash", "zsh", "ksh", "dash", "fish", "/bin/", "/usr/bin/", "python", "perl", "ruby", "php", "node"),
		re: regexp.MustCompile(`^(?:\s*(?:\||;|&&)\s*(?:ba|z)?sh\s+-c\b` +
			`|[^|\n;]*?\b(?:curl|wget|fetch)\b[^|\n;]*\|\s*(?:sudo\s+(?:-[a-z]+\s+)*)?(?:/bin/|/usr/bin/(?:env\s+)?)?(?:(?:ba|z|k|da|fi)?sh|python[23]?|perl|ruby|php|node)\b` +
			`|[^|\n;]*?\bbase64\s+(?:-d|--decode)\b[^|\n]*\|\s*(?:sudo\s+)?(?:ba|z)?sh\b)`),
	},
	{
		name: "shell.pipe_exec", fwd: 80, start: atAnchor,
		anchors: []string{"iex"},
		re:      regexp.MustCompile(`^iex\s*\(\s*(?:new-object\s+(?:system\.)?net\.webclient|\(new-object|iwr|invoke-webrequest|irm)`),
	},
	{
		name: "shell.download_exec", back: 4, fwd: 300,
		anchors: []string{"wget", "curl", "chmod"},
		re:      regexp.MustCompile(`(?:[;&|]|\$\()\s*(?:wget|curl)\s[^\n;&|]*(?:https?://\d{1,3}(?:\.\d{1,3}){3}|-o\s*/tmp/|-o\s*/dev/shm|--output\s+/tmp/|-d\s*@|--data[-a-z]*\s+@|\$\()|\bchmod\s+\+?[0-7x]*\s+/(?:tmp|dev/shm)/\S+\s*(?:;|&&)\s*/(?:tmp|dev/shm)/`),
	},
	{
		name: "shell.reverse_shell", back: 80, fwd: 120,
		anchors: []string{"/dev/tcp/", "/dev/udp/", "nc ", "ncat ", "netcat ", "socat", "mkfifo", "socket", "fsockopen", "tcpclient", "bash -i", "sh -i"},
		near:    reverseShellNear,
		re: regexp.MustCompile(`/dev/(?:tcp|udp)/[\w.-]+/\d+` +
			`|\b(?:nc|ncat|netcat)\b(?:\s+-[a-z]+)*\s+(?:-[a-z]*e\s*|--exec\s+|-c\s+)(?:/bin/|/usr/bin/)?(?:ba|z)?sh\b` +
			`|\b(?:nc|ncat|netcat)\b[^\n|;]*\s-[a-z]*e\s+(?:/bin/|/usr/bin/)?(?:ba|z)?sh\b` +
			`|\bsocat\b[^\n]*\bexec:` +
			`|\bmkfifo\s+\S+\s*;[^\n]*\b(?:nc|ncat|netcat)\b` +
			`|\b(?:bash|sh)\s+-i\s*>\s*&` +
			`|import\s+socket\s*,\s*subprocess|use\s+socket\s*;[^\n]*\bexec\b|\bfsockopen\s*\(|net\.sockets\.tcpclient`),
	},
	{
		name: "shell.destructive", back: 4, fwd: 80,
		anchors: []string{":(){", "mkfs", "dd ", "> /dev/sd", ">/dev/sd", "chmod -r 777 /", "del /", "format c:"},
		re:      regexp.MustCompile(`:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:|\bmkfs(?:\.\w+)?\s+/dev/|\bdd\s+if=/dev/(?:zero|urandom|random)\s+of=/dev/(?:sd|nvme|hd|xvd)|>\s*/dev/sd[a-z]\b|\bchmod\s+-r\s+777\s+/(?:\s|$)|\bdel\s+/[fsq](?:\s+/[fsq])*\s+(?:c:|\\)|\bformat\s+c:`),
	},
	{
		name: "shell.recon", back: 4, fwd: 60,
		anchors: []string{";", "|", "&&"},
		near:    followedBy("cat /etc/", "id", "whoami", "uname -a"),
		re:      regexp.MustCompile(`(?:^|[^\s;|&])\s*(?:;|\|\||&&|\|)\s*(?:cat\s+/etc/(?:passwd|shadow)|id|whoami|uname\s+-a)\s*(?:$|[;|&#'"\x60]|\n)`),
	},
	{
		name: "shell.powershell_enc", back: 4, fwd: 200,
		anchors: []string{"powershell", "pwsh"},
		re:      regexp.MustCompile(`\b(?:powershell|pwsh)(?:\.exe)?\s+(?:-[a-z]+\s+(?:[a-z]+\s+)?)*?-e(?:nc|ncodedcommand)?\s+[a-z0-9+/=]{20,}`),
	},
}

// handlerName accepts "on" starting an attribute name followed by "=".
func handlerName(hay string, i, j int) bool {
	if i == 0 || !(hay[i-1] == ' ' || hay[i-1] == '/' || hay[i-1] == '"' || hay[i-1] == '\'' || hay[i-1] == '\t' || hay[i-1] == '\n') {
		return false
	}
	k := j
	for k < len(hay) && k-j <= 24 && 'a' <= hay[k] && hay[k] <= 'z' {
		k++
	}
	if k-j < 3 {
		return false
	}
	for k < len(hay) && (hay[k] == ' ' || hay[k] == '\t') {
		k++
	}
	return k < len(hay) && hay[k] == '='
}

func afterQuoteOrNumber(hay string, i, j int) bool {
	if wordCharAt(hay, i-1) && hay[i] != '|' && hay[i] != '&' || wordCharAt(hay, j) {
		return false
	}
	c := before(hay, i)
	return c == '\'' || c == '"' || isDigit(c)
}

func substNear(hay string, i, _ int) bool {
	if hay[i] == '$' {
		return true
	}
	return i > 0 && (wordCharAt(hay, i-1) || strings.IndexByte(`'";|&=`, hay[i-1]) >= 0)
}

func reverseShellNear(hay string, i, j int) bool {
	switch hay[i:j] {
	case "nc ", "ncat ", "netcat ", "socat", "mkfifo", "bash -i", "sh -i":
		return wordStart(hay, i, j)
	}
	return true
}

// tagStart moves an anchor back to the "<" that opens its tag (at most 400
// bytes back).
func tagStart(hay string, i int) int {
	lo := max(0, i-400)
	j := strings.LastIndexByte(hay[lo:i], '<')
	if j < 0 || strings.IndexByte(hay[lo+j:i], '>') >= 0 {
		return -1
	}
	return lo + j
}

// operandStart moves an "or"/"and" anchor back over spaces and parens to the
// quote or number before it.
func operandStart(hay string, i int) int {
	j := i
	for j > 0 && i-j < 16 && (hay[j-1] == ' ' || hay[j-1] == '\t' || hay[j-1] == ')') {
		j--
	}
	if j == 0 {
		return -1
	}
	if hay[j-1] == '\'' || hay[j-1] == '"' {
		return j - 1
	}
	k := j
	for k > 0 && j-k < 20 && isDigit(hay[k-1]) {
		k--
	}
	if k == j || (k > 0 && wordCharAt(hay, k-1)) {
		return -1
	}
	return k
}

func oneBefore(_ string, i int) int { return max(0, i-1) }

// segmentStart moves a "|" anchor back to the start of its pipeline segment
// (after the previous |, ;, & or newline, at most 300 bytes back).
func segmentStart(hay string, i int) int {
	j := i
	for j > 0 && i-j < 300 && strings.IndexByte("|;&\n", hay[j-1]) < 0 {
		j--
	}
	return j
}
