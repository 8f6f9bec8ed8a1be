package rc

import (
	"fmt"
	"time"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// StatusNamespace is the namespace of the RC farm's status records:
// <root>/status/replication_controllers/<id>/rc-farm.
const StatusNamespace = "rc-farm"

// Status is the RC farm's record of one RC.
type Status struct {
	// Desired is the RC's replicas_desired when the farm last looked.
	Desired int `json:"desired"`
	// Current counts the pods labelled with the RC's id.
	Current int `json:"current"`
	// Healthy counts the current pods that run the RC's manifest with
	// their health check passing.
	Healthy int `json:"healthy"`
	// Disabled mirrors the RC's disabled flag: the farm changes nothing.
	Disabled bool `json:"disabled,omitempty"`
	// Message says what keeps the RC from its desired state, if anything.
	Message   string    `json:"message,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate checks the counts.
func (s *Status) Validate() error {
	if s.Desired < 0 || s.Current < 0 || s.Healthy < 0 {
		return fmt.Errorf("rc status: negative count (desired %d, current %d, healthy %d)", s.Desired, s.Current, s.Healthy)
	}
	return nil
}

// same reports whether two records say the same, ignoring UpdatedAt.
func (s *Status) same(o *Status) bool {
	return s.Desired == o.Desired && s.Current == o.Current && s.Healthy == o.Healthy &&
		s.Disabled == o.Disabled && s.Message == o.Message
}

// NewStatusStore returns the store of the RC farm's status records; read
// one with Get(ctx, status.ReplicationControllers, id).
func NewStatusStore(client *clientv3.Client, opts ...keyspace.Option) *status.Store[Status] {
	s, err := status.NewStore[Status](client, StatusNamespace, opts...)
	if err != nil {
		panic(err) // StatusNamespace is a valid id
	}
	return s
}
