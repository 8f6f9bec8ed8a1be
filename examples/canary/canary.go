package main

import (
	"errors"
	"fmt"

	"github.com/p2kit/p2kit/entity"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Kind names canaries: their key directory (/p2/canaries/<id>), the entity
// of their audit records, their farm's lock directory and the type of
// their status records (/p2/status/canaries/<id>/canary-farm).
const Kind = "canaries"

// OwnerLabel marks the pod a canary schedules: "canary_id=<id>", beside
// "pod_id=<pod-id>" as every p2kit controller labels its pods.
const OwnerLabel = "canary_id"

// StatusNamespace is the namespace of the farm's status records.
const StatusNamespace = "canary-farm"

// Canary runs one pod of Manifest on one of the nodes NodeSelector picks.
// When that node stops matching, the pod moves to one that matches.
type Canary struct {
	ID           string            `json:"id"`
	Manifest     manifest.Manifest `json:"manifest"`
	NodeSelector labels.Selector   `json:"node_selector"`
}

// Validate checks a canary on every write and read; errors name the field.
func (c *Canary) Validate() error {
	if err := c.Manifest.Validate(); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if c.NodeSelector.Empty() {
		return errors.New("node_selector: required (a canary never runs on every node)")
	}
	return nil
}

// NewStore returns the canary store: every create, update and delete
// writes an audit record in the same transaction.
func NewStore(client *clientv3.Client, opts ...keyspace.Option) *entity.Store[Canary] {
	return entity.New(client, entity.Spec[Canary]{
		Dir:      Kind,
		ID:       func(c *Canary) string { return c.ID },
		Validate: (*Canary).Validate,
	}, opts...)
}

// Status is the farm's record of one canary.
type Status struct {
	// Node is where the canary's pod runs; "" while no node matches (the
	// pod then stays where it ran).
	Node string `json:"node"`
	// Matched counts the nodes the selector matches.
	Matched int `json:"matched"`
	// Observed is the revision of the canary this record describes.
	Observed int64 `json:"observed_revision"`
}
