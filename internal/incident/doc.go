// Package incident turns behavioral evidence into behavioral security
// incidents: the rules of DESIGN.md section 7 with every threshold and
// window configurable (Config, read strictly from YAML or JSON by Parse),
// their evaluation (Evaluate), an incident's lifecycle open → acknowledged →
// resolved with its evidence and history (Incident), and anomaly detection
// against an agent's own baseline (DetectRuntime, DetectDimensions) with
// robust statistics.
//
// Everything here is pure: functions take values, including the instant
// they are asked about, and return values. They do no I/O and never read the
// clock, so an evaluation can be repeated for any past instant from the
// evidence stored up to it. The server (internal/api) reads the evidence,
// stores incidents with their ledger leaves, runs the playbooks and notifies
// sinks. docs/incidents.md describes the rules and the lifecycle,
// docs/anomaly.md the statistics and the reasoning behind every default.
package incident
