// Package attest is the public format of Probity's trust attestations and
// everything needed to verify one offline, with no call to the server: a
// signed statement of an agent's trust state (its score, tier, badges and
// the ledger checkpoint it is consistent with) as an in-toto Statement v1
// (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md)
// in a DSSE envelope (https://github.com/secure-systems-lab/dsse), signed
// with Ed25519.
//
// An attestation is the envelope
//
//	{"payloadType":"application/vnd.in-toto+json","payload":"<base64 statement>",
//	 "signatures":[{"keyid":"<KeyID>","sig":"<base64 Ed25519 signature>"}]}
//
// whose signature is over PAE(payloadType, statement bytes). The statement's
// one subject is the agent, named agent:<org>/<id>, with the sha256 digest of
// its identity, model version and pact digest (SubjectDigest); its predicate
// type is https://probity.dev/attestation/trust/v1 and its predicate is the
// score object of GET /v1/agents/{id}/score with issuedAt, expiresAt and the
// ledger checkpoint (Predicate).
//
// Verifiers get the public keys from GET /v1/keys (ParseKeys), once, from a
// source they trust. Verify's errors are sentinels (ErrBadSignature,
// ErrUnknownKey, ErrExpired, ErrSubjectMismatch, ErrMalformed) wrapped with
// what failed, so that errors.Is tells them apart and the message tells a
// person why. The package uses only the standard library.
package attest
