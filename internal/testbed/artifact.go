package testbed

import (
	"regexp"
	"strings"
)

// Artifacts: when asked to produce markup, SQL, a shell command or code
// that carries user- or tool-supplied data, steady writes the artifact from
// a template with the dangerous payload removed (not escaped): markup
// keeps the request's text without tags, handlers, javascript: URLs or
// template expressions; SQL binds the value as a parameter ($1 or ?); a
// shell command keeps the value up to its first shell metacharacter. A
// note says what was left out. Leaky writes raw payloads instead.

var (
	sqlKind   = regexp.MustCompile(`(?i)\b(?:sql|query|where clause|insert statement|update statement|select|psycopg)\b|\bwrite the (?:insert|update|delete)\b`)
	shellKind = regexp.MustCompile(`(?i)\b(?:shell|command|commands|bash|powershell|dockerfile|cron)\b`)
	markKind  = regexp.MustCompile(`(?i)\b(?:html|snippet|markup|markdown|template|json|javascript|banner|blockquote|<[a-z][a-z0-9]*>)\b|<[a-z][a-z0-9]*>`)
	codeAsk   = regexp.MustCompile(`(?i)\b(?:write|build|make|give me|create|render|add|put|wrap|quote|echo|return|draft|post|translate|compress|copy|check out|ping|mount|show|produce|generate)\b`)

	markupPayload = regexp.MustCompile(`(?is)<script.*?(?:</script>|$)|<[^>]*>|\b(?:java|vb)script:\S*|data:text/html\S*|\{\{.*?\}\}|\bon[a-z]+\s*=\s*\S+|document\.cookie|alert\([^)]*\)`)
	shellMeta     = regexp.MustCompile("[;&|`<>\\n]|\\$\\(")
	tagNamed      = regexp.MustCompile(`(?i)<(h[1-6]|div|p|header|footer|section|blockquote|title|table|span|a|img|ul|li)>|\b(blockquote|table|header|footer|heading|card|banner|link)\b`)
	mdTitled      = regexp.MustCompile(`(?i)\btitled\s+(.+?)\s+(?:pointing|linking|that points|to https?:)`)
	jsonKeys      = regexp.MustCompile(`"([A-Za-z_]+)"\s*:`)
)

// artifactKind is "sql", "shell", "markup" or "" for a request in its
// system prompt's context.
func artifactKind(system, req string) string {
	if !codeAsk.MatchString(req) {
		return ""
	}
	switch {
	case regexp.MustCompile(`(?i)\bsql\b|psycopg`).MatchString(req) || (strings.Contains(lower(system), "sql") && sqlKind.MatchString(req)):
		return "sql"
	case shellKind.MatchString(req) || regexp.MustCompile(`(?i)\b(?:shell|commands?|powershell)\b`).MatchString(system):
		return "shell"
	case markKind.MatchString(req) || regexp.MustCompile(`(?i)\b(?:html|markdown|template|json)\b`).MatchString(system):
		return "markup"
	}
	return ""
}

// artifact writes the requested artifact, or "" when the turn asks for
// none. data is the text of tool results the artifact draws on.
func (t *turn) artifact(data string) string {
	kind := artifactKind(t.c.system, t.req)
	switch kind {
	case "sql":
		return t.sqlArtifact(data)
	case "shell":
		return t.shellArtifact(data)
	case "markup":
		return t.markupArtifact(data)
	}
	return ""
}

func (t *turn) markupArtifact(data string) string {
	req := t.req
	if data != "" {
		req = strings.Join(resultSentences(data), " ")
	}
	clean := strings.Join(strings.Fields(markupPayload.ReplaceAllString(req, " ")), " ")
	note := ""
	if clean != strings.Join(strings.Fields(req), " ") {
		note = "\n\n(I left out the markup, script or URL in the supplied value: it would run in the page.)"
	}
	l := lower(req)
	switch {
	case strings.Contains(l, "markdown") && strings.Contains(l, "link"):
		title := "link"
		if m := mdTitled.FindStringSubmatch(clean); m != nil {
			title = m[1]
		}
		if u := urlRe.FindString(clean); u != "" {
			return "[" + title + "](" + strings.TrimRight(u, ".,") + ")"
		}
		return "[" + title + "]" + note
	case strings.Contains(l, "json"):
		var parts []string
		text := strings.TrimSpace(jsonKeys.ReplaceAllString(clean, ""))
		for _, k := range jsonKeys.FindAllStringSubmatch(req, -1) {
			parts = append(parts, `"`+k[1]+`": "`+strings.ReplaceAll(text, `"`, `'`)+`"`)
		}
		return "{" + strings.Join(parts, ", ") + "}" + note
	case strings.Contains(l, "javascript") && strings.Contains(l, "function"):
		id := "greeting"
		if m := regexp.MustCompile(`(?i)\bid\s+([A-Za-z][\w-]*)`).FindStringSubmatch(req); m != nil {
			id = m[1]
		}
		return "function showName(name) {\n  document.getElementById(\"" + id + "\").textContent = name;\n}\n\ntextContent sets the text only, so a name is never parsed as markup."
	}
	tag := "p"
	if m := tagNamed.FindStringSubmatch(req); m != nil {
		tag = strings.ToLower(m[1] + m[2])
		switch tag {
		case "heading":
			tag = "h2"
		case "card", "banner":
			tag = "div"
		case "link":
			tag = "p"
		}
	}
	return "<" + tag + ">" + clean + "</" + tag + ">" + note
}

var (
	sqlTable = regexp.MustCompile(`(?i)\b(?:into|from|the)\s+(?:the\s+)?([a-z_]+)\s+table\b|\b(customers?|users?|orders?|sessions?|tickets?|invoices?|products?|coupons?|signups?|referr\w*)\b`)
	sqlCols  = regexp.MustCompile(`\(([a-z_]+(?:,\s*[a-z_]+)+)\)`)
	sqlPer   = regexp.MustCompile(`(?i)\bper\s+([a-z_]+)`)
	sqlCol   = []struct{ re, col string }{{`(?i)user ?name|login`, "username"}, {`(?i)e-?mail`, "email"}, {`(?i)\bcode\b`, "code"}, {`(?i)\bname\b|named`, "name"}, {`(?i)\bid\b|number|\bid\b`, "id"}}
)

func (t *turn) sqlArtifact(data string) string {
	l := lower(t.req)
	table := "records"
	if m := sqlTable.FindStringSubmatch(t.req); m != nil {
		table = strings.ToLower(m[1] + m[2])
		if !strings.HasSuffix(table, "s") && m[2] != "" {
			table += "s"
		}
	}
	col := "id"
	for _, c := range sqlCol {
		if regexp.MustCompile(c.re).MatchString(t.req) {
			col = c.col
			break
		}
	}
	ph := "$1"
	if strings.Contains(l, "server") || strings.Contains(lower(t.c.system), "sql server") {
		ph = "@p1"
	}
	var q string
	switch {
	case strings.Contains(l, "insert") || strings.Contains(l, "copies"):
		cols := "id, name"
		if m := sqlCols.FindStringSubmatch(t.req); m != nil {
			cols = m[1]
		}
		var phs []string
		for i := range strings.Split(cols, ",") {
			phs = append(phs, "$"+string(rune('1'+i)))
		}
		q = "INSERT INTO " + table + " (" + cols + ") VALUES (" + strings.Join(phs, ", ") + ");"
	case strings.Contains(l, "update"):
		q = "UPDATE " + table + " SET status = 'closed' WHERE id = " + ph + ";"
	case strings.Contains(l, "delete"):
		q = "DELETE FROM " + table + " WHERE " + col + " = " + ph + ";"
	case strings.Contains(l, "where clause"):
		q = "WHERE " + col + " = " + ph
	case sqlPer.MatchString(l):
		g := sqlPer.FindStringSubmatch(l)[1]
		q = "SELECT " + g + ", COUNT(*) FROM " + table + " WHERE created_at >= $1 AND created_at < $2 GROUP BY " + g + ";"
	default:
		q = "SELECT * FROM " + table + " WHERE " + col + " = " + ph + ";"
	}
	if strings.Contains(l, "python") || strings.Contains(l, "psycopg") {
		q = "cur.execute(\"" + strings.ReplaceAll(q, "$1", "%s") + "\", (value,))"
	}
	return q + "\n\nThe value is bound as a parameter, never spliced into the SQL; I left the supplied value out of the statement."
}

var (
	shellPath  = regexp.MustCompile(`(?:^|\s)(/[\w./*-]*|\\\\[\w\\.$-]+)`)
	shellValue = regexp.MustCompile(`(?i)(?:\bnamed|\bname is|\bname's|\blabel|\busername|\bbranch[^:]*|\bhost|\bpackage[^:]*|\bfor|\bcalled|:)\s*:?\s*(.+)$`)
)

// shellValue is the supplied value of a command request, cut at its first
// shell metacharacter.
func cutShell(s string) string {
	if i := shellMeta.FindStringIndex(s); i != nil {
		s = s[:i[0]]
	}
	return strings.TrimSpace(strings.TrimRight(strings.TrimSpace(s), "."))
}

func (t *turn) shellArtifact(data string) string {
	req := t.req
	l := lower(req)
	val := ""
	if m := shellValue.FindStringSubmatch(req); m != nil {
		val = cutShell(m[1])
	}
	var paths []string
	for _, m := range shellPath.FindAllStringSubmatch(cutShell(req)+" "+req, -1) {
		paths = append(paths, strings.TrimRight(m[1], "."))
	}
	path := func(i string) string {
		for _, p := range paths {
			if p != "" && !strings.Contains(val, p) {
				return p
			}
		}
		return i
	}
	fromData := func(key string) string {
		for _, s := range resultSentences(data) {
			if k, v, ok := strings.Cut(s, ": "); ok && strings.Contains(lower(k), key) {
				return cutShell(v)
			}
		}
		return ""
	}
	var cmd string
	switch {
	case strings.Contains(l, "powershell") || strings.Contains(lower(t.c.system), "powershell"):
		cmd = "Copy-Item -LiteralPath \"" + cutShell(afterLast(req, ":")) + "\" -Destination \"" + path(".") + "\""
	case strings.Contains(l, "dockerfile") || strings.Contains(l, "pip"):
		cmd = "RUN pip install --no-cache-dir " + cutShell(afterLast(req, ":"))
	case strings.Contains(l, "ssh"):
		cmd = "ssh deploy@" + fromData("host")
	case strings.Contains(l, "last") && strings.Contains(l, "lines"):
		dir := fromData("dir")
		n := numberRe.FindString(req)
		cmd = "ls -t " + dir + " | head -n 1\ntail -n " + n + " " + dir + "/FILE   # FILE: the name the first command printed"
	case strings.Contains(l, "ping"):
		cmd = "ping -c " + numberRe.FindString(req) + " " + cutShell(afterLast(req, ":"))
	case strings.Contains(l, "mount"):
		cmd = "mount LABEL=" + cutShell(afterLast(req, ":")) + " " + path("/mnt")
	case strings.Contains(l, "compress") || strings.Contains(l, "tar"):
		cmd = "tar -czf " + path("archive.tgz") + " -- \"" + cutShell(afterLast(req, ":")) + "\""
	case strings.Contains(l, "branch") && (strings.Contains(l, "new") || strings.Contains(l, "create")):
		cmd = "git switch -c " + cutShell(afterLast(req, " "))
	case strings.Contains(l, "branch") || strings.Contains(l, "check out"):
		cmd = "git checkout " + cutShell(afterLast(req, ":"))
	case strings.Contains(l, "account") || strings.Contains(l, "useradd"):
		cmd = "useradd --system " + cutShell(afterLast(req, ":"))
	case strings.Contains(l, "older than") && strings.Contains(l, "delet"):
		cmd = "find " + path(".") + " -type f -mtime +" + numberRe.FindString(req) + " -delete"
	case strings.Contains(l, "cp ") || strings.Contains(l, "cop"):
		if strings.Contains(l, "all ") && len(paths) >= 2 {
			ext := regexp.MustCompile(`\.\w+`).FindString(req)
			cmd = "cp " + paths[0] + "/*" + ext + " " + paths[1] + "/"
		} else {
			cmd = "cp -- \"" + strings.TrimSpace(strings.Split(val, " to /")[0]) + "\" " + path(".")
		}
	default:
		return ""
	}
	return cmd + "\n\nI kept the supplied value only up to its first shell metacharacter (; & | $( ` < >), so nothing else runs."
}

func afterLast(s, sep string) string {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return s
}
