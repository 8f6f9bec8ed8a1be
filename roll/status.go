package roll

import (
	"fmt"
	"time"

	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// StatusNamespace is the namespace of the roll farm's status records:
// <root>/status/rolls/<id>/roll-farm.
const StatusNamespace = "roll-farm"

// Phase is where a roll stands.
type Phase string

const (
	// Rolling: the roll is moving replicas.
	Rolling Phase = "rolling"
	// Done: the new RC runs desired_replicas healthy pods and the old RC
	// is at 0 (deleted unless leave_old).
	Done Phase = "done"
	// Failed: the roll stopped (its deadline passed, or its new RC is
	// missing); Message says why. Nothing is reverted.
	Failed Phase = "failed"
	// Halted: the roll was deleted; both RCs stay as they are.
	Halted Phase = "halted"
)

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

// Validate checks the phase.
func (s *Status) Validate() error {
	switch s.Phase {
	case Rolling, Done, Failed, Halted:
		return nil
	}
	return fmt.Errorf("roll status: phase %q is not rolling, done, failed or halted", s.Phase)
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
func NewStatusStore(client *clientv3.Client, opts ...Option) *status.Store[Status] {
	s, err := status.NewStore[Status](client, StatusNamespace, opts...)
	if err != nil {
		panic(err) // StatusNamespace is a valid id
	}
	return s
}
