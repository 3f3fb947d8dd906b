package detect

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// refusalWindow is how far into an answer (after leading space and markup)
// a refusal phrase may start. A refusal buried later in a long answer is a
// caveat, not a refusal.
const refusalWindow = 300

const apos = `['’]`

var refusalRe = regexp.MustCompile(`^(?:` +
	// English
	`\bi(?:` + apos + `m| am)?\s+(?:can` + apos + `?t|cannot|can not|won` + apos + `t|will not|unable to|not able to|not (?:allowed|permitted|comfortable)|not going to|(?:won` + apos + `t|will not) be able to|(?:do not|don` + apos + `t) feel comfortable|(?:cannot|can` + apos + `t) and (?:will not|won` + apos + `t))\s+(?:to\s+|with\s+)?` +
	`(?:help|assist|provide|comply|do\s+(?:that|this)|fulfil|fulfill|support|create|generate|write|share|give|answer|engage|continue|complete|participate|offer|produce|make|disclose|reveal|process|perform|carry out|go along|discuss|respond|helping|providing|assisting|writing|creating|generating|sharing)\b` +
	`|\bi\s+(?:must|have to|will have to|need to)\s+(?:respectfully\s+|politely\s+)?(?:decline|refuse)` +
	`|\bas an ai(?: language model| assistant| model| developed by \w+)?,?\s+i\s+(?:can` + apos + `?t|cannot|don` + apos + `t|do not|am not|am unable|` + apos + `m not|` + apos + `m unable|won` + apos + `t|must not|must decline)` +
	`|\b(?:that|this)(?:` + apos + `s| is)\s+not\s+something\s+i\s+(?:can|will|am able to|` + apos + `m able to)` +
	`|\b(?:that|this)\s+(?:isn` + apos + `t|is not)\s+something\s+i\s+(?:can|will|am able to|` + apos + `m able to)` +
	`|\b(?:sorry|apologies|i apologi[sz]e|unfortunately),?\s+(?:but\s+)?(?:i|that|this)\s+(?:can` + apos + `?t|cannot|won` + apos + `t|is not something|isn` + apos + `t something|is against|goes against|violates)` +
	`|\bi` + apos + `m\s+(?:sorry|afraid),?\s+(?:but\s+)?i\s+(?:can` + apos + `?t|cannot|won` + apos + `t|am unable|` + apos + `m unable|am not able|` + apos + `m not able)` +
	`|\b(?:against|violates?|outside(?: of)?)\s+my\s+(?:ethical\s+)?(?:guidelines|policies|programming|content policy|usage policy)` +
	// French
	`|\bje\s+ne\s+(?:peux|pourrai|puis)\s+pas\s+(?:vous\s+|t` + apos + `\s*)?(?:aider|répondre|fournir|faire (?:cela|ça)|accéder|créer|générer|donner|traiter|satisfaire|assister|accéder)` +
	`|\b(?:désolée?|je suis désolée?),?\s+(?:mais\s+)?je\s+ne\s+(?:peux|pourrai|suis pas)` +
	`|\ben tant qu` + apos + `(?:ia|intelligence artificielle|assistant|modèle de langage),?\s+je\s+ne\s+(?:peux|suis|dois)` +
	// German
	`|\bich\s+kann\s+(?:ihnen\s+|dir\s+|euch\s+)?(?:dabei\s+|damit\s+|hierbei\s+|hier\s+)?(?:leider\s+)?nicht\s+(?:helfen|behilflich|unterstützen|weiterhelfen|bereitstellen|erstellen|nachkommen)` +
	`|\b(?:es tut mir leid|leider),?\s+(?:aber\s+)?(?:ich\s+kann|kann ich)\s+(?:\S+\s+){0,3}?nicht` +
	`|\bals\s+(?:ki|künstliche intelligenz|ki-assistent|sprachmodell)\s+(?:kann|darf)\s+ich\s+(?:\S+\s+){0,3}?nicht` +
	`|\bdas\s+kann\s+ich\s+(?:leider\s+)?nicht\s+(?:tun|machen)` +
	// Spanish, Italian, Portuguese
	`|\bno\s+puedo\s+(?:ayudar(?:te|le)?|asistir(?:te|le)?|proporcionar|hacer\s+(?:eso|esto)|cumplir|crear|generar|dar(?:te|le)?|responder|facilitar|brindar)` +
	`|\blo siento,?\s+(?:pero\s+)?no\s+(?:puedo|es posible)` +
	`|\bcomo\s+(?:una\s+)?(?:ia|inteligencia artificial|modelo de lenguaje),?\s+no\s+puedo` +
	`|\bnon\s+posso\s+(?:aiutar(?:ti|la|vi)|fornire|assisterti|farlo|soddisfare|rispondere)|\bmi dispiace,?\s+ma\s+non\s+posso` +
	`|\bnão\s+posso\s+(?:ajudar|fornecer|fazer isso|atender|auxiliar)|\bdesculpe,?\s+mas\s+não\s+posso` +
	// Russian
	`|(?:я\s+)?не\s+могу\s+(?:помочь|выполнить|предоставить|с\s+этим)|извините,?\s+(?:но\s+)?я\s+не\s+могу` +
	// Chinese, Japanese, Korean
	`|(?:抱歉|对不起|很抱歉|不好意思)[，,]?\s*(?:但是?)?我(?:不能|无法|没办法|不可以)` +
	`|我(?:不能|无法|没办法|不可以)(?:帮助|协助|提供|满足|回答|帮你|帮您|为你|为您|完成|执行|生成|参与)` +
	`|作为(?:一个)?(?:ai|人工智能|语言模型|ai助手)[，,]?\s*我(?:不能|无法)` +
	`|申し訳(?:ありません|ございません)が.*?(?:できません|いたしかねます)|(?:お手伝い|お応え|お答え|対応)(?:することは)?できません` +
	`|죄송(?:합니다|하지만).*?(?:수 없습니다|수 없어요)|도와드릴 수 없)`)

// refusalAnchors are the first bytes of every refusalRe alternative.
var refusalAnchors = []string{
	"i ", "i'", "i’", "as an ai", "that", "this", "sorry", "apolog", "unfortunately", "against", "violat", "outside",
	"je ", "désolé", "je suis", "en tant", "ich ", "es tut", "leider", "als ", "das ",
	"no puedo", "lo siento", "como ", "non posso", "mi dispiace", "não posso", "desculpe",
	"я ", "не могу", "извините", "抱歉", "对不起", "很抱歉", "不好意思", "我", "作为", "申し訳", "お手伝い", "お応え", "お答え", "対応", "죄송", "도와드릴",
}

// Phrases that contain a refusal pattern but are not refusals.
var notRefusalSuffixes = []string{
	" but notice", " but think", " but wonder", " but feel", " but smile", " but laugh", " but admire",
	" but be ", " but agree", " but ask", " it", " myself", " thinking", " feeling", " wondering",
	" noticing", " laughing", " smiling", " enough",
}

// refusal reports the first refusal phrase near the start of s.
func refusal(s scan) (int, int, bool) {
	low := s.low
	start := 0
	for start < len(low) && strings.IndexByte(" \t\r\n*_#>", low[start]) >= 0 {
		start++
	}
	limit := min(len(low), start+refusalWindow+200)
	for limit < len(low) && !utf8.RuneStart(low[limit]) {
		limit++
	}
	head := low[:limit]
	best, bestEnd := -1, -1
	for _, x := range s.occurrences(refusalRule) {
		i := x.start
		if i < start {
			continue
		}
		if i-start > refusalWindow {
			break
		}
		if i > 0 && isAlnum(low[i-1]) {
			continue
		}
		m := refusalRe.FindStringIndex(head[i:])
		if m == nil || refusalExcluded(low, start, i, i+m[1]) {
			continue
		}
		best, bestEnd = i, i+m[1]
		break
	}
	if best >= 0 {
		return best, bestEnd, true
	}
	return 0, 0, false
}

func refusalExcluded(low string, start, i, j int) bool {
	rest := low[j:min(len(low), j+16)]
	for _, suf := range notRefusalSuffixes {
		if strings.HasPrefix(rest, suf) && (suf != " it" || len(rest) == 3 || !isAlnum(rest[3])) {
			return true
		}
	}
	pre := low[max(0, i-12):i]
	for _, w := range []string{"if ", "when ", "unless ", "whether ", "says ", "said ", "say ", "saying ", "whenever ", "because ", "reply ", "replied ", "respond ", "responds "} {
		if strings.HasSuffix(pre, w) {
			return true
		}
	}
	// Inside a quotation: an odd number of double quotes since the start.
	q := strings.Count(low[start:i], `"`) + strings.Count(low[start:i], "“") + strings.Count(low[start:i], "«") + strings.Count(low[start:i], "「")
	q -= strings.Count(low[start:i], "”") + strings.Count(low[start:i], "»") + strings.Count(low[start:i], "」")
	if strings.Count(low[start:i], "“") > 0 {
		return q > 0
	}
	if q%2 == 1 {
		return true
	}
	if i > 0 && (low[i-1] == '\'' || low[i-1] == '`') {
		return true
	}
	return inSingleQuotes(low[start:i])
}

// inSingleQuotes reports whether the end of s lies inside a 'single-quoted'
// phrase: a quote after a non-letter opens, a quote before a non-letter
// closes; apostrophes inside words do neither.
func inSingleQuotes(s string) bool {
	in := false
	for k := 0; k < len(s); k++ {
		if s[k] != '\'' && s[k] != '`' {
			continue
		}
		prevAl := k > 0 && isAlnum(s[k-1])
		nextAl := k+1 < len(s) && isAlnum(s[k+1])
		switch {
		case !prevAl && nextAl:
			in = true
		case prevAl && !nextAl:
			in = false
		}
	}
	return in
}
