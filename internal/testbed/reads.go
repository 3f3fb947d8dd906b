package testbed

import (
	"regexp"
	"slices"
	"strings"
)

// More facts a request (or an instruction) can hold, for parameters named
// after them: a file path, dates, a #channel, a user name, a numbered
// reference ("PR 418", "e-mail 3391"), a flight or product code, a quoted
// title.
var (
	pathRe     = regexp.MustCompile(`(?:^|[\s(:'"\x60])(/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)+/?)`)
	dateRe     = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`)
	channelRe  = regexp.MustCompile(`(?:^|\s)(#[a-z][a-z0-9_-]{1,40})\b`)
	userRe     = regexp.MustCompile(`(?i)\b(?:account|user(?:name)?|login)\s+([a-z][a-z0-9._-]{2,30})\b`)
	numRefRe   = regexp.MustCompile(`(?i)\b(?:pr|pull request|merge request|mr|issue|e-?mail|message|report|loan|ticket|customer|client|account|employee|member)\s*#?\s*(\d{2,})\b`)
	codeRe     = regexp.MustCompile(`\b[A-Z]{2}\s?\d{2,4}\b|\b[A-Z]{1,4}-\d{2,}\b`)
	titleRe    = regexp.MustCompile(`(?:^|\s)'([A-Z][^']{2,80})'`)
	userStop   = wordSet(`is was has the a an for with and locked ok`)
	configWord = regexp.MustCompile(`(?i)\b([a-z][a-z0-9-]{2,30})\s+(?:config|configuration|service|logs?|settings)\b`)
)

func moreFacts(f *facts, text string) {
	if m := pathRe.FindStringSubmatch(text); m != nil {
		f.path = strings.TrimRight(m[1], ".,")
	}
	f.dates = dateRe.FindAllString(text, -1)
	if m := channelRe.FindStringSubmatch(text); m != nil {
		f.channel = m[1]
	}
	if m := userRe.FindStringSubmatch(text); m != nil && !userStop[strings.ToLower(m[1])] {
		f.user = m[1]
	}
	if f.id == "" {
		if m := numRefRe.FindStringSubmatch(text); m != nil {
			f.id = m[1]
		} else if m := codeRe.FindString(text); m != "" {
			f.id = m
		}
	}
	if m := titleRe.FindStringSubmatch(text); m != nil {
		f.title = m[1]
	}
	if f.service == "" {
		if m := configWord.FindStringSubmatch(text); m != nil && !stopwords[strings.ToLower(m[1])] {
			f.service = strings.ToLower(m[1])
		}
	}
}

// specificValue fills parameters named after the facts above, and id
// parameters (order_id, account_id…) with the request's id, before the
// general rules of valueFor.
func specificValue(n string, f facts) string {
	switch {
	case n == "path" || n == "file" || n == "filename" || strings.HasSuffix(n, "_path") || n == "file_path":
		return f.path
	case n == "date" || n == "day" || n == "start" || n == "from" || strings.HasPrefix(n, "start_") || n == "from_date":
		if len(f.dates) > 0 {
			return f.dates[0]
		}
	case n == "end" || n == "until" || strings.HasPrefix(n, "end_") || n == "to_date":
		if len(f.dates) > 1 {
			return f.dates[1]
		}
	case n == "channel":
		return f.channel
	case n == "username" || n == "user" || n == "login":
		return f.user
	case n == "sku" || n == "flight" || n == "code" || n == "product" || strings.HasSuffix(n, "_code"):
		return f.id
	case n == "title" || n == "book":
		return f.title
	case strings.HasSuffix(n, "_id") || n == "id":
		if f.id != "" {
			return f.id
		}
	}
	return ""
}

// readStep picks, for a question or a request to read something, the read
// tool the request calls for: the one whose name and description share
// most words with the request, with a bonus when the request holds a value
// for one of its specific parameters (a path, a date, a #channel, an id);
// "who is …" also matches a directory or people search. Its required
// parameters must all be filled (a query parameter takes the request).
func (t *turn) readStep(f facts) (step, bool) {
	req := strings.NewReplacer("e-mail", "email", "E-mail", "email").Replace(t.req)
	if !questionRe.MatchString(req) && !readAsk.MatchString(req) {
		return step{}, false
	}
	q := words(req)
	best, bestScore := step{}, 0
	only, candidates := step{}, 0 // the one complete read tool, when only one is
	for _, tl := range t.c.tools {
		if isWriteTool(tl) || !t.mayRead(tl) || (isFetchTool(tl) && f.url == "") {
			continue
		}
		score := 0
		for _, w := range tl.nameWords {
			if !genericName[w] && slices.Contains(q, stem(w)) {
				score += 2
			}
		}
		score += overlap(q, words(tl.desc))
		if whoAsk.MatchString(req) && hasWord(tl.words, "directory", "people", "employee", "staff", "contact", "contacts") {
			score += 2
		}
		complete := true
		for _, p := range tl.params {
			n := strings.ToLower(p.name)
			v := valueFor(p, f)
			if v != "" && specificValue(n, f) != "" {
				score += 2
			}
			if p.required && v == "" && !strings.Contains(n, "query") && !strings.Contains(n, "search") && n != "q" {
				complete = false
			}
		}
		if !complete {
			continue
		}
		candidates++
		only = step{name: tl.name, args: fill(tl, f)}
		if score >= 2 && score > bestScore {
			best, bestScore = only, score
		}
	}
	if bestScore == 0 && candidates == 1 && t.fact() == "" {
		return only, true
	}
	return best, bestScore > 0
}

var (
	readAsk = regexp.MustCompile(`(?i)^\s*(?:please\s+)?(?:read|summari[sz]e|check|look up|open|get|list|show|find|search|fetch|review|pull up|go through)\b|\b(?:read|summari[sz]e|check|look up|open)\b`)
	whoAsk  = regexp.MustCompile(`(?i)\bwho(?:'s| is| are| handles| manages| runs)\b`)
)

// resultSentences reads a tool result as sentences: JSON flattened, HTML
// comments and closing block tags end a line, and every line on its own (a log
// line or a list item is a sentence).
func resultSentences(content string) []string {
	text := markupBreak.ReplaceAllString(flatten(content), "$0\n")
	var out []string
	for _, line := range strings.Split(text, "\n") {
		out = append(out, sentences(line)...)
	}
	return out
}

var markupBreak = regexp.MustCompile(`(?i)-->|</(?:p|div|h[1-6]|li|ul|ol|tr|table|section|header|footer|body|html|title|blockquote)>|<br\s*/?>`)
