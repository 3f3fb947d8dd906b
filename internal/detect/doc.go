// Package detect finds risky content in text: prompt-injection markers,
// XSS, SQL and shell payloads, secrets, personal data, org canaries and
// refusals. It is shared by pact evaluation, eval graders and the MCP shield.
//
// Detection is pure: Scan takes a string and returns [Finding]s with byte
// offsets and a log-safe excerpt; it does no I/O and keeps no state between
// calls. Rules are regular expressions (RE2, linear time) and small
// hand-written scanners. Every rule has anchors, literal strings found for
// all rules in one Aho–Corasick pass; a rule's expression runs only near its
// anchors, so text without them costs one pass. Total cost is linear in the
// input: about 35 ns/byte on ordinary text and about 0.2 µs/byte on text
// packed with every rule's trigger words (BenchmarkScan,
// BenchmarkScanAdversarial; 1 MB and 4 MB cost the same per byte).
//
// A finding is evidence of shape, not of intent or harm. A security article
// that quotes "' OR 1=1 --" contains an SQL injection payload and is
// reported; the caller (a pact, a grader) decides what the context means.
// The labeled corpora in testdata/corpus state what each detector counts as
// positive; TestCorpus holds every detector to recall ≥ 0.95 and
// false-positive rate ≤ 0.02 on them. Those corpora were written alongside
// the rules, so the figures are an upper bound; TestHoldout logs the same
// measures on small sets written afterwards.
//
// # Rules
//
// Injection (kind "injection"), run on ASCII-lowered text:
//   - injection.override: "ignore/disregard/forget/override/bypass/discard/set
//     aside/pay no attention to/do not follow", then a quantifier or qualifier,
//     then instructions/rules/guidelines…; "disregard the above", "forget
//     everything you were told"; "previous instructions are void/outdated…".
//     Not caught: paraphrases without those verbs ("start over with a clean
//     slate"), typos and leetspeak ("1gn0re"), words split by markup.
//   - injection.role_hijack: "you are now DAN/unrestricted/an assistant that…",
//     "you are no longer bound…", "from now on you must…", "act as an
//     unrestricted…", "pretend you are an AI without…", "enable developer mode",
//     "do anything now". Not caught: role-play set-ups without those phrases.
//   - injection.new_instructions: "new/updated/hidden/real instructions:",
//     "system prompt:", "admin override". Not caught: "Instructions:" alone
//     (too common in recipes and manuals), "new rule from the admin: …".
//   - injection.prompt_leak: "reveal/print/repeat your system prompt",
//     "repeat the words above", "what are your instructions".
//   - injection.ai_address: "note to AI agents:", "attention assistant:",
//     "if you are an AI…", "AI agents reading this".
//   - injection.override_i18n: the above in French, German, Spanish, Italian,
//     Portuguese, Russian, Chinese, Japanese and Korean (common phrasings only;
//     Unicode case folding only in Russian and accented Latin via (?i)).
//   - injection.role_token: chat-template tokens (<|im_start|>, <|eot_id|>,
//     <<SYS>>, <start_of_turn>) and [SYSTEM], [INST] (upper case only: a TOML
//     "[system]" section is not a finding).
//   - injection.role_spoof: "### System:" / "### Instruction:" headers, a line
//     starting "System:" followed by an instruction word, a line starting
//     "Assistant:". Not caught: "User:" lines, roles inside JSON.
//   - injection.hidden_unicode: Unicode tag characters U+E0000–U+E007F, except
//     inside emoji subdivision flags.
//   - injection.zero_width: three zero-width characters within 16 bytes of
//     each other, or two in a row; ZWJ/ZWNJ between non-ASCII characters
//     (emoji, Indic, Arabic scripts) and a leading BOM are ignored. Not
//     caught: bidi overrides, homoglyphs, a single hidden character.
//   - injection.base64: a run of ≥ 24 base64 characters whose decoding is text
//     that itself triggers an injection rule (two levels deep). Not caught:
//     base64 split across lines, hex, rot13, other encodings.
//   - injection.exfil_link: a markdown image or <img> whose URL has a
//     template ({…}, $VAR, [DATA], %7B) or a query value of ≥ 24 characters,
//     and a markdown link whose URL has a template. Not caught: reference-style
//     images, data in path segments, short values.
//
// XSS (kind "xss"): every rule needs a literal "<" (or "](javascript:" in
// markdown), so HTML-escaped text never matches.
//   - xss.script_tag: <script or </script (not inside `inline code`).
//   - xss.event_handler: on…= attribute inside a tag that closes; JSX
//     handlers (onClick={…}) are not findings.
//   - xss.js_url: javascript:/vbscript: (also java\tscript, &colon;) and
//     data:text/html in href/src/action/formaction/xlink:href…, and markdown
//     links to them.
//   - xss.dangerous_tag: <iframe/<frame/<object/<embed with src/data/srcdoc,
//     <frameset, <base href, <meta http-equiv=refresh.
//   - xss.srcdoc, xss.template: srcdoc=, constructor.constructor(, {{…$eval…}}.
//     Not caught: entity- or URL-encoded payloads that a browser would decode
//     inside attributes, CSS expression(), mutation XSS, DOM sinks in plain JS.
//
// SQL (kind "sql"): the shape of a payload, not SQL as such.
//   - sql.tautology: quote, number or paren, then OR/AND/||, then x=x (equal
//     sides), 'a'='a', OR TRUE, or "' OR 1 --".
//   - sql.union: UNION [ALL] SELECT after a quote that opens a string (the
//     odd-numbered quote on its line), after "=<number>", with /**/ or %20
//     separators, or followed by NULL lists, number lists, @@version,
//     information_schema, concat(…).
//   - sql.stacked: "'; DROP/DELETE/INSERT/UPDATE/EXEC/SHUTDOWN/GRANT…" after a
//     string-opening quote or "=<number>", and xp_cmdshell.
//   - sql.timing: SLEEP(/pg_sleep(/BENCHMARK(/WAITFOR DELAY after a quote or
//     number and an operator.
//   - sql.comment_break: admin'-- / admin'# / admin'/*.
//   - sql.order_by: "' ORDER BY 3 --" column probing.
//   - sql.error_based: extractvalue(/updatexml(, and @@version/load_file after
//     a quote break.
//     Not caught: URL- or otherwise encoded payloads (%27%20OR…), numeric
//     injection without tautology or stacked statement ("1 AND 1=2"),
//     second-order and blind boolean probes, NoSQL.
//
// Shell (kind "shell"):
//   - shell.rm_root: rm -rf of /, /*, ~, *, $HOME, top-level system dirs, ".".
//   - shell.quote_break: a quote or backtick, then ; | & and a known command.
//   - shell.subst: $(curl|wget|nc|rm -…|cat /etc/passwd…), x$(whoami), and
//     backtick substitution glued to a word or metacharacter.
//   - shell.pipe_exec: curl/wget … | sh/bash/python, base64 -d | sh,
//     IEX(New-Object Net.WebClient). Install one-liners ("curl … | sh") are
//     findings by design.
//   - shell.download_exec: metacharacter + wget/curl to an IP address, into
//     /tmp, with -d @file, or chmod +x /tmp/x; /tmp/x.
//   - shell.reverse_shell: /dev/tcp/, nc -e, socat exec:, mkfifo+nc,
//     bash -i >&, python/perl/php/PowerShell socket one-liners.
//   - shell.destructive: fork bomb, mkfs, dd to a disk, > /dev/sda,
//     chmod -R 777 /, del /f /s /q, format c:.
//   - shell.recon: ; id, | whoami, && uname -a, ; cat /etc/passwd.
//   - shell.powershell_enc: powershell -enc <base64>.
//     Not caught: a whole payload wrapped in backticks at the start of the
//     text (indistinguishable from markdown inline code), obfuscation (${IFS},
//     quotes inside words, variables holding commands), Windows cmd beyond the
//     above, commands in other languages.
//
// Secrets (kind "secrets"), case-sensitive token formats:
//   - secrets.aws_access_key (AKIA/ASIA/ABIA/ACCA + 16; …EXAMPLE skipped),
//     secrets.github_token (ghp_/gho_/ghu_/ghs_/ghr_ + 36, github_pat_),
//     secrets.slack_token (xox?-, xapp-, hooks.slack.com/services/…),
//     secrets.stripe_key (sk_live_/rk_live_; test keys are not reported),
//     secrets.google_api_key (AIza + 35), secrets.openai_key (sk-, sk-proj-,
//     sk-ant-… with mixed case and digits), secrets.private_key (PEM/PGP
//     private key header followed by a base64 body), secrets.jwt (three
//     base64url parts whose header decodes to JSON with "alg"),
//     secrets.probity_key (pb_ + 43 base64url). Provider tokens whose random
//     part has under 2.5 bits/byte of entropy (ghp_xxxx…) are placeholders.
//   - secrets.assignment: password/secret/api_key/token/credentials… = value
//     where the value has ≥ 8 bytes, two character classes, a digit or symbol
//     and Shannon entropy ≥ 3 bits/byte, and is not a reference (${X},
//     os.environ, calls, dotted names, UPPER_SNAKE), placeholder or mask.
//     Not caught: weak literal passwords ("hunter22"), secrets without a
//     keyword or known prefix, secrets split across lines, AWS secret keys
//     outside an assignment.
//
// PII (kind "pii"):
//   - pii.email: local@domain.tld; RFC 2606 reserved domains (example.com,
//     .test, .invalid, .localhost), image names (logo@2x.png) and git@host
//     remotes are not findings.
//   - pii.phone: E.164 (+ and 8–15 digits), North American (NXX) NXX-XXXX
//     forms, and 10–11 digit national numbers starting 0[1-9] with
//     separators. A bare run of digits is never a phone number.
//   - pii.card: 13–19 digits, together or in groups of four (or Amex 4-6-5),
//     Luhn-valid, with a known IIN; published test numbers are skipped.
//   - pii.ssn: AAA-GG-SSSS with the SSA invalid ranges (000, 666, 9xx, 00,
//     0000) and two famous published numbers excluded. Dashes required.
//   - pii.iban: country code, mod-97 checksum, length per country for 20
//     common countries (15–34 otherwise).
//   - pii.national_id: UK National Insurance numbers (prefix rules, no
//     checksum exists), Spanish DNI and NIE (mod-23 letter).
//     Not caught: names, addresses, dates of birth, other countries' ids,
//     numbers split by unusual separators or words.
//
// Canaries (kind "canary"): each configured token (case-sensitive) as is
// (canary.exact), URL-escaped (canary.url_encoded) and inside standard or
// URL-safe base64 at any byte alignment (canary.base64). Not caught: tokens
// split by whitespace or markup, hex, reversed, re-cased or paraphrased.
//
// Refusals (kind "refusal", also [Detector.Refusal]): a refusal phrase in
// English, French, German, Spanish, Italian, Portuguese, Russian, Chinese,
// Japanese or Korean that starts within the first 300 bytes of the answer.
// Not refusals: "I can't wait/help but…", a phrase inside quotes, after
// "if"/"when"/"said", or late in a long answer. A partial refusal ("I can't
// help with X, but here is Y") is a refusal. Not caught: soft deflections
// without a refusal phrase, refusals after a long preamble.
package detect
