// Package store declares the storage seam of Probity: a Store runs
// transaction closures against one database, and a Tx offers the queries the
// server needs. SQL lives in the drivers (sqlite, postgres); what they share
// is the contract, checked by storetest.Run.
package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/ledger"
)

// Store runs transactions. Update closures run one at a time per database
// writer; View closures see a consistent snapshot and must not write.
// A closure's error rolls the transaction back and is returned unchanged.
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
	Update(ctx context.Context, fn func(Tx) error) error
	// Ping reports whether the database answers and is migrated.
	Ping(ctx context.Context) error
	Close() error
}

// Page selects a slice of an ordered list: the rows after the cursor After
// (empty for the first page), at most Limit of them.
type Page struct {
	After string
	Limit int
}

// AuditFilter selects audit entries, oldest first.
type AuditFilter struct {
	Page
	Action string // exact action, or empty for all
	Target string // exact target, or empty for all
}

// Tx is one transaction. Every method that reads org-owned rows takes the
// org id and never returns another org's rows: a foreign id is ErrNotFound.
// Methods return probity.ErrNotFound and probity.ErrConflict (wrapped).
type Tx interface {
	CreateOrg(ctx context.Context, org probity.Org) error
	GetOrg(ctx context.Context, id string) (probity.Org, error)
	ListOrgs(ctx context.Context) ([]probity.Org, error)

	CreateKey(ctx context.Context, k probity.APIKey) error
	// KeyByHash finds a key in any org: it is how a request is authenticated.
	KeyByHash(ctx context.Context, hash []byte) (probity.APIKey, error)
	GetKey(ctx context.Context, orgID, id string) (probity.APIKey, error)
	ListKeys(ctx context.Context, orgID string, p Page) ([]probity.APIKey, error)
	RevokeKey(ctx context.Context, orgID, id string, at time.Time) error

	CreateAgent(ctx context.Context, orgID string, a probity.Agent) error
	GetAgent(ctx context.Context, orgID, id string) (probity.Agent, error)
	ListAgents(ctx context.Context, orgID string, p Page) ([]probity.Agent, error)
	UpdateAgent(ctx context.Context, orgID string, a probity.Agent) error
	AddModelChange(ctx context.Context, orgID, agentID string, c probity.ModelChange) error
	ModelHistory(ctx context.Context, orgID, agentID string) ([]probity.ModelChange, error)

	// AppendAudit stores e and sets e.Seq, which grows per org.
	AppendAudit(ctx context.Context, orgID string, e *probity.AuditEntry) error
	ListAudit(ctx context.Context, orgID string, f AuditFilter) ([]probity.AuditEntry, error)
	// LinkAudit records the ledger leaf of audit entry seq.
	LinkAudit(ctx context.Context, orgID string, seq, ledgerIndex int64) error

	// SetLedgerKey stores the org's checkpoint signing key, unless it has one
	// already: the first key set is kept for the life of the ledger.
	SetLedgerKey(ctx context.Context, orgID string, k LedgerKey) error
	// LedgerKey returns it; ErrNotFound when the org has none yet.
	LedgerKey(ctx context.Context, orgID string) (LedgerKey, error)
	// LockLedger takes the org's ledger lock until the transaction ends, for
	// work that must read and then append without another writer between.
	LockLedger(ctx context.Context, orgID string) error
	// ReserveLedger grows the org's ledger by n leaves and returns the old
	// size, the index of the first new leaf. It locks the org's ledger until
	// the transaction ends, so appends never interleave, on any replica.
	ReserveLedger(ctx context.Context, orgID string, n int) (int64, error)
	LedgerSize(ctx context.Context, orgID string) (int64, error)
	// PutLedger stores leaves from index start and their stored hashes.
	PutLedger(ctx context.Context, orgID string, start int64, entries [][]byte, hashes []ledger.StoredHash) error
	// LedgerHashes reads stored hashes by tlog stored-hash index.
	LedgerHashes(ctx context.Context, orgID string, indexes []int64) ([]tlog.Hash, error)
	// LedgerEntries reads up to n leaves from index from.
	LedgerEntries(ctx context.Context, orgID string, from int64, n int) ([][]byte, error)
	SaveCheckpoint(ctx context.Context, orgID string, size int64, note []byte) error
	// LatestCheckpoint returns the largest signed checkpoint; ErrNotFound if none.
	LatestCheckpoint(ctx context.Context, orgID string) (size int64, note []byte, err error)

	// RecordIDs returns which of ids are already stored.
	RecordIDs(ctx context.Context, orgID string, ids []string) (map[string]bool, error)
	// InsertRecords indexes records whose leaves are already in the ledger.
	InsertRecords(ctx context.Context, orgID string, recs []RecordRow) error
	ListRecords(ctx context.Context, orgID string, f RecordFilter) ([]RecordRow, error)
	// LastRecordTime returns the time of the agent's latest record, zero if
	// it has none. It reads one entry of the (org, agent, time) index.
	LastRecordTime(ctx context.Context, orgID, agentID string) (time.Time, error)
	GetRecord(ctx context.Context, orgID, id string) (RecordRow, error)
	// TaintedSessions returns which of the agent's sessions hold a record
	// with a Taint, reading only the partial index of such records.
	TaintedSessions(ctx context.Context, orgID, agentID string, sessionIDs []string) (map[string]bool, error)
	// RecordSamples returns what commitments are judged on, for the agent's
	// records with time in (from, to]: the newest limit of them, newest
	// first.
	RecordSamples(ctx context.Context, orgID, agentID string, from, to time.Time, limit int) ([]RecordSample, error)
	// RecordDays counts the agent's records by UTC day and type, for the
	// days from from's through to's, by day then type. InsertRecords keeps
	// the counts in the same transaction.
	RecordDays(ctx context.Context, orgID, agentID string, from, to time.Time) ([]RecordDay, error)

	// InsertPactVersion stores an immutable pact version; ErrConflict if the
	// version exists.
	InsertPactVersion(ctx context.Context, orgID string, v PactVersion) error
	// LatestPactVersion returns the pact's newest version; ErrNotFound if none.
	LatestPactVersion(ctx context.Context, orgID, pactID string) (PactVersion, error)
	GetPactVersion(ctx context.Context, orgID, pactID string, version int) (PactVersion, error)
	// ListPactVersions returns every version of the pact, oldest first.
	ListPactVersions(ctx context.Context, orgID, pactID string) ([]PactVersion, error)
	// ListPacts returns the newest version of each pact, by pact id.
	ListPacts(ctx context.Context, orgID string, p Page) ([]PactVersion, error)
	// BindAgents makes pactID the active pact of exactly agentIDs: agents it
	// bound before and not named now are unbound. An agent bound to another
	// pact is ErrConflict.
	BindAgents(ctx context.Context, orgID, pactID string, agentIDs []string) error
	// PactOfAgent returns the id of the agent's active pact; ErrNotFound if none.
	PactOfAgent(ctx context.Context, orgID, agentID string) (string, error)

	// InsertViolations stores violations whose leaves are already in the
	// ledger; ErrConflict if an id is taken.
	// InsertEvalRun stores a new eval run; ErrConflict if the id exists.
	InsertEvalRun(ctx context.Context, orgID string, r EvalRun) error
	GetEvalRun(ctx context.Context, orgID, id string) (EvalRun, error)
	// LockEvalRun is GetEvalRun that also locks the run's row until the
	// transaction ends (on SQLite the writer lock does that already), so a
	// read-modify-write of the run cannot undo a cancel or a takeover that
	// commits in between.
	LockEvalRun(ctx context.Context, orgID, id string) (EvalRun, error)
	// ListEvalRuns returns runs newest first (by id, which sorts by time);
	// Page.After is the id of the last run of the previous page.
	ListEvalRuns(ctx context.Context, orgID string, f EvalRunFilter) ([]EvalRun, error)
	// UpdateEvalRun writes a run's mutable fields: status, reason, done,
	// model version, started and finished times, owner, lease and summary.
	UpdateEvalRun(ctx context.Context, orgID string, r EvalRun) error
	// ClaimEvalRun takes the oldest run, of any org, that is queued or
	// whose owner's lease ended before now, for owner until now+lease; ok is
	// false when there is none. Two replicas never claim the same run.
	ClaimEvalRun(ctx context.Context, owner string, now time.Time, lease time.Duration) (orgID string, r EvalRun, ok bool, err error)
	// InsertEvalResults stores results; ErrConflict if a (run, seq) exists.
	InsertEvalResults(ctx context.Context, orgID string, rs []EvalResult) error
	// ListEvalResults returns a run's results by seq after afterSeq (-1 for
	// all), at most limit; transcripts only when withTranscripts.
	ListEvalResults(ctx context.Context, orgID, runID string, afterSeq, limit int, withTranscripts bool) ([]EvalResult, error)

	// InsertScore stores a score snapshot; ErrConflict if the agent has one
	// at that time.
	InsertScore(ctx context.Context, orgID string, sc ScoreSnapshot) error
	// LatestScore returns the agent's newest snapshot; ErrNotFound if none.
	LatestScore(ctx context.Context, orgID, agentID string) (ScoreSnapshot, error)
	// ListScores returns the agent's snapshots with from <= time < to (zero
	// to: unbounded), oldest first, at most limit.
	ListScores(ctx context.Context, orgID, agentID string, from, to time.Time, limit int) ([]ScoreSnapshot, error)

	// InsertAttestationKey stores a signing key; ErrConflict if the id exists.
	InsertAttestationKey(ctx context.Context, orgID string, k AttestationKey) error
	// ListAttestationKeys returns the org's keys, oldest first.
	ListAttestationKeys(ctx context.Context, orgID string) ([]AttestationKey, error)
	// RetireAttestationKeys marks every active key of the org retired.
	RetireAttestationKeys(ctx context.Context, orgID string) error

	// InsertSuite stores an uploaded suite; ErrConflict if the id exists.
	InsertSuite(ctx context.Context, orgID string, su SuiteSource) error
	GetSuite(ctx context.Context, orgID, id string) (SuiteSource, error)
	// ListSuites returns the org's suites by id; Page.After is the last id.
	ListSuites(ctx context.Context, orgID string, p Page) ([]SuiteSource, error)

	// InsertSchedule stores a recurring eval; ErrConflict if the id exists.
	InsertSchedule(ctx context.Context, orgID string, sc Schedule) error
	// ListSchedules returns schedules by id; Page.After is the last id.
	ListSchedules(ctx context.Context, orgID string, p Page) ([]Schedule, error)
	// DeleteSchedule removes a schedule; ErrNotFound if there is none.
	DeleteSchedule(ctx context.Context, orgID, id string) error
	// DueSchedules returns, across orgs, up to limit schedules whose next run
	// is at or before now, locked for this transaction (on PostgreSQL,
	// skipping those another transaction holds), so a due run is queued once.
	DueSchedules(ctx context.Context, now time.Time, limit int) ([]DueSchedule, error)
	// UpdateSchedule writes a schedule's next run and last run id.
	UpdateSchedule(ctx context.Context, orgID string, sc Schedule) error

	InsertViolations(ctx context.Context, orgID string, vs []Violation) error
	// ListViolations returns violations in ledger order.
	ListViolations(ctx context.Context, orgID string, f ViolationFilter) ([]Violation, error)
	// LastViolation returns the ledger index of the agent's latest
	// violation, or -1 when it has none: violations are only added, so an
	// unchanged index means an unchanged list.
	LastViolation(ctx context.Context, orgID, agentID string) (int64, error)

	// InsertIncident stores a new incident whose opening leaf is already in
	// the ledger; ErrConflict if the id is taken or the agent has an active
	// (open or acknowledged) incident of the same rule.
	InsertIncident(ctx context.Context, orgID string, in Incident) error
	// UpdateIncident writes an incident's status, times and body;
	// ErrNotFound if there is none.
	UpdateIncident(ctx context.Context, orgID string, in Incident) error
	GetIncident(ctx context.Context, orgID, id string) (Incident, error)
	// ActiveIncidents returns the agent's open and acknowledged incidents,
	// oldest first.
	ActiveIncidents(ctx context.Context, orgID, agentID string) ([]Incident, error)
	// ListIncidents returns incidents newest first (by the ledger index of
	// their opening); Page.After is the decimal ledger index of the last
	// incident of the previous page.
	ListIncidents(ctx context.Context, orgID string, f IncidentFilter) ([]Incident, error)
	// IncidentSummary counts the agent's active incidents by severity and
	// says when each rule's incident was last resolved.
	IncidentSummary(ctx context.Context, orgID, agentID string) (IncidentSummary, error)
	// SetIncidentRules stores the org's incident rules document, replacing
	// any; IncidentRules reads it, ErrNotFound if the org has none.
	SetIncidentRules(ctx context.Context, orgID string, doc []byte, at time.Time) error
	IncidentRules(ctx context.Context, orgID string) ([]byte, error)

	// CreateWebSession stores a dashboard session; ErrConflict if its id
	// hash exists. Sessions belong to the key that signed in, in any org.
	CreateWebSession(ctx context.Context, ws WebSession) error
	// GetWebSession returns a session by the hash of its cookie's value;
	// ErrNotFound if there is none.
	GetWebSession(ctx context.Context, idHash []byte) (WebSession, error)
	// UpdateWebSession writes a session's flash and last-seen time.
	UpdateWebSession(ctx context.Context, ws WebSession) error
	DeleteWebSession(ctx context.Context, idHash []byte) error
	// PruneWebSessions deletes the sessions last seen before seenBefore or
	// created before createdBefore, and returns how many.
	PruneWebSessions(ctx context.Context, seenBefore, createdBefore time.Time) (int, error)

	// AddActivity adds counts to the agents' hourly activity rollups.
	AddActivity(ctx context.Context, orgID string, as []Activity) error
	// ListActivity returns the agent's rollups of hours in [from, to), by
	// hour then tool.
	ListActivity(ctx context.Context, orgID, agentID string, from, to time.Time) ([]Activity, error)
	// PruneActivity deletes every org's rollups of hours before before.
	PruneActivity(ctx context.Context, before time.Time) error
	// InsertAnomalies stores anomaly flags, skipping ids already stored, and
	// returns how many were new.
	InsertAnomalies(ctx context.Context, orgID string, as []Anomaly) (int, error)
	// ListAnomalies returns flags newest first (by start, then id); Page.After
	// is the cursor the previous page's last flag gives (AnomalyCursor).
	ListAnomalies(ctx context.Context, orgID string, f AnomalyFilter) ([]Anomaly, error)

	// InsertSink stores a sink; ErrConflict if the id exists.
	InsertSink(ctx context.Context, orgID string, sk Sink) error
	GetSink(ctx context.Context, orgID, id string) (Sink, error)
	// ListSinks returns sinks by id; Page.After is the last id.
	ListSinks(ctx context.Context, orgID string, p Page) ([]Sink, error)
	// DeleteSink removes a sink with its deliveries; ErrNotFound if none.
	DeleteSink(ctx context.Context, orgID, id string) error
	// InsertDeliveries queues deliveries (the outbox); ErrConflict if an id
	// is taken.
	InsertDeliveries(ctx context.Context, orgID string, ds []Delivery) error
	GetDelivery(ctx context.Context, orgID, id string) (Delivery, error)
	// ListDeliveries returns a sink's deliveries newest first (by id, which
	// sorts by time); Page.After is the id of the last of the previous page.
	ListDeliveries(ctx context.Context, orgID string, f DeliveryFilter) ([]Delivery, error)
	// DeliveryAttempts returns the attempts of the deliveries ids, by
	// delivery and then in order.
	DeliveryAttempts(ctx context.Context, orgID string, ids []string) ([]DeliveryAttempt, error)
	// ClaimDeliveries takes, across orgs, up to limit pending deliveries due
	// at or before now whose sink is not in skip, oldest due first: each is
	// marked with claim and is not due again until now+lease, so that a
	// claimer that dies gives it back. On PostgreSQL rows another
	// transaction holds are skipped, so replicas never take the same one.
	ClaimDeliveries(ctx context.Context, claim string, now time.Time, lease time.Duration, limit int, skip []SinkRef) ([]ClaimedDelivery, error)
	// FinishDeliveries records what became of claimed deliveries. A result
	// whose claim is no longer the delivery's (its lease ran out and another
	// claimer took it) changes nothing.
	FinishDeliveries(ctx context.Context, rs []DeliveryResult) error
	// ReplayDeliveries queues again, due at now with a fresh attempt count,
	// the sink's deliveries ids that are sent or dead, or with no ids every
	// dead one. It returns how many it queued.
	ReplayDeliveries(ctx context.Context, orgID, sinkID string, ids []string, now time.Time) (int, error)
	// OutboxBacklog counts pending deliveries across orgs.
	OutboxBacklog(ctx context.Context) (int64, error)
	// PruneDeliveries deletes, across orgs, deliveries sent before before,
	// with their attempts, and returns how many.
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
}

// Eval run statuses.
const (
	EvalQueued    = "queued"
	EvalRunning   = "running"
	EvalCompleted = "completed"
	EvalFailed    = "failed"
	EvalCancelled = "cancelled"
)

// EvalRun is one run of suites against an agent.
type EvalRun struct {
	ID           string
	AgentID      string
	Suites       []string
	Repeat       int
	Trigger      string // manual, schedule or baseline
	Status       string
	Reason       string // why it failed or was cancelled
	Total, Done  int
	ModelVersion string // the agent's model version when the run was made
	CreatedAt    time.Time
	CreatedBy    string
	StartedAt    time.Time // zero until claimed
	FinishedAt   time.Time // zero until it ends
	Owner        string    // the replica running it
	LeaseUntil   time.Time
	Summary      []byte // JSON, written when the run ends
	LedgerIndex  int64  // the leaf recording its creation
}

// EvalRunFilter selects runs; empty fields select all.
type EvalRunFilter struct {
	Page
	AgentID string
}

// EvalResult is one graded case of a run. Seq is the item's index in the
// run, so a resumed run knows what is left.
type EvalResult struct {
	RunID        string
	Seq          int
	Suite        string
	CaseID       string
	Repeat       int
	Status       string // passed, failed or error
	Grade        []byte // JSON
	Transcript   []byte // JSON; empty unless asked for
	LatencyMs    float64
	ModelVersion string
	CreatedAt    time.Time
	LedgerIndex  int64
}

// ScoreSnapshot is an agent's trust score at one time.
type ScoreSnapshot struct {
	AgentID     string
	ComputedAt  time.Time
	Composite   int
	Tier        string
	Score       []byte // the score object, JSON
	LedgerIndex int64
}

// AttestationKey is an Ed25519 key an org signs attestations with.
type AttestationKey struct {
	KeyID     string
	Public    []byte // 32 bytes
	Private   []byte // the 64-byte private key
	Status    string // active or retired
	CreatedAt time.Time
}

// SuiteSource is a suite an org uploaded: a suite document (YAML or JSON)
// or an accuracy dataset (JSONL), as posted.
type SuiteSource struct {
	ID          string
	Kind        string // suite or dataset
	Digest      string
	Source      []byte
	CreatedAt   time.Time
	CreatedBy   string
	LedgerIndex int64
}

// Schedule is a recurring eval run: a cron expression and what to run.
type Schedule struct {
	ID        string
	AgentID   string
	Suites    []string
	Repeat    int
	Cron      string
	NextRun   time.Time
	LastRunID string
	CreatedAt time.Time
	CreatedBy string
}

// DueSchedule is a schedule that is due, with its org.
type DueSchedule struct {
	OrgID string
	Schedule
}

// Sink is a destination of events: a webhook, a syslog receiver or a
// Splunk HTTP Event Collector. Its kind's settings are opaque here.
type Sink struct {
	ID          string
	Name        string
	Kind        string // webhook, syslog or splunk_hec
	Format      string // json, ocsf or cef
	Config      []byte // the kind's settings, JSON
	Secret      string // the webhook signing secret or the HEC token
	MinSeverity string
	EventTypes  []string // empty: every type
	CreatedAt   time.Time
	CreatedBy   string
}

// SinkRef names one org's sink.
type SinkRef struct{ OrgID, SinkID string }

// Delivery statuses.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryDead    = "dead"
)

// Delivery is one event on its way to one sink: the event itself, where it
// stands, and the last attempt.
type Delivery struct {
	ID          string
	SinkID      string
	EventID     string
	EventType   string
	Severity    string
	AgentID     string
	EventTime   time.Time
	Body        []byte // the event, JSON
	Status      string
	Attempts    int       // since it was queued or last replayed
	Tries       int       // over its whole life: the attempt log's length
	NextAttempt time.Time // when a pending one is due
	LastAttempt time.Time // zero before the first attempt
	LastCode    int       // the last attempt's HTTP status, 0 if none
	LastError   string
	CreatedAt   time.Time
	SentAt      time.Time // zero until sent
}

// DeliveryFilter selects a sink's deliveries; an empty Status selects all.
type DeliveryFilter struct {
	Page
	SinkID string
	Status string
}

// DeliveryAttempt is one try to hand a delivery to its sink.
type DeliveryAttempt struct {
	DeliveryID string
	Seq        int // 1 for the first try of the delivery's life
	Time       time.Time
	Duration   time.Duration
	Code       int    // HTTP status, 0 for other transports or no answer
	Error      string // empty when it was sent
}

// ClaimedDelivery is a delivery taken for sending, with its org, its sink
// and the claim that FinishDeliveries checks.
type ClaimedDelivery struct {
	OrgID string
	Delivery
	Sink  Sink
	Claim string
}

// Outcomes of a claimed delivery.
const (
	OutcomeSent     = "sent"     // the sink took it
	OutcomeRetry    = "retry"    // it failed; try again at Next
	OutcomeDead     = "dead"     // it failed for the last time
	OutcomeReleased = "released" // it was not tried; due again at Next
)

// DeliveryResult is what became of a claimed delivery.
type DeliveryResult struct {
	OrgID, ID, Claim string
	Outcome          string
	Attempt          DeliveryAttempt // unused when released
	Next             time.Time       // for retry and released
}

// Violation is a stored breach of a pact clause: which version of which
// pact, the records that are its evidence, and its ledger leaf.
type Violation struct {
	ID          string
	AgentID     string
	PactID      string
	PactVersion int
	Clause      string
	Kind        string
	Severity    string
	RecordIDs   []string
	Explanation string
	Time        time.Time
	LedgerIndex int64
	// Confirmed marks an injection-influenced call that also broke the pact.
	Confirmed bool
}

// ViolationFilter selects violations, in ledger order. Empty fields select
// all; To is exclusive. Page.After is the decimal ledger index of the last
// violation of the previous page.
type ViolationFilter struct {
	Page
	AgentID  string
	Clause   string
	Severity string
	Kind     string
	From, To time.Time
}

// Incident statuses as the store filters them; StatusActive selects open
// and acknowledged incidents together.
const (
	IncidentOpen         = "open"
	IncidentAcknowledged = "acknowledged"
	IncidentResolved     = "resolved"
	IncidentActive       = "active"
)

// Incident is a stored incident: what incidents are looked up by, and the
// whole incident (internal/incident.Incident) as JSON in Body.
type Incident struct {
	ID         string
	AgentID    string
	Rule       string
	Severity   string
	Status     string
	OpenedAt   time.Time
	UpdatedAt  time.Time
	ResolvedAt time.Time // zero while active
	// ResolvedIndex is the leaf of its resolution, when ResolvedAt is set.
	ResolvedIndex int64
	LedgerIndex   int64 // the leaf of its opening
	Body          []byte
}

// IncidentFilter selects incidents; empty fields select all. Status may be
// IncidentActive. Since selects incidents updated (opened, given evidence,
// acknowledged or resolved) at or after it.
type IncidentFilter struct {
	Page
	AgentID  string
	Status   string
	Severity string
	Rule     string
	Since    time.Time
}

// IncidentSummary is an agent's incidents as scores and rules need them.
type IncidentSummary struct {
	// Active incidents by severity.
	Critical, High, Medium int
	// LastCritical is when the agent's latest critical incident opened;
	// zero if it never had one.
	LastCritical time.Time
	// Resolved maps a rule to the latest resolution of the agent's
	// incidents of that rule.
	Resolved map[string]Resolution
}

// Resolution is when an incident was resolved, and the leaf that says so.
type Resolution struct {
	At          time.Time
	LedgerIndex int64
}

// Activity is an agent's activity in one hour. The row with Tool "" holds
// the totals; a row per tool holds that tool's calls in ToolCalls.
type Activity struct {
	AgentID    string
	Hour       time.Time
	Tool       string
	Records    int64
	ToolCalls  int64
	Errors     int64
	Violations int64
}

// Anomaly is a stored anomaly flag (internal/incident.Flag as JSON in Body).
type Anomaly struct {
	ID       string
	AgentID  string
	Metric   string
	Start    time.Time
	End      time.Time
	Detected time.Time
	Body     []byte
}

// AnomalyFilter selects flags; an empty AgentID selects every agent's, and
// From (inclusive) and To (exclusive) bound their start when set.
type AnomalyFilter struct {
	Page
	AgentID  string
	From, To time.Time
}

// AnomalyCursor is the Page.After that continues a list of anomalies after a.
func AnomalyCursor(a Anomaly) string {
	return strconv.FormatInt(a.Start.UTC().UnixMicro(), 10) + "/" + a.ID
}

// ParseAnomalyCursor reads an AnomalyCursor.
func ParseAnomalyCursor(c string) (start time.Time, id string, err error) {
	us, id, ok := strings.Cut(c, "/")
	n, perr := strconv.ParseInt(us, 10, 64)
	if !ok || perr != nil || id == "" {
		return time.Time{}, "", probity.Invalid("cursor", "not a cursor this list returned")
	}
	return time.UnixMicro(n).UTC(), id, nil
}

// PactVersion is one immutable version of a pact: its canonical form (what
// Digest covers), the source text it was compiled from, and its ledger leaf.
type PactVersion struct {
	PactID      string
	Version     int
	Digest      string
	Canonical   []byte
	Source      []byte
	CreatedAt   time.Time
	CreatedBy   string
	LedgerIndex int64
}

// LedgerKey is an org's ledger identity: its origin and note keys.
type LedgerKey struct {
	Origin   string
	Signer   string // private: never leaves the store but to sign
	Verifier string
}

// RecordRow is a record's index entry: where its leaf is, and the fields
// records are looked up by. Entry is the leaf's bytes when read back.
type RecordRow struct {
	ID          string
	AgentID     string
	SessionID   string
	Type        string
	Time        time.Time
	LedgerIndex int64
	Entry       []byte

	// Facts derived at ingest (not part of the leaf).
	LatencyMs  *float64 // the record's latencyMs
	Failed     bool     // an error record, or outcome failure or timeout
	Taint      string   // a flagged tool result: its traced tokens, a JSON array
	Influenced bool     // a tool call that carried a traced token
}

// RecordSample is one record as a commitment window sees it.
// WebSession is a signed-in dashboard browser.
type WebSession struct {
	IDHash  []byte // SHA-256 of the cookie's value
	KeyHash []byte // the API key's hash, resolved again on every request
	CSRF    string // the token every form carries
	Flash   string // a notice for the next page
	Created time.Time
	Seen    time.Time
}

// RecordDay is how many records of a type an agent had on a UTC day, and
// the time of the latest.
type RecordDay struct {
	Day   time.Time // the day's midnight, UTC
	Type  string
	Count int64
	Last  time.Time
}

// AgentDay is a RecordDay of one agent.
type AgentDay struct {
	AgentID string
	RecordDay
}

// DayCounts groups records by agent, UTC day and type, for InsertRecords.
func DayCounts(recs []RecordRow) []AgentDay {
	type key struct {
		agent, typ string
		day        time.Time
	}
	idx := map[key]int{}
	var out []AgentDay
	for _, r := range recs {
		k := key{r.AgentID, r.Type, r.Time.UTC().Truncate(24 * time.Hour)}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, AgentDay{r.AgentID, RecordDay{Day: k.day, Type: r.Type}})
		}
		out[i].Count++
		if r.Time.After(out[i].Last) {
			out[i].Last = r.Time
		}
	}
	return out
}

type RecordSample struct {
	ID        string
	Type      string
	Time      time.Time
	LatencyMs *float64
	Failed    bool
}

// RecordFilter selects an agent's records, in time order.
type RecordFilter struct {
	AgentID   string
	From, To  time.Time // To is exclusive; zero means unbounded
	SessionID string
	Type      string
	Tainted   bool // only records with a Taint
	// After is the (time, ledger index) of the last record of the previous page.
	AfterTime  time.Time
	AfterIndex int64
	Limit      int
	// MaxBytes stops the list once its entries reach this many bytes (the
	// row that crosses it is the last); zero means no bound.
	MaxBytes int
}

// Migration is one embedded schema change, applied once, in version order.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// ReadMigrations loads NNNN_name.sql files from dir in fsys, sorted by version.
// Drivers embed their own SQL and apply it with their own locking.
func ReadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var out []Migration
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and '_'", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", name, err)
		}
		if len(out) > 0 && out[len(out)-1].Version == v {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[len(out)-1].Name, name, v)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// ErrLedgerDamaged means stored ledger rows are missing or malformed: the
// database was changed behind the server's back.
var ErrLedgerDamaged = errors.New("ledger damaged")

// ErrNotMigrated is returned by Ping when the schema is older than the binary.
var ErrNotMigrated = errors.New("database schema is not migrated")

// Now is the store's notion of a timestamp: UTC, microsecond precision, so
// that every driver round-trips it exactly.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Limit clamps a requested page size to [1, max], with def for zero.
func Limit(n, def, max int) int {
	switch {
	case n <= 0:
		return def
	case n > max:
		return max
	}
	return n
}
