package roll

import (
	"fmt"
	"time"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// StatusNamespace is the namespace of the roll farm's status records:
// <root>/status/rolls/<id>/roll-farm.
const StatusNamespace = "roll-farm"

// Phase is where a roll stands.
type Phase string

const (
	// Running: the roll is moving replicas, or waiting to (Message says
	// for what).
	Running Phase = "running"
	// Paused: the roll's paused field is set; the farm takes no step
	// until it is cleared.
	Paused Phase = "paused"
	// Done: the new RC runs desired_replicas healthy pods and the old RC
	// is at 0 (deleted unless leave_old). The farm deleted the roll in the
	// same transaction; this record stays as its history.
	Done Phase = "done"
	// Failed: the roll stopped (its deadline passed, or its new RC is
	// missing); Message says why. Nothing is reverted, and the farm deleted
	// the roll in the same transaction as this record.
	Failed Phase = "failed"
	// Halted: the roll was deleted or aborted before it finished; both RCs
	// stay as they are.
	Halted Phase = "halted"

	// Rolling is Running's former name; records that say "rolling" still
	// decode and read as running.
	//
	// Deprecated: use Running.
	Rolling = Running
	// legacyRolling is what Running was stored as before.
	legacyRolling Phase = "rolling"
)

// UnmarshalText reads a phase; the former "rolling" reads as Running.
func (p *Phase) UnmarshalText(text []byte) error {
	*p = Phase(text)
	if *p == legacyRolling {
		*p = Running
	}
	return nil
}

// Finished reports whether the phase is final: done, failed or halted.
func (p Phase) Finished() bool { return p == Done || p == Failed || p == Halted }

// Status is the roll farm's record of one roll's progress.
type Status struct {
	Phase Phase  `json:"phase"`
	OldRC string `json:"old_rc"`
	NewRC string `json:"new_rc"`
	// OldReplicas and NewReplicas are the RCs' replicas_desired.
	OldReplicas int `json:"old_replicas"`
	NewReplicas int `json:"new_replicas"`
	// OldHealthy and NewHealthy count the healthy pods of each RC (each
	// counted at most up to its RC's replicas_desired); Healthy is their
	// sum, which the roll keeps at or above MinimumReplicas.
	OldHealthy      int    `json:"old_healthy"`
	NewHealthy      int    `json:"new_healthy"`
	Healthy         int    `json:"healthy"`
	DesiredReplicas int    `json:"desired_replicas"`
	MinimumReplicas int    `json:"minimum_replicas"`
	Message         string `json:"message,omitempty"`
	// RollRevision is the etcd create revision of the roll the record
	// describes: a roll deleted and created again starts afresh.
	RollRevision int64 `json:"roll_revision"`
	// StartedAt is when the farm first saw the roll; the deadline counts
	// from it.
	StartedAt time.Time `json:"started_at"`
	// LastStepAt is when replicas last moved; roll_delay counts from it.
	LastStepAt time.Time `json:"last_step_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Progress is the new RC's healthy pods out of the roll's desired
// replicas: "2/3".
func (s *Status) Progress() string { return fmt.Sprintf("%d/%d", s.NewHealthy, s.DesiredReplicas) }

// Validate checks the phase.
func (s *Status) Validate() error {
	switch s.Phase {
	case Running, Paused, Done, Failed, Halted:
		return nil
	}
	return fmt.Errorf("roll status: phase %q is not running, paused, done, failed or halted", s.Phase)
}

// same reports whether two records say the same, ignoring UpdatedAt.
func (s *Status) same(o *Status) bool {
	if !s.StartedAt.Equal(o.StartedAt) || !s.LastStepAt.Equal(o.LastStepAt) {
		return false
	}
	a, b := *s, *o
	a.StartedAt, a.LastStepAt, a.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	b.StartedAt, b.LastStepAt, b.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	return a == b
}

// NewStatusStore returns the store of the roll farm's status records; read
// one with Get(ctx, status.Rolls, id).
func NewStatusStore(client *clientv3.Client, opts ...keyspace.Option) *status.Store[Status] {
	s, err := status.NewStore[Status](client, StatusNamespace, opts...)
	if err != nil {
		panic(err) // StatusNamespace is a valid id
	}
	return s
}
