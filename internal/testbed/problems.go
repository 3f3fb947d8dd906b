package testbed

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Worded arithmetic: phrasings of the common calculations that calculate's
// expression parser cannot read, each a pattern with its formula.
var (
	num     = `(\d+(?:\.\d+)?)`
	typoFix = strings.NewReplacer("tiems", "times", "tims", "times", "timse", "times", "percnt", "percent", "precent", "percent", "perecnt", "percent",
		"convrt", "convert", "mils", "miles", "kilometres", "kilometers", "farenheit", "fahrenheit", "celcius", "celsius", "mnay", "many", "waht", "what", "wat ", "what ", "whats", "what is",
		" por ", " times ", "geteilt durch", "divided by", " mal ", " times ", "meilen", "miles", "grados fahrenheit", "fahrenheit", "grados celsius", "celsius", "grados", "degrees")
	powerOf     = regexp.MustCompile(`(?i)` + num + `\s+(?:to the power of|raised to(?: the power of)?|to the)\s+` + num)
	productOf   = regexp.MustCompile(`(?i)\bproduct of\s+` + num + `\s+and\s+` + num)
	sumOf       = regexp.MustCompile(`(?i)\bsum of\s+` + num + `\s+and\s+` + num)
	sqrtOf      = regexp.MustCompile(`(?i)\bsquare root of\s+` + num)
	averageOf   = regexp.MustCompile(`(?i)\b(?:average|mean) of\s+([\d.,\s]+(?:and\s+\d+(?:\.\d+)?)?)`)
	pctOfIs     = regexp.MustCompile(`(?i)\bwhat percent(?:age)? of\s+` + num + `\s+is\s+` + num)
	pctIncrease = regexp.MustCompile(`(?i)\bfrom\s+` + num + `\s+to\s+` + num + `\b.*\bpercent(?:age)?\s+(increase|decrease|change)`)
	pctOff      = regexp.MustCompile(`(?i)` + num + `\s*(?:dollars|euros|pounds|usd|eur)?\b.*?\b` + num + `\s*%\s*off\b`)
	pctTax      = regexp.MustCompile(`(?i)` + num + `\s*(?:dollars?|euros?|pounds?)?\s+item\b.*?\b` + num + `\s*%\s*(?:sales )?tax|` + num + `\s*%\s*(?:sales )?tax\b.*?\b` + num)
	pctTip      = regexp.MustCompile(`(?i)` + num + `\s*%\s*tip\b.*?\b` + num + `|` + num + `\s*(?:dollars|euros|pounds)\b.*?\b` + num + `\s*%\s*tip\b`)
	compound    = regexp.MustCompile(`(?i)\binvest\w*\s+` + num + `\s+at\s+` + num + `\s*%.*?\b(?:after|for|in)\s+` + num + `\s+years?`)
	asDecimal   = regexp.MustCompile(`(?i)\b` + num + `\s*/\s*` + num + `\s+(?:as|in|to) (?:a )?decimal`)
	hoursMins   = regexp.MustCompile(`(?i)\bminutes\b.*?\b` + num + `\s*h(?:ours?)?\s*(?:and\s+)?` + num + `\s*m(?:in(?:utes?)?)?\b`)
	packsOf     = regexp.MustCompile(`(?i)\b` + num + `\s+(?:boxes|packs|bags|cartons|crates|dozens?) of\s+` + num + `\b.*?\b` + num + `\s+(?:broke|were broken|broken|got lost|were lost|lost|were eaten|went bad)`)
	sharedInto  = regexp.MustCompile(`(?i)` + num + `\s+\w+\s+to (?:pack|split|share|divide)\w* (?:into|between|among)\s+` + num)
)

// wordProblem answers the worded calculations above, percentages with "%".
func wordProblem(text string) (string, bool) {
	r := func(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
	f := func(v float64) string { return formatRat(new(big.Rat).SetFloat64(math.Round(v*1e6)/1e6), 4) }
	switch m := ([]string)(nil); {
	case func() bool { m = powerOf.FindStringSubmatch(text); return m != nil }():
		return f(math.Pow(r(m[1]), r(m[2]))), true
	case func() bool { m = productOf.FindStringSubmatch(text); return m != nil }():
		return f(r(m[1]) * r(m[2])), true
	case func() bool { m = sumOf.FindStringSubmatch(text); return m != nil }():
		return f(r(m[1]) + r(m[2])), true
	case func() bool { m = sqrtOf.FindStringSubmatch(text); return m != nil }():
		return f(math.Sqrt(r(m[1]))), true
	case func() bool { m = averageOf.FindStringSubmatch(text); return m != nil }():
		ns := numberRe.FindAllString(m[1], -1)
		if len(ns) == 0 {
			return "", false
		}
		t := 0.0
		for _, n := range ns {
			t += r(n)
		}
		return f(t / float64(len(ns))), true
	case func() bool { m = pctOfIs.FindStringSubmatch(text); return m != nil }():
		return f(r(m[2])/r(m[1])*100) + "%", true
	case func() bool { m = pctIncrease.FindStringSubmatch(text); return m != nil }():
		return f((r(m[2])-r(m[1]))/r(m[1])*100) + "%", true
	case func() bool { m = compound.FindStringSubmatch(text); return m != nil }():
		return f(r(m[1]) * math.Pow(1+r(m[2])/100, r(m[3]))), true
	case func() bool { m = pctOff.FindStringSubmatch(text); return m != nil }():
		return f(r(m[1]) * (1 - r(m[2])/100)), true
	case func() bool { m = pctTax.FindStringSubmatch(text); return m != nil }():
		if m[1] != "" {
			return f(r(m[1]) * (1 + r(m[2])/100)), true
		}
		return f(r(m[4]) * (1 + r(m[3])/100)), true
	case func() bool { m = pctTip.FindStringSubmatch(text); return m != nil }():
		if m[1] != "" {
			return f(r(m[2]) * r(m[1]) / 100), true
		}
		return f(r(m[3]) * r(m[4]) / 100), true
	case func() bool { m = asDecimal.FindStringSubmatch(text); return m != nil && r(m[2]) != 0 }():
		return f(r(m[1]) / r(m[2])), true
	case func() bool { m = hoursMins.FindStringSubmatch(text); return m != nil }():
		return f(r(m[1])*60 + r(m[2])), true
	case func() bool { m = packsOf.FindStringSubmatch(text); return m != nil }():
		return f(r(m[1])*r(m[2]) - r(m[3])), true
	case func() bool { m = sharedInto.FindStringSubmatch(text); return m != nil && r(m[2]) != 0 }():
		return f(r(m[1]) / r(m[2])), true
	}
	return "", false
}
