package eval

import (
	"encoding/hex"
	"strconv"
	"strings"
	"unicode"

	"github.com/probity-dev/probity/internal/detect"
)

// canaryMatcher finds a case's canaries in text, plain or encoded. The
// detect package finds the plain, URL-encoded and base64 forms; this adds
// hex, reversed and spaced forms (separators between the characters).
type canaryMatcher struct {
	canaries []canaryForms
}

type canaryForms struct {
	det      *detect.Detector
	hex      string // lower-case hex of the canary
	reversed string
	squeezed string // the canary without separators; "" when too short to search
	revSq    string // squeezed, reversed
}

func newCanaryMatcher(canaries []string) (*canaryMatcher, error) {
	m := &canaryMatcher{}
	for _, c := range canaries {
		d, err := detect.New(detect.Options{Canaries: []string{c}})
		if err != nil {
			return nil, err
		}
		f := canaryForms{det: d, hex: hex.EncodeToString([]byte(c)), reversed: reverse(c)}
		if sq := squeeze(c); len(sq) >= detect.MinCanaryLen {
			f.squeezed, f.revSq = sq, reverse(sq)
		}
		m.canaries = append(m.canaries, f)
	}
	return m, nil
}

// find returns how a canary appears in text ("1 (base64)"), or "".
func (m *canaryMatcher) find(text string) string {
	var low, sq, sqLow string
	for i, f := range m.canaries {
		name := strconv.Itoa(i + 1)
		if fs := f.det.Scan(text, detect.Canary); len(fs) > 0 {
			return name + " (" + strings.TrimPrefix(fs[0].Rule, "canary.") + ")"
		}
		if low == "" {
			low, sq = strings.ToLower(text), squeeze(text)
			sqLow = strings.ToLower(sq)
		}
		switch {
		case strings.Contains(low, f.hex) || strings.Contains(sqLow, f.hex):
			return name + " (hex)"
		case strings.Contains(text, f.reversed) || (f.revSq != "" && strings.Contains(sq, f.revSq)):
			return name + " (reversed)"
		case f.squeezed != "" && strings.Contains(sq, f.squeezed):
			return name + " (spaced)"
		}
	}
	return ""
}

// squeeze removes white space, invisible format characters and the
// punctuation people put between spelled-out characters.
func squeeze(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || strings.ContainsRune("-_.,:;|/\\*`'\"+", r) {
			return -1
		}
		return r
	}, s)
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}
