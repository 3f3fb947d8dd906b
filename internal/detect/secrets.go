package detect

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"regexp"
	"strings"
)

// Secret rules match provider token formats case-sensitively. They cannot
// tell a live key from a revoked or fabricated one of the right shape; the
// documented AWS example keys (…EXAMPLE) are skipped.
var secretRules = []*rule{
	{
		name: "secrets.aws_access_key", raw: true, fwd: 21, start: atAnchor, near: wordStart,
		anchors: []string{"AKIA", "ASIA", "ABIA", "ACCA"},
		re:      regexp.MustCompile(`^(?:\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b)`),
		check: func(hay string, m []int) bool {
			return !strings.HasSuffix(hay[m[0]:m[1]], "EXAMPLE") && notPlaceholder(hay, m)
		},
	},
	{
		name: "secrets.github_token", raw: true, fwd: 100, start: atAnchor, near: wordStart,
		anchors: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"},
		re:      regexp.MustCompile(`^(?:\bgh[pousr]_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b)`),
		check:   notPlaceholder,
	},
	{
		name: "secrets.slack_token", raw: true, fwd: 120, start: atAnchor,
		anchors: []string{"xox", "xapp-", "hooks.slack.com/services/"},
		re:      regexp.MustCompile(`^(?:\bxox[abposr]-[0-9A-Za-z-]{10,}|\bxapp-\d-[0-9A-Za-z-]{10,}|hooks\.slack\.com/services/T[0-9A-Z]{6,}/B[0-9A-Z]{6,}/[0-9A-Za-z]{16,})`),
		check:   notPlaceholder,
	},
	{
		name: "secrets.stripe_key", raw: true, fwd: 120, start: atAnchor, near: wordStart,
		anchors: []string{"sk_live_", "rk_live_"},
		re:      regexp.MustCompile(`^(?:\b[rs]k_live_[0-9A-Za-z]{20,}\b)`),
		check:   notPlaceholder,
	},
	{
		name: "secrets.google_api_key", raw: true, fwd: 40, start: atAnchor, near: wordStart,
		anchors: []string{"AIza"},
		re:      regexp.MustCompile(`^(?:\bAIza[0-9A-Za-z_-]{35}(?:[^0-9A-Za-z_-]|$))`),
		check:   func(hay string, m []int) bool { return trimTrailing(hay, m) && notPlaceholder(hay, m) },
	},
	{
		name: "secrets.openai_key", raw: true, fwd: 220, start: atAnchor, near: wordStart,
		anchors: []string{"sk-"},
		re:      regexp.MustCompile(`^(?:\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{20,})`),
		check:   func(hay string, m []int) bool { return mixedToken(32)(hay, m) && notPlaceholder(hay, m) },
	},
	{
		name: "secrets.private_key", raw: true, fwd: 400, start: atAnchor,
		anchors: []string{"-----BEGIN "},
		re:      regexp.MustCompile(`^(?:-----BEGIN (?:(?:RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----\s*(?:[A-Za-z-]+: [^\n]*\n\s*)*[A-Za-z0-9+/=]{40,})`),
	},
	{
		name: "secrets.jwt", raw: true, fwd: 2048, start: atAnchor, near: wordStart,
		anchors: []string{"eyJ"},
		re:      regexp.MustCompile(`^(?:\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*)`),
		check:   jwtHeader,
	},
	{
		name: "secrets.probity_key", raw: true, fwd: 50, start: atAnchor, near: wordStart,
		anchors: []string{"pb_"},
		re:      regexp.MustCompile(`^(?:\bpb_[A-Za-z0-9_-]{43}(?:[^A-Za-z0-9_-]|$))`),
		check:   func(hay string, m []int) bool { return trimTrailing(hay, m) && notPlaceholder(hay, m) },
	},
	{
		name: "secrets.assignment", fwd: 240, raw: true, start: identStart, near: assigned,
		anchors: []string{"pass", "Pass", "PASS", "pwd", "PWD", "secret", "Secret", "SECRET", "key", "Key", "KEY", "token", "Token", "TOKEN", "credential", "Credential", "CREDENTIAL"},
		re: regexp.MustCompile(`(?i)^(?:[a-z0-9]+[_.-])*(?:password|passwd|passphrase|pwd|secret|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|access[_-]?token|auth[_-]?token|token|client[_-]?secret|credentials?)["']?\s*(?::=|=>|[:=])\s*` +
			`(?:"([^"\s]{8,})"|'([^'\s]{8,})'|([^\s"',;)}\]]{8,}))`),
		check: secretValue,
	},
}

// assigned accepts a keyword followed, after the rest of its identifier and
// an optional quote, by ":", "=" or ":=" or "=>".
func assigned(hay string, _, j int) bool {
	k := j
	for j < len(hay) && j-k < 40 && (wordCharAt(hay, j) || hay[j] == '.' || hay[j] == '-') {
		j++
	}
	if j < len(hay) && (hay[j] == '"' || hay[j] == '\'') {
		j++
	}
	for j < len(hay) && (hay[j] == ' ' || hay[j] == '\t') {
		j++
	}
	return j < len(hay) && (hay[j] == ':' || hay[j] == '=')
}

// notPlaceholder rejects tokens such as ghp_xxxx… whose body has under
// 2.5 bits of entropy per byte; random tokens have 4 or more.
func notPlaceholder(hay string, m []int) bool {
	t := hay[m[0]:m[1]]
	if i := strings.LastIndexAny(t, "_-"); i >= 0 && len(t)-i > 16 {
		t = t[i+1:]
	}
	return entropy(t) >= 2.5
}

// trimTrailing drops the one delimiter byte a rule matched to assert the
// token ended; RE2 has no lookahead.
func trimTrailing(hay string, m []int) bool {
	if c := hay[m[1]-1]; !(isAlnum(c) || c == '_' || c == '-') {
		m[1]--
	}
	return true
}

// mixedToken requires n or more bytes with letters and digits mixed, so that
// "sk-learn-…" style identifiers are not keys.
func mixedToken(n int) func(string, []int) bool {
	return func(hay string, m []int) bool {
		t := hay[m[0]:m[1]]
		if len(t) < n {
			return false
		}
		var lower, upper, digit int
		for i := 0; i < len(t); i++ {
			switch c := t[i]; {
			case isDigit(c):
				digit++
			case isUpper(c):
				upper++
			case 'a' <= c && c <= 'z':
				lower++
			}
		}
		return digit >= 2 && lower >= 2 && upper >= 2
	}
}

// jwtHeader requires the first part to decode to a JSON object with "alg".
func jwtHeader(hay string, m []int) bool {
	t := hay[m[0]:m[1]]
	h, _, _ := strings.Cut(t, ".")
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "="))
	if err != nil {
		return false
	}
	var hdr map[string]any
	if json.Unmarshal(b, &hdr) != nil {
		return false
	}
	_, ok := hdr["alg"]
	return ok
}

// secretValue accepts an assigned value that looks random: at least two
// character classes and Shannon entropy of at least 3 bits per byte. It
// rejects references (${VAR}, os.environ[…], calls), placeholders and masks,
// so it misses weak literal passwords such as "hunter22".
func secretValue(hay string, m []int) bool {
	var v string
	for g := 1; g <= 3; g++ {
		if m[2*g] >= 0 {
			v = hay[m[2*g]:m[2*g+1]]
			// Report only the value.
			m[0], m[1] = m[2*g], m[2*g+1]
		}
	}
	lv := strings.ToLower(v)
	for _, p := range []string{"${", "{{", "<", "(", "[", "*****", "xxxx", "....", "your", "example", "placeholder", "changeme", "redacted", "dummy", "sample", "secret", "password", "process.env", "os.environ", "getenv", "env.", "vault:", "none", "null", "undefined", "true", "false", "todo", "fixme", "****", "•••"} {
		if strings.Contains(lv, p) {
			return false
		}
	}
	if v[0] == '$' || v[0] == '%' || v[0] == '@' || v[0] == '&' {
		return false
	}
	if isIdentPath(v) {
		return false
	}
	var classes, lower, upper, digit, sym int
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case isDigit(c):
			digit = 1
		case isUpper(c):
			upper = 1
		case 'a' <= c && c <= 'z':
			lower = 1
		default:
			sym = 1
		}
	}
	classes = lower + upper + digit + sym
	return classes >= 2 && digit+sym >= 1 && entropy(v) >= 3.0
}

// isIdentPath reports dotted or snake-case identifiers such as cfg.db_password,
// SOME_ENV_NAME or get_value.
func isIdentPath(v string) bool {
	allUpperSnake := true
	digits := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if isDigit(c) {
			digits++
		}
		if !(isUpper(c) || isDigit(c) || c == '_') {
			allUpperSnake = false
		}
		if !(isAlnum(c) || c == '_' || c == '.') {
			return false
		}
	}
	if allUpperSnake && strings.Contains(v, "_") {
		return true
	}
	return strings.Contains(v, ".") && digits == 0
}

func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

func scanSecrets(s scan) []Finding {
	return s.runRules(Secrets, secretRules)
}
