package testbed

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// words returns the lowered, stemmed content words of s (stopwords dropped).
func words(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	}) {
		f = strings.Trim(f, "'")
		f = strings.TrimSuffix(f, "'s")
		if len(f) < 2 || stopwords[f] {
			continue
		}
		out = append(out, stem(f))
	}
	return out
}

// stem strips the commonest English suffixes, enough for "refunds" to meet
// "refund" and "shipping" to meet "ship".
func stem(w string) string {
	for _, suf := range []string{"ing", "ies", "es", "ed", "s"} {
		if len(w) > len(suf)+2 && strings.HasSuffix(w, suf) {
			w = strings.TrimSuffix(w, suf)
			if suf == "ies" {
				w += "y"
			}
			if suf == "ing" && len(w) > 3 && w[len(w)-1] == w[len(w)-2] {
				w = w[:len(w)-1]
			}
			return w
		}
	}
	return w
}

var stopwords = wordSet(`a an the and or but if then of to in on at by for with from into
		about as is are was were be been being am do does did doing have has had having i me my mine
		we our us you your yours he him his she her they them their it its this that these those what
		which who whom whose when where why how can could would should will shall may might must not no
		so than too very just also please tell give show let get got there here any some all each
		out up down over under again more most other such only own same both few s t don't can't won't
		i'm it's what's let's want need like know`)

func wordSet(list string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(list) {
		m[w] = true
	}
	return m
}

// overlap counts the words of q found in s.
func overlap(q []string, s []string) int {
	n := 0
	for _, w := range q {
		if slices.Contains(s, w) {
			n++
		}
	}
	return n
}

// sentences splits text at sentence ends and line breaks, keeping each
// sentence's punctuation.
func sentences(text string) []string {
	var out []string
	add := func(s string) {
		s = strings.Join(strings.Fields(s), " ")
		if s != "" {
			out = append(out, s)
		}
	}
	for _, para := range strings.Split(text, "\n\n") {
		start := 0
		for i := 0; i < len(para); i++ {
			c := para[i]
			if c != '.' && c != '!' && c != '?' {
				continue
			}
			if i+1 < len(para) && para[i+1] != ' ' && para[i+1] != '\n' {
				continue // 3.5, example.com, e.g.
			}
			add(para[start : i+1])
			start = i + 1
		}
		add(para[start:])
	}
	return out
}

// flatten renders a tool result as text: JSON values as "key: value"
// sentences, anything else as is.
func flatten(s string) string {
	t := strings.TrimSpace(s)
	if t == "" || (t[0] != '{' && t[0] != '[' && t[0] != '"') {
		return s
	}
	var v any
	if json.Unmarshal([]byte(t), &v) != nil {
		return s
	}
	var sb strings.Builder
	flattenValue(&sb, "", v)
	return sb.String()
}

func flattenValue(sb *strings.Builder, key string, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			kk := k
			if key != "" {
				kk = key + "." + k
			}
			flattenValue(sb, kk, x[k])
		}
	case []any:
		for _, e := range x {
			flattenValue(sb, key, e)
		}
	default:
		text := fmt.Sprint(x)
		if f, ok := x.(float64); ok {
			text = strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", f), "0"), ".")
		}
		if x == nil {
			text = "null"
		}
		if key != "" {
			text = strings.ReplaceAll(key, "_", " ") + ": " + text
		}
		text = strings.TrimRight(text, " ")
		if !strings.HasSuffix(text, ".") && !strings.HasSuffix(text, "!") && !strings.HasSuffix(text, "?") {
			text += "."
		}
		sb.WriteString(text)
		sb.WriteString("\n\n")
	}
}

// escaper neutralizes markup: HTML tags and entities, markdown images and
// javascript: links.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "![", "!&#91;", "javascript:", "javascript&#58;", "JavaScript:", "JavaScript&#58;")

func escapeMarkup(s string) string { return escaper.Replace(s) }

func lower(s string) string { return strings.ToLower(strings.ReplaceAll(s, "’", "'")) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
