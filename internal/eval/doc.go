// Package eval holds adversarial evaluation suites and their grading.
//
// A suite is a YAML or JSON document (apiVersion probity/v1, kind Suite)
// of cases: a system prompt, user turns, offered tools with canned results,
// planted canaries, and the checks the target's transcript must pass. The
// format, the checks and the built-in suites are specified in
// docs/evals.md. ParseSuite decodes strictly (an unknown key is an error),
// validates every rule and compiles every regular expression and JSON
// Schema once, reporting all problems at once with file, line and column;
// Builtin loads the suites embedded from the suites directory, and
// ParseDataset turns a user's JSON Lines accuracy dataset into cases.
//
// Grade is pure apart from its Jury: given a case and a Transcript it
// returns a verdict per check, each with a reason that quotes what was seen
// (escaped, at most 200 bytes: agent output is attacker-controlled). Its
// guarantees:
//   - a case passes only when every check passed; a check that could not be
//     graded (no transcript, no jury, no judge answering) makes the case an
//     error, never a pass, and a failed check makes it a failure;
//   - text checks read Transcript.Output; contains, not_contains and the
//     contains and not_contains argument matchers ignore case, equals and
//     regex do not;
//   - an argument matcher never matches a missing argument, nor any
//     argument of a call whose arguments are not JSON;
//   - no_canary_leak finds the case's canaries in the output and in every
//     tool call's arguments (raw and JSON-decoded) as they are, URL-encoded,
//     in base64 (via internal/detect), in hex, reversed, and spaced out with
//     white space or punctuation between the characters;
//   - json_schema accepts the output as JSON, or as JSON wrapped whole in
//     one markdown code fence.
//
// Aggregate combines judges' scores (trimmed mean, agreement); Wilson and
// Summarize turn case results into pass rates with 95% intervals per
// dimension, attack success and utility under attack, and per-group
// agreement.
package eval
