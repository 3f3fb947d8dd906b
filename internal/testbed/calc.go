package testbed

import (
	"errors"
	"math/big"
	"regexp"
	"strings"
)

var (
	mathCue   = regexp.MustCompile(`(?i)\?\s*$|\bas a decimal\b|\b(?:what is|what's|whats|calculate|compute|evaluate|how much is|solve|work out)\b|=\s*\?|^\s*[-+*/().\d\s%^x×÷]+\??\s*$`)
	mathWords = strings.NewReplacer("multiplied by", "*", "times", "*", "divided by", "/", "plus", "+", "minus", "-",
		"×", "*", "÷", "/", "−", "-", "percent of", "% of", "squared", "^2", "cubed", "^3")
	mathTimesX = regexp.MustCompile(`(\d)\s*x\s*(\d|\()`)
	mathComma  = regexp.MustCompile(`(\d),(\d{3})`)
	mathOf     = regexp.MustCompile(`%\s*of\b`)
	mathRun    = regexp.MustCompile(`[-+*/().\d\s%^]+`)
	mathBinary = regexp.MustCompile(`[\d)%]\s*[-+*/^]\s*[-(]*\s*\.?\d|\d\s*%`)

	conversions = []struct {
		re   *regexp.Regexp
		unit string
		conv func(*big.Rat) *big.Rat
	}{
		{regexp.MustCompile(`(?i)(-?\d+(?:\.\d+)?)\s*(?:cm|centimet(?:er|re)s?)\b.*?\b(?:in|to|into|as)\s+(?:inch|inches|in)\b|\binches\b.*?\b(-?\d+(?:\.\d+)?)\s*(?:cm|centimet(?:er|re)s?)\b`), "inches", func(v *big.Rat) *big.Rat { return v.Quo(v, rat("2.54")) }},
		{regexp.MustCompile(`(?i)(-?\d+(?:\.\d+)?)\s*(?:inch|inches|in)\b.*?\b(?:in|to|into|as)\s+(?:cm|centimet(?:er|re)s?)\b`), "cm", func(v *big.Rat) *big.Rat { return v.Mul(v, rat("2.54")) }},
		{regexp.MustCompile(`(?i)\blit(?:er|re)s?\b.*?\b(one|\d+(?:\.\d+)?)\s*(?:us\s+)?gallons?\b`), "litres", func(v *big.Rat) *big.Rat { return v.Mul(v, rat("3.785411784")) }},
		{regexp.MustCompile(`(?i)\bmiles\b.*?\b(-?\d+(?:\.\d+)?)\s*(?:km|kilomet(?:er|re)s?)\b`), "miles", func(v *big.Rat) *big.Rat { return v.Quo(v, rat("1.609344")) }},
		{regexp.MustCompile(`(?i)\b(?:km|kilomet(?:er|re)s?)\b.*?\b(-?\d+(?:\.\d+)?)\s*(?:mi|miles?)\b`), "km", func(v *big.Rat) *big.Rat { return v.Mul(v, rat("1.609344")) }},
		{regexp.MustCompile(`(?i)(-?\d+(?:\.\d+)?)\s*(?:°|º|degrees?)?\s*(?:c|celsius)\b.*?\bfahrenheit\b|\bfahrenheit\b.*?(-?\d+(?:\.\d+)?)\s*(?:°|º|degrees?)?\s*(?:c|celsius)\b`), "°F", func(v *big.Rat) *big.Rat {
			v.Mul(v, big.NewRat(9, 5))
			return v.Add(v, big.NewRat(32, 1))
		}},
	}
	baseConversions = []struct {
		re   *regexp.Regexp
		unit string
		conv func(*big.Rat) *big.Rat
	}{
		{regexp.MustCompile(`(?i)(-?\d+(?:\.\d+)?)\s*(?:km|kilomet(?:er|re)s?)\b.*?\b(?:in|to|into|as)\s+(?:mi|miles?)\b`), "miles", func(v *big.Rat) *big.Rat { return v.Quo(v, rat("1.609344")) }},
		{regexp.MustCompile(`(?i)(-?\d+(?:\.\d+)?)\s*(?:mi|miles?)\b.*?\b(?:in|to|into|as)\s+(?:km|kilomet(?:er|re)s?)\b`), "km", func(v *big.Rat) *big.Rat { return v.Mul(v, rat("1.609344")) }},
		{regexp.MustCompile(`(?i)(-?\d+(?:\.\d+)?)\s*(?:kg|kilograms?|kilos?)\b.*?\b(?:in|to|into|as)\s+(?:lbs?|pounds?)\b`), "lb", func(v *big.Rat) *big.Rat { return v.Quo(v, rat("0.45359237")) }},
		{regexp.MustCompile(`(?i)(-?\d+(?:\.\d+)?)\s*(?:lbs?|pounds?)\b.*?\b(?:in|to|into|as)\s+(?:kg|kilograms?|kilos?)\b`), "kg", func(v *big.Rat) *big.Rat { return v.Mul(v, rat("0.45359237")) }},
		{regexp.MustCompile(`(?i)(-?\d+(?:\.\d+)?)\s*(?:°|º|degrees?)?\s*(?:c|celsius|centigrade)\b.*?\b(?:in|to|into|as)\s+(?:°|degrees?\s*)?\s*(?:f|fahrenheit)\b`), "°F", func(v *big.Rat) *big.Rat {
			v.Mul(v, big.NewRat(9, 5))
			return v.Add(v, big.NewRat(32, 1))
		}},
		{regexp.MustCompile(`(?i)(-?\d+(?:\.\d+)?)\s*(?:°|º|degrees?)?\s*(?:f|fahrenheit)\b.*?\b(?:in|to|into|as)\s+(?:°|degrees?\s*)?\s*(?:c|celsius|centigrade)\b`), "°C", func(v *big.Rat) *big.Rat {
			v.Sub(v, big.NewRat(32, 1))
			return v.Mul(v, big.NewRat(5, 9))
		}},
	}
)

func rat(s string) *big.Rat {
	r, _ := new(big.Rat).SetString(s)
	return r
}

// calculate answers a conversion or an arithmetic question, exactly.
func calculate(text string) (string, bool) {
	text = typoFix.Replace(" " + lower(text) + " ")
	if v, ok := wordProblem(text); ok {
		return v, true
	}
	for _, c := range append(baseConversions, conversions...) {
		if m := c.re.FindStringSubmatch(text); m != nil {
			v := m[1]
			for _, g := range m[1:] {
				if g != "" {
					v = g
					break
				}
			}
			if v == "one" {
				v = "1"
			}
			return formatRat(c.conv(rat(v)), 4) + " " + c.unit, true
		}
	}
	if !mathCue.MatchString(text) {
		return "", false
	}
	s := mathWords.Replace(strings.ToLower(text))
	s = mathComma.ReplaceAllString(s, "$1$2")
	s = mathTimesX.ReplaceAllString(s, "$1*$2")
	s = mathOf.ReplaceAllString(s, "%*")
	best := ""
	for _, run := range mathRun.FindAllString(s, -1) {
		if mathBinary.MatchString(run) && len(strings.TrimSpace(run)) > len(best) {
			best = strings.TrimSpace(run)
		}
	}
	if best == "" {
		return "", false
	}
	v, err := evaluate(best)
	if errors.Is(err, errDivZero) {
		return "Division by zero is undefined.", true
	}
	if err != nil {
		return "", false
	}
	return formatRat(v, 10), true
}

// formatRat writes an integer as is, else a decimal with at most prec
// places and no trailing zeros.
func formatRat(v *big.Rat, prec int) string {
	if v.IsInt() {
		return v.Num().String()
	}
	s := v.FloatString(prec)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

var (
	errDivZero = errors.New("division by zero")
	errSyntax  = errors.New("not an expression")
)

// evaluate computes + - * / ^ (integer powers), postfix % and parentheses
// over rationals.
func evaluate(s string) (*big.Rat, error) {
	p := &exprParser{s: strings.ReplaceAll(s, " ", "")}
	v, err := p.sum()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.s) {
		return nil, errSyntax
	}
	return v, nil
}

type exprParser struct {
	s     string
	i     int
	depth int
}

func (p *exprParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *exprParser) sum() (*big.Rat, error) {
	v, err := p.product()
	for err == nil && (p.peek() == '+' || p.peek() == '-') {
		op := p.s[p.i]
		p.i++
		var w *big.Rat
		if w, err = p.product(); err == nil {
			if op == '+' {
				v.Add(v, w)
			} else {
				v.Sub(v, w)
			}
		}
	}
	return v, err
}

func (p *exprParser) product() (*big.Rat, error) {
	v, err := p.power()
	for err == nil && (p.peek() == '*' || p.peek() == '/') {
		op := p.s[p.i]
		p.i++
		var w *big.Rat
		if w, err = p.power(); err == nil {
			if op == '*' {
				v.Mul(v, w)
			} else if w.Sign() == 0 {
				return nil, errDivZero
			} else {
				v.Quo(v, w)
			}
		}
	}
	return v, err
}

func (p *exprParser) power() (*big.Rat, error) {
	v, err := p.unary()
	if err != nil || p.peek() != '^' {
		return v, err
	}
	p.i++
	e, err := p.power()
	if err != nil {
		return nil, err
	}
	if !e.IsInt() || e.Num().BitLen() > 7 {
		return nil, errSyntax
	}
	n := e.Num().Int64()
	r := big.NewRat(1, 1)
	for range max(n, -n) {
		r.Mul(r, v)
	}
	if n < 0 {
		if r.Sign() == 0 {
			return nil, errDivZero
		}
		r.Inv(r)
	}
	return r, nil
}

func (p *exprParser) unary() (*big.Rat, error) {
	if p.peek() == '-' {
		p.i++
		v, err := p.unary()
		if err != nil {
			return nil, err
		}
		return v.Neg(v), nil
	}
	if p.peek() == '+' {
		p.i++
	}
	v, err := p.atom()
	for err == nil && p.peek() == '%' {
		p.i++
		v.Quo(v, big.NewRat(100, 1))
	}
	return v, err
}

func (p *exprParser) atom() (*big.Rat, error) {
	if p.peek() == '(' {
		if p.depth++; p.depth > 64 {
			return nil, errSyntax
		}
		p.i++
		v, err := p.sum()
		if err != nil {
			return nil, err
		}
		if p.peek() != ')' {
			return nil, errSyntax
		}
		p.i++
		p.depth--
		return v, nil
	}
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '.') {
		p.i++
	}
	if start == p.i {
		return nil, errSyntax
	}
	v, ok := new(big.Rat).SetString(p.s[start:p.i])
	if !ok {
		return nil, errSyntax
	}
	return v, nil
}
