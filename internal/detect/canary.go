package detect

import (
	"encoding/base64"
	"net/url"
	"strings"
)

// A canaryForm is one searchable encoding of a canary.
type canaryForm struct {
	rule, needle string
}

// canaryForms returns the raw token, its URL-escaped forms when they differ,
// and the base64 alphabet (standard and URL-safe) fragments that encode it at
// each of the three byte alignments, so a canary is found inside a longer
// base64 blob. It cannot find canaries split by whitespace, hex-encoded,
// reversed or paraphrased.
func canaryForms(c string) []canaryForm {
	forms := []canaryForm{{"canary.exact", c}}
	seen := map[string]bool{c: true}
	add := func(rule, n string) {
		if len(n) >= 6 && !seen[n] {
			seen[n] = true
			forms = append(forms, canaryForm{rule, n})
		}
	}
	add("canary.url_encoded", url.QueryEscape(c))
	add("canary.url_encoded", url.PathEscape(c))
	for shift := 0; shift < 3; shift++ {
		b := append(make([]byte, shift), c...)
		enc := base64.StdEncoding.EncodeToString(b)
		from := (8*shift + 5) / 6
		to := 8 * len(b) / 6
		frag := enc[from:to]
		add("canary.base64", frag)
		add("canary.base64", strings.NewReplacer("+", "-", "/", "_").Replace(frag))
	}
	return forms
}

func (d *Detector) scanCanaries(s scan) []Finding {
	var out []Finding
	for _, f := range d.canaries {
		for off := 0; ; {
			i := strings.Index(s.text[off:], f.needle)
			if i < 0 {
				break
			}
			i += off
			out = append(out, s.finding(Canary, f.rule, i, i+len(f.needle)))
			off = i + len(f.needle)
		}
	}
	return out
}
