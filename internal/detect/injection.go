package detect

import (
	"encoding/base64"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Qualifiers that turn "ignore the instructions" into an override of earlier ones.
const (
	injVerb  = `(?:ignore|disregard|forget|override|bypass|discard|set aside|pay no attention to|(?:do not|don't|stop) (?:follow|obey)(?:ing)?)`
	injQual  = `(?:previous|prior|above|earlier|preceding|foregoing|original|initial|old|former|system|developer|safety|existing|current|given|other)`
	injNoun  = `(?:instructions?|prompts?|directions?|directives?|rules|guidelines|guidance|guardrails|context|messages|commands|orders|constraints|restrictions|programming|polic(?:y|ies)|safeguards|training)`
	injDet   = `(?:the |your |my |these |those |any |all |of )*`
	injAIRef = `(?:ai|llm|language model|assistant|agent|chatbot|model|gpt|claude|gemini)`
)

var injectionRules = []*rule{
	{
		name: "injection.override", fwd: 200, start: atAnchor, near: wordStart,
		anchors: []string{"ignore", "disregard", "forget", "override", "bypass", "discard", "set aside", "pay no attention", "do not", "don't", "stop"},
		re: regexp.MustCompile(`^` + injVerb + `\s+(?:` +
			`(?:all|any|every|each)\s+(?:of\s+)?` + injDet + `(?:` + injQual + `\s+)*` + injNoun +
			`|` + injDet + `(?:` + injQual + `\s+)+(?:\w+\s+)?` + injNoun +
			`|your\s+(?:\w+\s+)?` + injNoun +
			`|(?:all\s+|everything\s+|anything\s+)?(?:of\s+)?(?:the\s+|that\s+|what\s+)?(?:above|said\s+(?:above|before|earlier)|written\s+above|before\s+this|previously\s+(?:said|stated|written)|you(?:'ve| have)?\s+(?:been\s+|were\s+)?(?:told|given|instructed))` +
			`|(?:the\s+|all\s+|any\s+)?` + injNoun + `\s+(?:above|earlier|before this|you were given|you received|you have been given)` +
			`)\b`),
	},
	{
		name: "injection.override", fwd: 120, start: atAnchor, near: wordStart,
		anchors: []string{"previous", "prior", "earlier", "above", "original", "old", "all"},
		re: regexp.MustCompile(`^(?:previous|prior|earlier|above|original|old|all(?: previous| prior)?)\s+` + injNoun +
			`\s+(?:are|were|is|have been|has been)\s+(?:now\s+)?(?:outdated|void|cancel+ed|obsolete|revoked|superseded|replaced|invalid|null|no longer (?:valid|apply|applicable|in effect|relevant))`),
	},
	{
		name: "injection.role_hijack", fwd: 160, start: atAnchor, near: wordStart,
		anchors: []string{"you are", "you're", "from now on", "act as", "behave as", "respond as", "act ", "behave ", "respond ", "pretend", "enable", "enter", "activate", "switch to", "now in", "do anything now"},
		re: regexp.MustCompile(`^(?:(?:you are|you're) now\s+(?:(?:a|an|the|in|my|called|named)\s+)?(?:dan\b|jailbroken|unrestricted|unfiltered|uncensored|free from|evil|unchained|liberated|no longer|(?:developer|god|dan|jailbreak|unrestricted|debug|admin|sudo) mode|(?:\w+\s+){0,2}(?:ai|assistant|bot|chatbot|agent|model|persona|character|llm)\b)` +
			`|(?:you are|you're) no longer\s+(?:an?\s+)?(?:ai\b|assistant|bound|restricted|limited|chatgpt|claude|gemini|required to|subject to|constrained|an? (?:ai|assistant|language model))` +
			`|from now on,?\s+(?:you\s+(?:are|must|shall|have no|will (?:act|respond|answer|reply|always|never|ignore|obey|only|pretend|be))|always|never|ignore|respond|reply|answer)\b` +
			`|(?:act|behave|respond)\s+as\s+(?:if\s+you\s+(?:are|were|have)\s+)?(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|jailbroken|evil|dan\b|no\s+(?:restrictions|rules|filters|limits)|(?:an?\s+)?ai\s+(?:without|with no))` +
			`|pretend\s+(?:that\s+)?(?:you\s+are|you're|to\s+be)\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|evil|dan\b|jailbroken|(?:\w+\s+)?(?:ai|assistant|model)\s+(?:without|with\s+no|that\s+has\s+no)|not\s+bound|free\s+of)` +
			`|(?:enable|enter|activate|switch\s+to|you are in|you're in|now in)\s+(?:developer|dan|god|jailbreak|unrestricted|unfiltered)\s+mode` +
			`|\bdo anything now\b)`),
	},
	{
		name: "injection.new_instructions", fwd: 64, start: atAnchor, near: colonOrOverrideSoon,
		anchors: []string{"new", "updated", "revised", "real", "actual", "hidden", "secret", "true", "override", "admin", "priority", "system", "developer"},
		re: regexp.MustCompile(`^(?:(?:new|updated|revised|real|actual|hidden|secret|true|override|admin|priority)\s+(?:system\s+)?(?:instructions?|directives?|system prompt|prompt|orders)\s*:` +
			`|\bsystem\s+(?:prompt|instructions?|override|directive)\s*:` +
			`|\b(?:admin|developer|system)\s+override\b)`),
	},
	{
		name: "injection.prompt_leak", fwd: 160, start: atAnchor, near: wordStart,
		anchors: []string{"reveal", "print", "output", "repeat", "disclose", "leak", "dump", "show me", "tell me", "give me", "what is your", "what are your"},
		re: regexp.MustCompile(`^(?:(?:reveal|print|output|repeat|disclose|leak|dump|show me|tell me|give me)\s+(?:(?:me|your|the|all|of|back)\s+)*(?:(?:entire|full|whole|complete|original|initial|hidden|secret|exact|verbatim|confidential)\s+)*(?:system\s+prompt|system\s+message|(?:initial|original|hidden|secret|confidential)\s+(?:instructions|prompt)|instructions\s+(?:above|you\s+were\s+given))` +
			`|repeat\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:words|text)\s+above` +
			`|what\s+(?:is\s+your\s+system\s+prompt|are\s+your\s+(?:initial\s+|original\s+|hidden\s+)?instructions))`),
	},
	{
		name: "injection.ai_address", fwd: 80, start: atAnchor, near: aiAddressNear,
		anchors: []string{"note ", "message ", "instruction", "attention", "notice ", "important ", "if you are", "if you're", "ai", "llm", "gpt"},
		re: regexp.MustCompile(`^(?:(?:note|message|instructions?|attention|notice|important)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?(?:ai|llm|language model|assistant|agent|chatbot|model|gpt|claude|gemini)s?(?:\s+(?:agents?|assistants?|models?|systems?|tools?))?\b\s*[:,!.-]` +
			`|\battention,?\s+` + injAIRef + `s?\b\s*[:,!]` +
			`|\bif\s+you\s+are\s+an?\s+(?:ai|llm|language model|ai assistant|ai agent|automated agent|assistant|bot)\b` +
			`|\bif\s+you're\s+an?\s+(?:ai|llm|language model|ai assistant|ai agent|automated agent|bot)\b` +
			`|\b(?:ai|llm|gpt)s?\s+(?:agents?|assistants?|models?)?\s*reading\s+this\b)`),
	},
	{
		name: "injection.override_i18n", fwd: 160, start: atAnchor,
		anchors: []string{
			"ignore", "oublie", "ne tiens", "ne tenez", "tu es", "vous êtes", "vous etes", "nouvelles", "vraies", "à partir", "À partir", // fr
			"ignorier", "vergiss", "vergessen", "missacht", "du bist", "sie sind", "neue", "ab jetzt", // de
			"ignora", "olvid", "haz caso", "ahora eres", "nuevas", "a partir", // es
			"dimentic", "nuove", "esque", "desconsider", "novas", // it, pt
			"игнориру", "Игнориру", "забуд", "Забуд", "новые", "Новые", // ru
			"忽略", "无视", "忽视", "不要理会", "不要遵守", "忘记", "忘掉", "你现在是", "新", "系统提示", // zh
			"以前の", "前の", "上記の", "これまでの", "先の", "指示を無視", "이전", "위의", "앞의", // ja, ko
		},
		re: regexp.MustCompile(`(?i)^(?:` +
			// French
			`(?:ignore[rz]?|oublie[rz]?|ne\s+(?:tiens|tenez)\s+pas\s+compte)\s+(?:de\s+|des\s+|d')?(?:toutes\s+|tous\s+)?(?:les\s+|tes\s+|vos\s+|ces\s+)?(?:instructions|consignes|directives|règles|ordres)` +
			`|(?:tu es|vous êtes|vous etes)\s+maintenant\s+(?:un\s+|une\s+)?(?:ia\b|assistant|modèle|dan\b|sans\s+(?:restrictions?|limites?|filtres?)|libre)` +
			`|(?:nouvelles|vraies)\s+instructions\s*:|à partir de maintenant,?\s+(?:tu|vous)\s+(?:es|êtes|dois|devez)` +
			// German
			`|(?:ignoriere|ignorieren\s+sie|vergiss|vergessen\s+sie|missachte|missachten\s+sie)\s+(?:alle\s+|sämtliche\s+)?(?:die\s+|deine\s+|ihre\s+)?(?:(?:vorherigen|bisherigen|obigen|vorigen|früheren|ursprünglichen|vorangegangenen)\s+)?(?:anweisungen|instruktionen|befehle|regeln|vorgaben|anordnungen)` +
			`|vergiss\s+alles(?:\s+(?:was|bisher|vorher|oben))?` +
			`|(?:du bist|sie sind)\s+(?:jetzt|nun|ab sofort)\s+(?:ein\s+|eine\s+)?(?:ki\b|assistent|modell|dan\b|ohne\s+(?:einschränkungen|regeln|filter)|uneingeschränkt)` +
			`|neue\s+anweisungen\s*:|ab jetzt\s+(?:bist|musst|wirst)\s+du` +
			// Spanish
			`|(?:ignora|ignore|olvida|olvide|haz\s+caso\s+omiso\s+(?:a|de))\s+(?:todas\s+|todos\s+)?(?:las\s+|tus\s+|sus\s+|los\s+)?(?:instrucciones|indicaciones|órdenes|reglas|directrices)` +
			`|ahora\s+eres\s+(?:un\s+|una\s+)?(?:ia\b|asistente|modelo|dan\b|sin\s+(?:restricciones|límites|filtros)|libre)` +
			`|nuevas\s+instrucciones\s*:|a partir de ahora,?\s+(?:eres|debes|vas a|responderás)` +
			// Italian, Portuguese
			`|(?:ignora|dimentica)\s+(?:tutte\s+)?(?:le\s+)?(?:istruzioni|regole)|nuove\s+istruzioni\s*:` +
			`|(?:ignore|esqueça|esqueca|desconsidere)\s+(?:todas\s+)?(?:as\s+)?(?:instruções|instrucoes|regras)|novas\s+instruções\s*:` +
			// Russian
			`|(?:игнорируй|игнорируйте|забудь|забудьте)\s+(?:все\s+)?(?:предыдущие\s+|прошлые\s+|свои\s+)?(?:инструкции|указания|правила)|новые\s+инструкции\s*:` +
			// Chinese, Japanese, Korean
			`|(?:忽略|无视|忽视|不要理会|不要遵守|忘记|忘掉)[^。，,.！!？?\n]{0,8}?(?:之前|以上|前面|上面|先前|上述|所有|全部|此前|原来|原有)[^。，,.！!？?\n]{0,8}?(?:指令|指示|说明|提示|规则|要求|命令|设定)` +
			`|你现在是(?:一个)?(?:dan|没有(?:任何)?限制|不受(?:任何)?(?:限制|约束)|无限制|无约束)` +
			`|新的?指令\s*[:：]|系统提示\s*[:：]` +
			`|(?:以前|前|上記|これまで|先)の(?:すべての)?(?:指示|命令|指令|ルール)を(?:すべて)?無視|指示を無視` +
			`|(?:이전|위의|앞의)\s*(?:모든\s*)?(?:지시|지침|명령)\S*\s*(?:모두\s*|전부\s*)?무시)`),
	},
	{
		name: "injection.role_token", fwd: 40, start: atAnchor,
		anchors: []string{"<|", "<<sys", "<</sys", "<start_of_turn", "<end_of_turn"},
		re:      regexp.MustCompile(`^(?:<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text|eom_id|end_of_text|fim_\w+)\|>|<</?sys>>|<(?:start|end)_of_turn>)`),
	},
	{
		name: "injection.role_token", fwd: 24, raw: true, start: atAnchor,
		anchors: []string{"[SYSTEM", "[INST", "[/INST", "[SYS"},
		re:      regexp.MustCompile(`^\[/?(?:SYSTEM|INST|SYS)(?: (?:MESSAGE|PROMPT|NOTE|OVERRIDE))?\]`),
	},
	{
		name: "injection.role_spoof", fwd: 160, start: lineStart,
		anchors: []string{"system", "assistant", "instruction", "[system"},
		re: regexp.MustCompile(`^(?:[ \t]*#{1,4}[ \t]*(?:system|instruction|instructions|assistant|system prompt)[ \t]*:` +
			`|[ \t>*_]*system[ \t*_]*:[ \t*_]*(?:you\b|your\b|ignore|new\b|override|from now|the (?:user|assistant|ai)|assistant\b|always\b|never\b|do not|don't|respond|reply|answer|act\b|execute|run\b|send|forward|important|disregard|forget)` +
			`|[ \t>*_]*assistant[ \t*_]*:[ \t]*\S` +
			`|\[system\s*(?:message|prompt|note|override)\])`),
	},
	{
		name: "injection.exfil_link", fwd: 2400, start: linkStart,
		anchors: []string{"](", "<img"},
		re:      regexp.MustCompile(`^(?:(!?)\[[^\]\n]*\]\(\s*<?((?:https?:)?//[^\s)>]+)|<img\b[^>]*?\bsrc\s*=\s*["']?((?:https?:)?//[^\s"'>]+))`),
		check:   exfilLink,
	},
}

// colonOrOverrideSoon accepts a word-start anchor followed within 48 bytes by
// ":" or "override".
func colonOrOverrideSoon(hay string, i, j int) bool {
	if !wordStart(hay, i, j) {
		return false
	}
	w := hay[j:min(len(hay), j+48)]
	return strings.IndexByte(w, ':') >= 0 || strings.IndexByte(w, 0xEF) >= 0 || strings.Contains(w, "override")
}

// aiAddressNear accepts a word-start anchor; the short ones ("ai", "llm",
// "gpt") must also end a word.
func aiAddressNear(hay string, i, j int) bool {
	if !wordStart(hay, i, j) {
		return false
	}
	if j-i <= 3 {
		return !wordCharAt(hay, j) || (hay[j] == 's' && !wordCharAt(hay, j+1))
	}
	return true
}

// linkStart moves a "](" anchor back to its "[" or "![" (at most 200 bytes).
func linkStart(hay string, i int) int {
	if hay[i] == '<' {
		return i
	}
	j := strings.LastIndexByte(hay[max(0, i-200):i], '[')
	if j < 0 {
		return -1
	}
	j += max(0, i-200)
	if j > 0 && hay[j-1] == '!' {
		j--
	}
	return j
}

// lineStart moves an anchor back to the start of its line when only
// blanks and markup precede it there; "[system" anchors start in place.
// A closing HTML tag right before the role also counts as a line start.
func lineStart(hay string, i int) int {
	if hay[i] == '[' {
		return i
	}
	j := i
	for j > 0 && i-j < 16 && strings.IndexByte(" \t>*_#", hay[j-1]) >= 0 {
		j--
	}
	if j > 0 && hay[j-1] != '\n' && !strings.Contains(hay[j:i], ">") {
		return -1
	}
	return j
}

// exfilLink accepts an image URL whose query carries data or a template, or
// a link whose URL carries a template. It cannot tell a tracking pixel that
// carries an ordinary long id from one that carries stolen data.
func exfilLink(hay string, m []int) bool {
	image := m[2] < m[3] || m[6] >= 0
	var u string
	if m[4] >= 0 {
		u = hay[m[4]:m[5]]
	} else {
		u = hay[m[6]:m[7]]
	}
	if strings.ContainsAny(u, "{}$") || strings.Contains(u, "%7b") || strings.Contains(u, "%24") ||
		strings.Contains(u, "[data]") || strings.Contains(u, "<data>") || strings.Contains(u, "%5b") {
		return true
	}
	if !image {
		return false
	}
	q := strings.IndexByte(u, '?')
	if q < 0 {
		return false
	}
	for _, kv := range strings.FieldsFunc(u[q+1:], func(r rune) bool { return r == '&' || r == ';' }) {
		_, v, _ := strings.Cut(kv, "=")
		if len(v) >= 24 && !isHexOrDigits(v) {
			return true
		}
	}
	return false
}

func isHexOrDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

const maxInjectionDepth = 2

func scanInjection(s scan, depth int) []Finding {
	fs := s.runRules(Injection, injectionRules)
	fs = append(fs, hiddenUnicode(s)...)
	if depth < maxInjectionDepth {
		fs = append(fs, base64Injection(s, depth)...)
	}
	return fs
}

// hiddenUnicode reports Unicode tag characters (except inside emoji flag
// sequences) and clusters of zero-width characters. It cannot tell a
// zero-width space used for line breaking in a long token from one used to
// hide text, so it needs three within a short span or two in a row.
func hiddenUnicode(s scan) []Finding {
	t := s.text
	// Every rune this looks for starts with one of these bytes.
	if strings.IndexByte(t, 0xE2) < 0 && strings.IndexByte(t, 0xEF) < 0 && strings.IndexByte(t, 0xF3) < 0 && strings.IndexByte(t, 0xE1) < 0 {
		return nil
	}
	var out []Finding
	tagStart, tagEnd := -1, -1
	flushTags := func() {
		if tagStart < 0 {
			return
		}
		// An emoji subdivision flag: U+1F3F4, then up to six tags, then U+E007F.
		flag := strings.HasSuffix(t[:tagStart], "\U0001F3F4") && tagEnd-tagStart <= 7*4 &&
			strings.HasSuffix(t[:tagEnd], "\U000E007F")
		if !flag {
			out = append(out, s.finding(Injection, "injection.hidden_unicode", tagStart, tagEnd))
		}
		tagStart = -1
	}
	zwStart, zwEnd, zwCount, zwRun, zwMaxRun := -1, -1, 0, 0, 0
	flushZW := func() {
		if zwStart >= 0 && (zwCount >= 3 || zwMaxRun >= 2) {
			out = append(out, s.finding(Injection, "injection.zero_width", zwStart, zwEnd))
		}
		zwStart, zwCount, zwRun, zwMaxRun = -1, 0, 0, 0
	}
	prev := rune(0)
	for i := 0; i < len(t); {
		c := t[i]
		if c < 0xE1 {
			if c >= 0x80 {
				_, n := utf8.DecodeRuneInString(t[i:])
				prev = 0x80
				i += n
				continue
			}
			prev = rune(c)
			i++
			if zwStart >= 0 && i-zwEnd > 16 {
				flushZW()
			}
			zwRun = 0
			if tagStart >= 0 {
				flushTags()
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(t[i:])
		switch {
		case r >= 0xE0000 && r <= 0xE007F:
			if tagStart < 0 {
				tagStart = i
			}
			tagEnd = i + n
		case isZeroWidth(r):
			flushTags()
			next, _ := utf8.DecodeRuneInString(t[i+n:])
			joiner := (r == 0x200D || r == 0x200C) && prev >= 0x80 && next >= 0x80 && !isZeroWidth(next)
			bom := r == 0xFEFF && i == 0
			if joiner || bom {
				break
			}
			if zwStart >= 0 && i-zwEnd > 16 {
				flushZW()
			}
			if zwStart < 0 {
				zwStart = i
			}
			if i == zwEnd {
				zwRun++
			} else {
				zwRun = 1
			}
			zwMaxRun = max(zwMaxRun, zwRun)
			zwEnd = i + n
			zwCount++
		default:
			flushTags()
			zwRun = 0
		}
		prev = r
		i += n
	}
	flushTags()
	flushZW()
	return out
}

func isZeroWidth(r rune) bool {
	switch r {
	case 0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF, 0x180E:
		return true
	}
	return false
}

// base64Injection decodes runs of at least 24 base64 characters that decode
// to text and reports the run when the text holds injection markers. It does
// not find base64 split across lines or wrapped in other encodings.
func base64Injection(s scan, depth int) []Finding {
	t := s.text
	var out []Finding
	for i := 0; i < len(t); {
		if !isB64(t[i]) {
			i++
			continue
		}
		j := i
		for j < len(t) && isB64(t[j]) {
			j++
		}
		end := j
		for end < len(t) && end-j < 2 && t[end] == '=' {
			end++
		}
		if j-i >= 24 && (i == 0 || !isAlnum(t[i-1])) {
			if dec, ok := decodeB64(t[i:j]); ok && isText(dec) {
				if len(scanInjection(newScan(dec), depth+1)) > 0 {
					out = append(out, s.finding(Injection, "injection.base64", i, end))
				}
			}
		}
		i = end
		if i == j {
			i++
		}
	}
	return out
}

func isB64(c byte) bool { return byteClass[c]&clB64 != 0 }

func decodeB64(run string) (string, bool) {
	if len(run)%4 == 1 {
		run = run[:len(run)-1]
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(run, "-_") {
		if strings.ContainsAny(run, "+/") {
			return "", false
		}
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(run)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// isText reports whether b is valid UTF-8 with at least 90% printable runes.
func isText(b string) bool {
	if !utf8.ValidString(b) {
		return false
	}
	bad, n := 0, 0
	for _, r := range b {
		n++
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7F {
			bad++
		}
	}
	return n > 0 && bad*10 <= n
}
