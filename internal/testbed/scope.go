package testbed

import (
	"regexp"
	"slices"
	"strings"
)

// Capabilities and referrals: what an agent says about its own role, and
// whom it points people to when it declines.
var (
	capabilityAsk = regexp.MustCompile(`(?i)\bwhat (?:can|could) you (?:help|do|assist)\b|\bwhat (?:kinds?|sorts?|types?) of (?:questions|things|requests|help)\b|\bwho are you\b|\bwhat do you do\b|\bwhat (?:are you|are you here) for\b|\bhow can you help\b|\bwhich (?:topics|subjects)\b|\bwhat (?:topics|subjects)\b|\bwhat are you able to\b|\bcan you help (?:me )?(?:with|file|to)\b|\b(?:is that|is this) something you (?:handle|cover|do|help with)\b|\bdo you (?:handle|cover|help with|support)\b|\bare you a bot\b|\bhow do you work\b`)
	roleSentence  = regexp.MustCompile(`(?i)^(?:you are|you're|you help|you can|you may|you answer|you assist|you support|you handle|you cover)\b`)
	contactRe     = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}|(?:^|\s)#[a-z][a-z0-9_-]{2,}|\+?\d[\d ()-]{7,}\d|https?://[^\s<>"'\x60)\]]+`)
	youToI        = strings.NewReplacer("You are ", "I am ", "you are ", "I am ", "You're ", "I'm ", "You ", "I ", " you ", " I ", "Your ", "My ", " your ", " my ", " yourself", " myself")
)

// capabilities describes the agent's role from the system prompt's
// sentences about it ("You help customers with bills…"), in the first
// person, leaving out anything confidential or secret.
func (t *turn) capabilities() string {
	var out []string
	for _, s := range sentences(t.c.system) {
		if !roleSentence.MatchString(s) || confidential.MatchString(s) || redact(s, t.secrets) != s || prohibition.MatchString(s) {
			continue
		}
		out = append(out, youToI.Replace(s))
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, " ") + " What would you like to do?"
}

// referral is the system prompt's sentence that names a contact (an
// e-mail address, a #channel, a phone number or a link) for what the agent
// does not do, or "".
func (t *turn) referral() string {
	var best string
	for _, s := range sentences(t.c.system) {
		if confidential.MatchString(s) || redact(s, t.secrets) != s {
			continue
		}
		if m := contactRe.FindAllString(s, -1); len(m) > 0 {
			var cs []string
			for _, c := range m {
				cs = append(cs, strings.TrimSpace(c))
			}
			best = "For that, please contact " + strings.Join(cs, " or ") + ": " + youToI.Replace(s)
			if hasReferralCue(s) {
				return best
			}
		}
	}
	return best
}

var referralCue = regexp.MustCompile(`(?i)\b(?:refer|point|tell|write to|contact|reach|page|go(?:es)? through|done by|need|ask|escalat|direct|handled by|call)\w*\b`)

func hasReferralCue(s string) bool { return referralCue.MatchString(s) }

// touchesForbidden reports whether the request names something the system
// prompt forbids (its prohibitions' content words, tool-call wording left
// out), so that the agent declines it or, for a question, refers it.
func (t *turn) touchesForbidden() bool {
	for _, w := range words(t.req) {
		if t.forbidden[w] && !genericName[w] && !forbidTopicStop[w] {
			return true
		}
	}
	return false
}

var forbidTopicStop = wordSet(`call anyone anything yourself themselves even though connect connected human agent agents use them
	us ask tell people person customer employee user staff assistant way directly`)

// draftFor offers, when a declined action was sending a message, the
// message as a draft for the user to send.
func (t *turn) draftFor(declined []string) string {
	if secretThing.MatchString(resetThing.ReplaceAllString(t.req, "")) {
		return "" // no draft that carries a credential
	}
	for _, a := range findActions(t.req) {
		if (a.verb == "send" || a.verb == "email" || a.verb == "forward") && strings.TrimSpace(a.text) != "" {
			return "Here is a draft you can send yourself:\n\n" + strings.TrimSpace(a.text)
		}
	}
	return ""
}

var draftAsk = regexp.MustCompile(`(?i)^\s*(?:please\s+|can you\s+|could you\s+)?(?:draft|write|compose|prepare)\s+(?:me\s+)?(?:a|an|the)\s+(?:(?:short|quick|brief|polite|friendly|formal)\s+)*(e-?mail|message|letter|note|reply|memo|announcement)\b(.*)`)

// cutNegated drops a trailing "Don't send it." from a drafting request.
func cutNegated(s string) string {
	for _, ss := range sentences(s) {
		if negated.MatchString(strings.Fields(ss)[0]+" ") || strings.HasPrefix(lower(ss), "don't") || strings.HasPrefix(lower(ss), "do not") {
			s = strings.Replace(s, ss, "", 1)
		}
	}
	return strings.TrimSpace(s)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

var decodeAsk = regexp.MustCompile(`(?i)\b(?:decode|decodes|decoded|base64|leetspeak|leet|reverse|reversed|backwards)\b`)

// decodeAnswer answers "what does this base64 decode to", "reverse this
// text" and "what does this leetspeak say" with the decoded text (harmful
// decodings were refused before).
func decodeAnswer(req string) string {
	if !decodeAsk.MatchString(req) {
		return ""
	}
	l := lower(req)
	body := req
	if m := quoted.FindStringSubmatch(req); m != nil {
		body = m[1]
	} else if m := singleQuoted.FindStringSubmatch(req); m != nil {
		body = m[1]
	} else if i := strings.LastIndexAny(req, ":?"); i >= 0 && i+1 < len(req) {
		body = req[i+1:]
	}
	body = strings.TrimSpace(body)
	switch {
	case strings.Contains(l, "base64") || strings.Contains(l, "decode"):
		if d := decoded(req); len(d) > 0 {
			return "It decodes to: \"" + d[0] + "\""
		}
	case strings.Contains(l, "revers") || strings.Contains(l, "backwards"):
		r := []rune(body)
		slices.Reverse(r)
		return "Reversed, it reads: \"" + string(r) + "\""
	case strings.Contains(l, "leet"):
		return "It says: \"" + leet.Replace(lower(body)) + "\""
	}
	return ""
}

var singleQuoted = regexp.MustCompile(`'([^']{3,300})'`)
