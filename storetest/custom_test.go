package storetest_test

// These tests use only what a user outside the module has: public p2kit
// packages. They run the suite against two stores of a user's own kind.

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/p2kit/p2kit/entity"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/storetest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Canary runs one pod of a manifest on one node: a user's own kind.
type Canary struct {
	ID   string `json:"id"`
	Node string `json:"node"`
}

// Validate refuses a canary without a node, naming the field.
func (c *Canary) Validate() error {
	if c.Node == "" {
		return errors.New("node: required")
	}
	return nil
}

func canary(id string) *Canary { return &Canary{ID: id, Node: "web1"} }

func canaryHarness(open func(cli *clientv3.Client, root string) storetest.Store[Canary]) storetest.Harness[Canary] {
	return storetest.Harness[Canary]{
		Open:  func(_ *testing.T, cli *clientv3.Client, root string) storetest.Store[Canary] { return open(cli, root) },
		Key:   func(root, id string) string { return root + "/canaries/" + id },
		ID:    func(i int) string { return fmt.Sprintf("canary-%d", i) },
		Valid: canary,
		Mutate: func(c *Canary) *Canary {
			n := *c
			n.Node += "0"
			return &n
		},
		InvalidIDs:      []string{"Bad", "a/b", "-a", "a b"},
		MissingJSON:     func(id string) string { return `{"id":"` + id + `"}` },
		MissingField:    "node",
		Incomplete:      func(id string) *Canary { return &Canary{ID: id} },
		IncompleteField: "node",
	}
}

// A user's store built on the audited entity core passes the suite through
// the Entity adapter.
func TestCustomEntityStore(t *testing.T) {
	storetest.Run(t, canaryHarness(func(cli *clientv3.Client, root string) storetest.Store[Canary] {
		s := entity.New(cli, entity.Spec[Canary]{
			Dir:      "canaries",
			ID:       func(c *Canary) string { return c.ID },
			Validate: (*Canary).Validate,
		}, keyspace.WithPrefix(root))
		return storetest.Entity[Canary](s)
	}))
}

// A store written by hand on kv.Store passes it through a Store of the
// user's own functions.
func TestCustomKVStore(t *testing.T) {
	storetest.Run(t, canaryHarness(func(cli *clientv3.Client, root string) storetest.Store[Canary] {
		s := kv.New(cli, keyspace.Resolve([]keyspace.Option{keyspace.WithPrefix(root)}).Dir("canaries"),
			kv.WithNameCheck[Canary](manifest.ValidateID),
			kv.WithValidate(func(name string, c *Canary) error {
				if c.ID != name {
					return fmt.Errorf("id %q is not the id %q of its key", c.ID, name)
				}
				return c.Validate()
			}))
		return storetest.Store[Canary]{
			Create: s.Create,
			Get:    s.Get,
			List:   s.List,
			Update: s.Update,
			Delete: func(ctx context.Context, id string) error { return s.Delete(ctx, id) },
			Watch: func(ctx context.Context) (kv.Source[Canary], error) {
				return s.Watch(ctx), nil
			},
		}
	}))
}
