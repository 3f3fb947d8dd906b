package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
)

// agentInput is what a client may set on an agent. Status and timestamps are
// the server's: they change only through suspend and reactivate.
type agentInput struct {
	ID          string            `json:"id"`
	Name        string            `json:"name,omitempty"`
	Owner       string            `json:"owner,omitempty"`
	Description string            `json:"description,omitempty"`
	Model       probity.Model     `json:"model"`
	Endpoint    *probity.Endpoint `json:"endpoint,omitempty"`
	Access      probity.Access    `json:"access"`
	RiskTier    string            `json:"riskTier,omitempty"`
}

func (in agentInput) apply(a *probity.Agent) {
	a.ID, a.Name, a.Owner, a.Description = in.ID, in.Name, in.Owner, in.Description
	a.Model, a.Endpoint, a.Access, a.RiskTier = in.Model, in.Endpoint, in.Access, in.RiskTier
}

func inputOf(a probity.Agent) agentInput {
	return agentInput{ID: a.ID, Name: a.Name, Owner: a.Owner, Description: a.Description,
		Model: a.Model, Endpoint: a.Endpoint, Access: a.Access, RiskTier: a.RiskTier}
}

// serverFields may not be set by a client, with the reason given back.
var serverFields = []struct{ name, why string }{
	{"status", "set through POST /v1/agents/{id}/suspend and /reactivate"},
	{"statusReason", "set through POST /v1/agents/{id}/suspend and /reactivate"},
	{"createdAt", "read-only"},
	{"updatedAt", "read-only"},
}

func rejectServerFields(raw map[string]json.RawMessage) error {
	for _, f := range serverFields {
		if _, ok := raw[f.name]; ok {
			return probity.Invalid(f.name, "cannot be set by a client: %s", f.why)
		}
	}
	return nil
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request, c *call) error {
	var raw map[string]json.RawMessage
	if err := decodeJSON(r, &raw); err != nil {
		return err
	}
	if err := rejectServerFields(raw); err != nil {
		return err
	}
	var in agentInput
	b, _ := json.Marshal(raw)
	if err := unmarshalStrict(b, &in); err != nil {
		return err
	}
	now := s.now()
	a := probity.Agent{Status: probity.StatusActive, CreatedAt: now, UpdatedAt: now}
	in.apply(&a)
	if err := a.Validate(); err != nil {
		return err
	}
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		if err := tx.CreateAgent(r.Context(), c.org, a); errors.Is(err, probity.ErrConflict) {
			return clientError(probity.ErrConflict, "agent %s already exists", a.ID)
		} else if err != nil {
			return err
		}
		if a.Model != (probity.Model{}) {
			if err := tx.AddModelChange(r.Context(), c.org, a.ID, probity.ModelChange{Model: a.Model, Since: now, ChangedBy: c.actor()}); err != nil {
				return err
			}
		}
		return s.audit(r, tx, c, now, "agent.create", "agent:"+a.ID, inputOf(a))
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/agents/"+a.ID)
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	var agents []probity.Agent
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		agents, err = tx.ListAgents(r.Context(), c.org, peek(p))
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, paged(agents, p, func(a probity.Agent) string { return a.ID }))
	return nil
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var a probity.Agent
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		a, err = tx.GetAgent(r.Context(), c.org, id)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// updateAgent applies a JSON merge patch (RFC 7396) to the agent's client
// fields. A change of model is a model update and enters the model history.
func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var patch map[string]json.RawMessage
	if err := decodeJSON(r, &patch); err != nil {
		return err
	}
	if err := rejectServerFields(patch); err != nil {
		return err
	}
	if len(patch) == 0 {
		return probity.Invalid("", "the patch is empty: name at least one field to change")
	}
	// The patch itself must fit the agent's shape: a null for an unknown
	// field is as wrong as a value.
	raw, _ := json.Marshal(patch)
	if err := unmarshalStrict(raw, &agentInput{}); err != nil {
		return err
	}
	var a probity.Agent
	queued := false
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		queued = false
		// Every change to an agent takes the org's ledger lock before it
		// reads the agent (it appends a leaf anyway): on PostgreSQL, a
		// read-modify-write that did not could write back a status another
		// transaction changed meanwhile, undoing a suspension.
		if err := tx.LockLedger(r.Context(), c.org); err != nil {
			return err
		}
		a, err = tx.GetAgent(r.Context(), c.org, id)
		if err != nil {
			return err
		}
		before := a
		cur, err := json.Marshal(inputOf(a))
		if err != nil {
			return err
		}
		merged, err := mergePatch(cur, patch)
		if err != nil {
			return err
		}
		var in agentInput
		if err := unmarshalStrict(merged, &in); err != nil {
			return err
		}
		if in.ID != id {
			return probity.Invalid("id", "cannot be changed")
		}
		in.apply(&a)
		if err := a.Validate(); err != nil {
			return err
		}
		if reflect.DeepEqual(inputOf(a), inputOf(before)) {
			return nil // nothing changes: no write, no audit entry
		}
		a.UpdatedAt = s.now()
		if err := tx.UpdateAgent(r.Context(), c.org, a); err != nil {
			return err
		}
		change := map[string]any{"patch": patch}
		if a.Model != before.Model {
			change["model"] = map[string]probity.Model{"from": before.Model, "to": a.Model}
			if err := tx.AddModelChange(r.Context(), c.org, id, probity.ModelChange{Model: a.Model, Since: a.UpdatedAt, ChangedBy: c.actor()}); err != nil {
				return err
			}
			// A new model version gets a baseline of every suite, queued in
			// the same transaction, when the agent has an endpoint to run it.
			if a.Model.Version != before.Model.Version && a.Model.Version != "" {
				if _, err := endpointOf(a); err == nil {
					suites, err := s.baselineSuites(r.Context(), tx, c.org)
					if err != nil {
						return err
					}
					// A baseline that cannot be made (too many cases, a
					// stored suite that no longer loads) does not block the
					// model update: the audit entry says why.
					run, err := s.newRun(s.lookupIn(r.Context(), tx, c.org), id, suites, 1, "baseline", c.actor())
					switch {
					case err == nil:
						if err := s.queueTx(r.Context(), tx, c.org, a, &run); err != nil {
							return err
						}
						change["baselineRun"] = run.ID
						queued = true
					case errors.Is(err, probity.ErrInvalid) || errors.Is(err, probity.ErrConflict):
						change["baselineError"] = err.Error()
					default:
						return err
					}
				}
			}
		}
		return s.audit(r, tx, c, a.UpdatedAt, "agent.update", "agent:"+id, change)
	})
	if err != nil {
		return err
	}
	if queued {
		s.wakeWorkers()
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// mergePatch applies an RFC 7396 merge patch to the JSON object doc.
func mergePatch(doc []byte, patch map[string]json.RawMessage) ([]byte, error) {
	var target map[string]json.RawMessage
	if err := json.Unmarshal(doc, &target); err != nil {
		return nil, err
	}
	for k, v := range patch {
		trimmed := strings.TrimSpace(string(v))
		switch {
		case trimmed == "null":
			delete(target, k)
		case strings.HasPrefix(trimmed, "{") && strings.HasPrefix(strings.TrimSpace(string(target[k])), "{"):
			var sub map[string]json.RawMessage
			if err := json.Unmarshal(v, &sub); err != nil {
				return nil, jsonError(err)
			}
			merged, err := mergePatch(target[k], sub)
			if err != nil {
				return nil, err
			}
			target[k] = merged
		default:
			target[k] = v
		}
	}
	return json.Marshal(target)
}

type suspendInput struct {
	Reason string `json:"reason"`
}

type reactivateInput struct {
	RootCause string `json:"rootCause"`
}

const maxReason = 4000

func (s *Server) suspendAgent(w http.ResponseWriter, r *http.Request, c *call) error {
	var in suspendInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return probity.Invalid("reason", "is required: say why the agent is suspended")
	}
	if err := probity.CheckText("reason", in.Reason, maxReason); err != nil {
		return err
	}
	return s.setStatus(w, r, c, probity.StatusSuspended, in.Reason, "agent.suspend", in)
}

func (s *Server) reactivateAgent(w http.ResponseWriter, r *http.Request, c *call) error {
	var in reactivateInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.RootCause) == "" {
		return probity.Invalid("rootCause", "is required: record the root cause and why it is safe to reactivate")
	}
	if err := probity.CheckText("rootCause", in.RootCause, maxReason); err != nil {
		return err
	}
	return s.setStatus(w, r, c, probity.StatusActive, "", "agent.reactivate", in)
}

func (s *Server) setStatus(w http.ResponseWriter, r *http.Request, c *call, status, reason, action string, change any) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var a probity.Agent
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if err := tx.LockLedger(r.Context(), c.org); err != nil { // as in updateAgent
			return err
		}
		a, err = tx.GetAgent(r.Context(), c.org, id)
		if err != nil {
			return err
		}
		if a.Status == status {
			return clientError(probity.ErrConflict, "agent %s is already %s", id, status)
		}
		a.Status, a.StatusReason, a.UpdatedAt = status, reason, s.now()
		if err := tx.UpdateAgent(r.Context(), c.org, a); err != nil {
			return err
		}
		if err := s.emit(r.Context(), tx, c.org, agentStatusEvent(a)); err != nil {
			return err
		}
		if rc, ok := change.(reactivateInput); ok {
			// Reactivating is the resolution of the incident that
			// suspended the agent: its root cause is the incident's.
			if err := s.resolveSuspensions(r.Context(), tx, c.org, c.actor(), id, rc.RootCause, a.UpdatedAt.UTC().Truncate(time.Microsecond)); err != nil {
				return err
			}
		}
		return s.audit(r, tx, c, a.UpdatedAt, action, "agent:"+id, change)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) modelHistory(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var hist []probity.ModelChange
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if _, err := tx.GetAgent(r.Context(), c.org, id); err != nil {
			return err
		}
		hist, err = tx.ModelHistory(r.Context(), c.org, id)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[probity.ModelChange]{Items: hist})
	return nil
}

// audit records an admin action in the same transaction as the action, at
// the action's own time.
func (s *Server) audit(r *http.Request, tx store.Tx, c *call, at time.Time, action, target string, change any) error {
	b, err := json.Marshal(change)
	if err != nil {
		return fmt.Errorf("encoding audit change: %w", err)
	}
	return store.Audit(r.Context(), tx, c.org, &probity.AuditEntry{
		Time: at, Actor: c.actor(), Action: action, Target: target, Change: b,
	})
}
