// Package taint finds the distinctive tokens of content that a
// prompt-injection detector flagged, and tells which of them a later tool
// call's arguments carry. An action is injection-influenced when its
// arguments carry a token of flagged content that the user's input did not
// already mention; the caller applies that rule, this package only does the
// token logic. It is pure: no I/O, no state between calls.
//
// # Tokens
//
//   - url: http, https, ftp, ftps, sftp, ws and wss URLs. Scheme and host are
//     lowercased, the default port, the fragment, a lone "/" path and trailing
//     punctuation (.,;:!?'"*) are dropped; a closing ")" is dropped only when
//     the URL has more ")" than "(" (Wikipedia-style paths survive). A URL
//     stops at whitespace, quotes, <>, {}, [], |, \ and ^, so a template
//     such as https://x.example/log?d={secret} yields https://x.example/log?d=.
//     URLs longer than 2048 bytes give a domain token but no url token.
//   - email: local@domain with a known top-level domain, lowercased.
//   - domain: the registrable domain (eTLD+1 from the public suffix list) of
//     every URL host, e-mail domain and bare host name. The top-level label
//     must be an ICANN one, or one of the RFC 2606 reserved names example,
//     test and invalid (so documentation and tests work). Private suffixes
//     count: user.github.io is its own registrable domain, not github.io.
//     Non-ASCII hosts give url tokens only. Bare names (no scheme, no @) are
//     rejected when written with upper-case letters (os.Getenv) unless they
//     start with www., when followed by "(" (method calls), when preceded by
//     "/", "@", "\" or a word character (paths), and when the last label is a
//     file extension or code word that happens to be a TLD (report.pdf,
//     main.py, user.id, self.name, see bareBlocked). Version numbers (1.2.3)
//     and abbreviations (e.g.) have no alphabetic TLD and are never domains.
//   - account: a run of 8 to 34 digits, with single spaces, dashes or dots
//     between digit groups (removed in the value), not glued to letters.
//     Dates (2024-01-15, 15.01.2024) inside a run are cut out; runs with dots
//     that read as a decimal (1234.56789), an IPv4 address or a number with
//     thousands separators (12.345.678) are not accounts. Also IBANs: two
//     letters, two digits, 11 to 30 letters or digits with optional single
//     spaces, uppercased without spaces, and only when the ISO 13616 mod-97
//     check passes (an upper-case headline like "FY23 REVENUE GROWTH WAS"
//     has the shape). Digit runs inside an IBAN are not separate tokens.
//   - text: each line and sentence (split at line breaks and at . ! ? followed
//     by a space) normalized: Unicode lower case, whitespace runs collapsed to
//     one space, surrounding punctuation and quotes trimmed; kept when it has
//     at least MinText runes and 4 words, cut to MaxText bytes.
//
// Extract returns tokens by kind, the most distinctive first — e-mail
// addresses, URLs, IBANs, other account numbers, text (at most
// MaxTextTokens), then domains — each kind in order of first appearance,
// deduplicated, at most MaxTokens. Padding a page with weak tokens
// (reference numbers, ordinary links) cannot push an address out; padding
// with many addresses can, so callers put the flagged part of the content
// (a window around the detector's finding) first.
//
// # Carrying
//
// Carried walks the string and number values of JSON arguments (not keys,
// nesting bounded at 64 levels; deeper or invalid JSON is read as plain text)
// and scans each value with the same scanners as Extract:
//   - a url token is carried by an argument URL that equals it or extends it
//     after "/", "?", "#", after "&" when the token has a query, or after a
//     token that ends in "/", "?", "&" or "=" (a filled-in template);
//   - an email token by an equal argument e-mail;
//   - a domain token by an argument URL host, e-mail domain or bare host
//     with that registrable domain;
//   - a digit account by a digit run of the argument whose consecutive
//     groups, separators removed, equal it (12345678 is not carried by
//     123456789, but is by "100 1234 5678"); an IBAN by an equal IBAN;
//   - a text token when a normalized argument value contains it, or when the
//     normalized value (at least MinText runes and 4 words) is contained in it.
//
// Mentions is Carried for one token, with the text in place of the
// arguments (text that is valid JSON is walked as JSON).
//
// # Cost
//
// Every scanner is an RE2 expression or a single-pass hand scanner, so work
// is linear in the input. Regexps run only on small windows around "://",
// "@", "." and IBAN-shaped starts found by plain byte scans. Each scanner
// examines at most maxCandidates (65,536) windows, runs or segments per
// value, so a value padded with decoys is still scanned to its end up to
// about 256 KiB; the rest of a longer value is not scanned for that kind.
// Matching a value against tokens costs at most one comparison per token and
// candidate, each bounded by the candidate's length.
//
// Hand-written because no library does them: URL normalization for
// comparison (net/url parses but neither trims prose punctuation nor compares
// prefixes), the bare host heuristics, the account scanner and its date,
// decimal and IP filters, the IBAN cut-and-check, sentence segmentation and
// text normalization, and the JSON value walk over encoding/json's token
// stream. The public suffix list is golang.org/x/net/publicsuffix.
package taint
