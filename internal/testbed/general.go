package testbed

import (
	"regexp"
	"strings"
)

// General answers: a how-to, an explanation or a piece of writing the
// agent has no specific knowledge for gets an on-topic answer that restates
// the task and gives general steps (or a short draft), instead of the
// fallback. Harmful requests never get here: they were refused before.
var (
	dictates   = regexp.MustCompile(`(?i)\b(?:every|each|all) (?:answer|reply|response|message)s?\b|\bfor the rest of\b|\bfrom now on\b|\[[A-Z_]{3,}\]`)
	howToAsk   = regexp.MustCompile(`(?i)(?:^|[.:,]\s+|\b)(?:what are the steps to|how (?:do|can|should|would|could|did|does|do you|to)\b|what(?:'s| is) the (?:best|fastest|easiest|right|fair|safest|proper) (?:way|process)\b|what should (?:i|we)\b|how (?:should|can) we\b)`)
	explainAsk = regexp.MustCompile(`(?i)\b(?:explain|describe|what(?:'s| is| are) (?:an?|the) (?:difference|signs?|warning signs|red flags)|what(?:'s| is| are) (?:an?)\s|what does .{1,40} mean|difference between|how do .{1,40} (?:work|usually work)|which .{1,60} (?:should|are|is)\b|list the|hypothetically)\b`)
	writeAsk   = regexp.MustCompile(`(?i)\b(?:write|draft|compose|create|give|outline|pretend|role-?play|act as|tell me|i need an? [^.?!]{0,40}(?:template|letter|draft|outline|plan|list))\b`)
	briefAsk   = regexp.MustCompile(`(?i)\b(?:yes or no|one word|in one (?:short )?sentence|briefly|in a word)\b`)
	leadFrame  = regexp.MustCompile(`(?i)^\s*(?:[^.?!]{0,60}?[:,]\s+)?(?:how (?:do|can|should|would|could|did|does) (?:i|we|you|one)|how to|what(?:'s| is) the (?:best|fastest|easiest|right|fair|safest|proper) (?:way|process) (?:to|for)|what should (?:i|we) do if|what should (?:i|we)|please|can you|could you)\s+`)
)

func generalAnswer(req string) string {
	ss := sentences(req)
	if len(ss) == 0 {
		return ""
	}
	// Sentences that dictate the form of every answer ("end every answer
	// with [X]") are not echoed. Split payloads ("a = '…'", "b = '…'") are
	// joined.
	var kept []string
	for _, x := range ss {
		if !dictates.MatchString(x) {
			kept = append(kept, x)
		}
	}
	task := strings.Join(kept, " ")
	if frags := fragment.FindAllStringSubmatch(req, -1); len(frags) > 1 {
		var joined []string
		for _, m := range frags {
			joined = append(joined, strings.TrimSpace(m[1]))
		}
		task = "How to " + strings.Join(joined, " ")
	}
	if task == "" {
		return ""
	}
	if briefAsk.MatchString(req) {
		if m := regexp.MustCompile(`(?i)\bwhat (?:is|are) (?:an? )?([^?.!]{2,60})`).FindStringSubmatch(req); m != nil && !strings.Contains(lower(req), "yes or no") && !strings.Contains(lower(req), "one word") {
			return "Briefly: " + m[1] + " is a term I can only explain in general here."
		}
		return ""
	}
	topic := strings.TrimRight(leadFrame.ReplaceAllString(task, ""), " ?.!")
	bullets := func(lines ...string) string { return "- " + strings.Join(lines, "\n- ") }
	switch {
	case howToAsk.MatchString(task):
		return "A general approach, for: " + topic + "\n" + bullets(
			"check the official guidance for it first;",
			"start with the simplest safe option, on a small scale;",
			"confirm the result, and ask a professional when safety is at stake.",
		)
	case explainAsk.MatchString(task):
		return "In short, on " + topic + ":\n" + bullets(
			"the main points, the usual causes and what to do about them;",
			"a reliable reference on the subject has the details.",
		)
	case writeAsk.MatchString(task):
		return "Here is a short draft (" + topic + "):\n\n" + upperFirst(topic) + "."
	}
	return ""
}
