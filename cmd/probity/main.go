// Command probity is the Probity server and its command-line client.
//
//	probity serve                  run the server
//	probity agent …                manage the agent inventory through the API
//	probity inventory              agents by risk, verification and gap
//	probity pact lint|apply|test|diff|evaluate   check pacts offline, store them, compare versions, judge commitments
//	probity events send FILE.jsonl send records to the server and show the violations they committed
//	probity violations             list violations of pacts
//	probity sink create|list|show|delete|deliveries|replay   SIEM/SOAR destinations: webhooks, syslog (CEF), Splunk HEC
//	probity incident list|show|ack|resolve   behavioral security incidents and their lifecycle
//	probity score show|history|gate|attestation   trust scores, the delegation gate, signed attestations
//	probity audit [--fail-on SEV]  the fleet behavioral security audit
//	probity report board [--format pdf]   the board report, in Markdown, HTML, JSON or PDF
//	probity eval run|list|show|results|suites|cancel   adversarial evals against an agent's endpoint
//	probity testbed serve          the deterministic reference agents, for demos and tests
//	probity verify ledger|record|export   check the tamper-evident ledger as a witness
//	probity ledger export          write the ledger with its checkpoint for an offline audit
//	probity key …                  manage API keys and rotate the attestation key, offline (against --data or --db)
//	probity org create NAME        create an org offline, with its first admin key
//	probity version                print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	// exitBreached is pact evaluate's answer when a commitment is breached,
	// so that a pipeline can stop on it.
	exitBreached = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand: it parses its own flags and writes to the
// writers it is given.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the Probity server", runServe},
		{"agent", "manage agents through the API (create, list, get, update, suspend, reactivate)", runAgent},
		{"inventory", "list agents by risk, verification and gap, through the API", runInventory},
		{"pact", "lint or test a pact offline, apply it, diff its versions, evaluate its commitments (lint, apply, test, diff, evaluate)", runPact},
		{"events", "send records from a JSON Lines file and show the violations they committed (send)", runEvents},
		{"violations", "list violations of pacts, through the API", runViolations},
		{"sink", "send events to a SIEM or SOAR: webhooks, syslog with CEF, Splunk HEC, and their delivery log (create, list, show, delete, deliveries, replay)", runSink},
		{"incident", "behavioral security incidents: list, show, acknowledge, resolve with a root cause (list, show, ack, resolve)", runIncident},
		{"demo", "play Probity's story on a fresh server in about a minute: a fleet, evals, an injection, a model update, incidents", runDemo},
		{"audit", "the fleet behavioral security audit: a table of every agent's risks, with an exit code to gate a pipeline", runAudit},
		{"score", "show an agent's trust score, its history, the delegation gate, or its signed attestation (show, history, gate, attestation)", runScore},
		{"report", "the board report: the fleet's behavioral security, mapped to the EU AI Act and the OWASP LLM Top 10 (board)", runReport},
		{"eval", "run adversarial suites against an agent's endpoint and read the results (run, list, show, results, suites, cancel)", runEval},
		{"key", "manage API keys, rotate the attestation signing key, offline (create, list, revoke, rotate-signing)", runKey},
		{"org", "create an org offline, with its first admin key", runOrg},
		{"verify", "verify the ledger as a witness, a record's inclusion, or an export offline", runVerify},
		{"ledger", "export the ledger with its signed checkpoint, for audits with no server", runLedger},
		{"testbed", "serve the deterministic reference agents over the OpenAI chat-completions protocol (serve)", runTestbed},
		{"version", "print the version", runVersion},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return exitCode(c.run(ctx, args[1:], stdout, stderr), stderr)
		}
	}
	fmt.Fprintf(stderr, "probity: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Probity: behavioral accountability for AI agents.\n\nUsage: probity <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'probity <command> -h' for a command's flags.")
}

// usageError marks a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// codeError ends a command that did its work with an exit code other than 1,
// such as exitBreached.
type codeError struct {
	code int
	msg  string
}

func (e *codeError) Error() string { return e.msg }

func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	var ce *codeError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "probity: %v\n", err)
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "probity: %v\n", err)
		return ce.code
	}
	fmt.Fprintf(stderr, "probity: %v\n", err)
	return exitError
}

// newFlags makes a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("probity "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses args, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	return nil
}

// env returns the environment variable name, or def when it is unset.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
