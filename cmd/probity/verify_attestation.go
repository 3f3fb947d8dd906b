package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/probity-dev/probity/attest"
	"github.com/probity-dev/probity/ledger"
)

// attestationKeys are the keys an attestation is verified with, and where
// they came from.
type attestationKeys struct {
	keys      []attest.PublicKey
	ledgerKey string // the ledger's note verifier key; "" when unknown
	from      string
}

// verifyAttestation is 'probity verify attestation FILE': it checks a DSSE
// envelope from GET /v1/agents/{id}/attestation with package attest, offline
// when --keys is given.
func verifyAttestation(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify attestation", stderr)
	var af apiFlags
	af.register(fs)
	keysFile := fs.String("keys", "", "verify offline with the keys in `file`: a GET /v1/keys answer from a source you trust; without it the keys are fetched from --server")
	agent := fs.String("agent", "", "fail unless the attestation is about this agent, `ORG/ID`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: probity verify attestation FILE [--keys FILE] [--agent ORG/ID] [--json]\n\n"+
			"Verifies a trust attestation (the DSSE envelope of GET /v1/agents/{id}/attestation): its Ed25519 signature\n"+
			"by one of the org's attestation keys, its subject, its validity period, and the ledger checkpoint it names\n"+
			"when the keys include the ledger's. With --keys nothing is sent anywhere. Prints the agent's trust state,\n"+
			"or why the attestation does not verify (exit 1).")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	file, err := oneArg(fs, "attestation FILE")
	if err != nil {
		return err
	}
	var want attest.Expect
	if *agent != "" {
		org, id, ok := strings.Cut(strings.TrimPrefix(*agent, "agent:"), "/")
		if !ok || org == "" || id == "" || strings.Contains(id, "/") {
			return usagef("--agent %q: want ORG/ID, such as default/support-bot", *agent)
		}
		want.Subject = attest.SubjectName(org, id)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("reading the attestation: %w", err)
	}
	keys, err := loadAttestationKeys(ctx, *keysFile, &af, stderr)
	if err != nil {
		return err
	}

	fail := func(err error) error {
		if af.json {
			if werr := writeJSON(stdout, map[string]any{"verified": false, "file": file, "reason": failReason(err), "error": err.Error()}); werr != nil {
				return werr
			}
		}
		return fmt.Errorf("ATTESTATION DOES NOT VERIFY: %w", err)
	}
	env, err := attest.ParseEnvelope(data)
	if err != nil {
		return fail(err)
	}
	v, err := attest.Open(env, keys.keys, time.Now(), want)
	if err != nil {
		return fail(err)
	}
	checkpoint, err := checkAttestedCheckpoint(v.Predicate.Ledger, keys)
	if err != nil {
		return fail(err)
	}
	if af.json {
		return writeJSON(stdout, map[string]any{
			"verified":   true,
			"file":       file,
			"subject":    v.Statement.Subject[0],
			"key":        map[string]string{"keyid": v.Key.KeyID, "status": v.Key.Status},
			"keysFrom":   keys.from,
			"checkpoint": checkpoint,
			"predicate":  v.Statement.Predicate,
		})
	}
	printAttestation(stdout, file, v, keys.from, checkpoint)
	return nil
}

// loadAttestationKeys reads --keys, or fetches GET /v1/keys from the server
// and says so.
func loadAttestationKeys(ctx context.Context, file string, af *apiFlags, stderr io.Writer) (attestationKeys, error) {
	var b []byte
	var from string
	if file != "" {
		var err error
		if b, err = os.ReadFile(file); err != nil {
			return attestationKeys{}, fmt.Errorf("reading --keys: %w", err)
		}
		from = file
	} else {
		c, err := af.client()
		if err != nil {
			return attestationKeys{}, fmt.Errorf("no --keys file, and cannot fetch the keys from the server: %w", err)
		}
		k, err := c.Keys(ctx)
		if err != nil {
			return attestationKeys{}, af.callError("fetching the attestation keys (GET /v1/keys); pass --keys FILE to verify offline", err)
		}
		b, _ = json.Marshal(k) // the client's own types: never fails
		from = "fetched from " + serverID(af.server) + " (GET /v1/keys)"
		fmt.Fprintf(stderr, "probity: fetched the attestation keys from %s (GET /v1/keys) and trusted them.\n"+
			"To verify offline, against keys from a source you trust, save them once and pass --keys FILE.\n", serverID(af.server))
	}
	keys, err := attest.ParseKeys(b)
	if err != nil {
		return attestationKeys{}, fmt.Errorf("the keys %s: %w", from, err)
	}
	var doc struct {
		Ledger struct {
			VerifierKey string `json:"verifierKey"`
		} `json:"ledger"`
	}
	_ = json.Unmarshal(b, &doc) // ParseKeys has accepted the JSON
	return attestationKeys{keys: keys, ledgerKey: doc.Ledger.VerifierKey, from: from}, nil
}

// errCheckpoint marks an attested ledger checkpoint that does not verify.
var errCheckpoint = errors.New("ledger checkpoint does not verify")

// checkAttestedCheckpoint verifies the checkpoint an attestation names
// with the ledger's key, when the keys hold it, and that the predicate
// repeats it faithfully. It returns what was checked.
func checkAttestedCheckpoint(l attest.Ledger, keys attestationKeys) (string, error) {
	switch {
	case l.Checkpoint == "":
		return "not checked: the attestation names no checkpoint", nil
	case keys.ledgerKey == "":
		return "not checked: the keys hold no ledger key", nil
	}
	cp, err := ledger.OpenCheckpoint([]byte(l.Checkpoint), keys.ledgerKey)
	if err != nil {
		return "", fmt.Errorf("%w with the ledger key %s: %w", errCheckpoint, printable(keys.ledgerKey), err)
	}
	if cp.Origin != l.Origin || cp.Size != l.Size || cp.Hash.String() != l.RootHash {
		return "", fmt.Errorf("%w: the signed checkpoint is %s at size %d, root %s, but the attestation says %s at size %d, root %s",
			errCheckpoint, cp.Origin, cp.Size, cp.Hash, printable(l.Origin), l.Size, printable(l.RootHash))
	}
	return "signature verified with the ledger key", nil
}

// failReason is the reason code of a verification failure, for --json.
func failReason(err error) string {
	for _, r := range []struct {
		err  error
		code string
	}{
		{attest.ErrBadSignature, "bad_signature"},
		{attest.ErrUnknownKey, "unknown_key"},
		{attest.ErrExpired, "expired"},
		{attest.ErrSubjectMismatch, "subject_mismatch"},
		{attest.ErrMalformed, "malformed"},
		{errCheckpoint, "ledger_checkpoint"},
	} {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return "error"
}

// dimensionOrder is the order DESIGN.md lists the dimensions in; others
// follow by name.
var dimensionOrder = []string{"accuracy", "reliability", "safety", "security", "scopeAdherence", "outputSanitization"}

func printAttestation(w io.Writer, file string, v attest.Verified, keysFrom, checkpoint string) {
	p, sub := v.Predicate, v.Statement.Subject[0]
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Attestation:\t%s\n", file)
	by := fmt.Sprintf("key %s (%s)", printable(v.Key.KeyID), printable(v.Key.Status))
	if v.Key.Status == attest.StatusRetired {
		by = fmt.Sprintf("key %s, which is retired: it signs no new attestations, and still verifies the ones it signed", printable(v.Key.KeyID))
	}
	fmt.Fprintf(tw, "Result:\tVERIFIED: signed by %s\n", by)
	fmt.Fprintf(tw, "Keys:\t%s\n", printable(keysFrom))
	fmt.Fprintf(tw, "Subject:\t%s (sha256:%s)\n", printable(sub.Name), sub.Digest["sha256"])
	fmt.Fprintf(tw, "Agent:\t%s\n", printable(p.AgentID))
	fmt.Fprintf(tw, "Composite:\t%d / 1000\n", p.CompositeScore)
	fmt.Fprintf(tw, "Tier:\t%s\n", orNone(printable(p.CertificationTier)))
	fmt.Fprintf(tw, "Confidence:\t%.2f\n", p.Confidence)
	var dims []string
	names := append([]string(nil), dimensionOrder...)
	var extra []string
	for name := range p.Dimensions {
		if !slices.Contains(dimensionOrder, name) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range append(names, extra...) {
		if d, ok := p.Dimensions[name]; ok {
			dims = append(dims, fmt.Sprintf("%s %.2f", printable(name), d))
		}
	}
	fmt.Fprintf(tw, "Dimensions:\t%s\n", orNone(strings.Join(dims, ", ")))
	vel := p.ScoreVelocity
	fmt.Fprintf(tw, "Velocity:\t%+g over 1 day, %+g over 7 days, %+g over 30 days\n", vel.Last1Day, vel.Last7Days, vel.Last30Days)
	var badges []string
	for _, b := range p.SecurityPosture.Badges {
		badges = append(badges, printable(b))
	}
	fmt.Fprintf(tw, "Badges:\t%s\n", orNone(strings.Join(badges, ", ")))
	oi := p.SecurityPosture.OpenIncidents
	fmt.Fprintf(tw, "Open incidents:\t%d critical, %d high, %d medium\n", oi.Critical, oi.High, oi.Medium)
	fmt.Fprintf(tw, "Issued:\t%s\n", p.IssuedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "Expires:\t%s (in %s)\n", p.ExpiresAt.UTC().Format(time.RFC3339), strings.TrimSuffix(time.Until(p.ExpiresAt).Round(time.Minute).String(), "0s"))
	m := p.Model
	fmt.Fprintf(tw, "Model:\t%s\n", orNone(printable(strings.TrimSpace(m.Provider+" "+m.Name+" "+m.Version))))
	if p.Pact.ID != "" {
		fmt.Fprintf(tw, "Pact:\t%s v%d (%s)\n", printable(p.Pact.ID), p.Pact.Version, printable(p.Pact.Digest))
	} else {
		fmt.Fprintf(tw, "Pact:\tnone\n")
	}
	if l := p.Ledger; l.Origin != "" {
		fmt.Fprintf(tw, "Ledger:\t%s at size %d, root %s\n", printable(l.Origin), l.Size, printable(l.RootHash))
	} else {
		fmt.Fprintf(tw, "Ledger:\tnone\n")
	}
	fmt.Fprintf(tw, "Checkpoint:\t%s\n", checkpoint)
	tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
