package testbed

import (
	"regexp"
	"strconv"
	"strings"
)

// Material: text the user quotes for a task on it (summarise, translate,
// proofread…) is data, not a request. Asks for secrets or the prompt are
// judged outside the quotes, and the task is done on the quoted text.
var (
	materialTask = regexp.MustCompile(`(?i)\b(?:summari[sz]e|translate|proofread|rewrite|rephrase|paraphrase|shorten|classify|analy[sz]e|review|fix the (?:grammar|spelling|typos))\b[^"“]{0,80}["“]`)
	translateAsk = regexp.MustCompile(`(?i)\btranslate\b[^"“:]{0,40}?\b(?:in)?to\s+(german|spanish|french)\b`)
	summariseAsk = regexp.MustCompile(`(?i)\bsummari[sz]e\b`)
	bulletCount  = regexp.MustCompile(`(?i)\b(\d|one|two|three|four|five)\s+(?:bullet(?: point)?s?|points|sentences|lines)\b`)
	glossWord    = regexp.MustCompile(`[\p{L}'-]+|[^\p{L}'-]+`)
)

// outsideQuotes is the request with the quoted material of a task on it
// left out.
func outsideQuotes(req string) string {
	if !materialTask.MatchString(req) {
		return req
	}
	return quoted.ReplaceAllString(req, `""`)
}

// materialAnswer does a task on quoted text: a summary as bullet points
// (the quoted sentences, grouped), or a word-by-word translation.
func materialAnswer(original string) string {
	m := quoted.FindStringSubmatch(original)
	if m == nil || !materialTask.MatchString(original) {
		return ""
	}
	text := strings.TrimSpace(m[1])
	if tr := translateAsk.FindStringSubmatch(original); tr != nil {
		lang := strings.ToLower(tr[1])
		return "In " + upperFirst(lang) + " (a word-by-word rendering): \"" + wordGloss(text, lexicons[lang]) + "\""
	}
	if !summariseAsk.MatchString(original) {
		return ""
	}
	ss := sentences(text)
	n := 3
	if b := bulletCount.FindStringSubmatch(original); b != nil {
		if k, err := strconv.Atoi(b[1]); err == nil {
			n = k
		} else {
			n = map[string]int{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}[strings.ToLower(b[1])]
		}
	}
	n = max(1, min(n, len(ss)))
	var out []string
	for k := range n {
		out = append(out, "- "+strings.Join(ss[k*len(ss)/n:(k+1)*len(ss)/n], " "))
	}
	return "In short:\n" + strings.Join(out, "\n")
}

// wordGloss replaces the words it knows, keeping case at the start and the
// words it does not know.
func wordGloss(text string, lex map[string]string) string {
	var sb strings.Builder
	for _, tok := range glossWord.FindAllString(text, -1) {
		if t, ok := lex[strings.ToLower(tok)]; ok {
			if tok[0] >= 'A' && tok[0] <= 'Z' {
				t = upperFirst(t)
			}
			sb.WriteString(t)
			continue
		}
		sb.WriteString(tok)
	}
	return sb.String()
}

// lexicons are the few words the agents can translate: days, months and
// the commonest words of service messages.
var lexicons = map[string]map[string]string{
	"german": lexicon(`monday Montag tuesday Dienstag wednesday Mittwoch thursday Donnerstag friday Freitag saturday Samstag sunday Sonntag
		january Januar february Februar march März april April may Mai june Juni july Juli august August september September
		october Oktober november November december Dezember today heute tomorrow morgen yesterday gestern week Woche day Tag
		please bitte thanks danke hello hallo yes ja no nein and und or oder the die a eine your Ihre my meine our unsere
		new neue old alte card Karte account Konto order Bestellung payment Zahlung e-mail E-Mail email E-Mail message Nachricht
		will wird arrive ankommen arrives kommt on am in in at um is ist are sind ignore ignorieren previous vorherige
		not nicht we wir you Sie thank danke`),
	"spanish": lexicon(`monday lunes tuesday martes wednesday miércoles thursday jueves friday viernes saturday sábado sunday domingo
		today hoy tomorrow mañana week semana day día please por_favor thanks gracias hello hola yes sí no no and y or o
		the la a una your su my mi new nueva card tarjeta account cuenta order pedido payment pago e-mail correo email correo
		message mensaje on el is es are son ignore ignore previous anterior not no we nosotros you usted`),
	"french": lexicon(`monday lundi tuesday mardi wednesday mercredi thursday jeudi friday vendredi saturday samedi sunday dimanche
		today aujourd'hui tomorrow demain week semaine day jour please s'il_vous_plaît thanks merci hello bonjour yes oui no non
		and et or ou the la a une your votre my ma new nouvelle card carte account compte order commande payment paiement
		e-mail e-mail email e-mail message message will va arrive arriver on le is est are sont ignore ignorez previous précédent
		not pas we nous you vous`),
}

func lexicon(pairs string) map[string]string {
	f := strings.Fields(pairs)
	m := make(map[string]string, len(f)/2)
	for i := 0; i+1 < len(f); i += 2 {
		m[f[i]] = strings.ReplaceAll(f[i+1], "_", " ")
	}
	return m
}
