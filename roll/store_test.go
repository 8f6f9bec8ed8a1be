package roll_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/storetest"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func valid(id string) *roll.Roll {
	return &roll.Roll{
		ID:              id,
		OldRC:           "old-" + id,
		NewRC:           "new-" + id,
		DesiredReplicas: 3,
		MinimumReplicas: 2,
		RollDelay:       roll.Duration(10 * time.Second),
		Deadline:        roll.Duration(time.Hour),
	}
}

func newRC(id string) *rc.RC {
	return &rc.RC{ID: id, Manifest: *storetest.Manifest("hello"), ReplicasDesired: 1}
}

// createRCs creates the RCs a roll names, when the roll's id is valid.
func createRCs(ctx context.Context, rcs *rc.Store, r *roll.Roll) error {
	if manifest.ValidateID(r.ID) != nil {
		return nil
	}
	for _, id := range []string{r.OldRC, r.NewRC} {
		if manifest.ValidateID(id) != nil {
			continue
		}
		if _, err := rcs.Create(ctx, "test", newRC(id)); err != nil && !errors.Is(err, kv.ErrExists) {
			return err
		}
	}
	return nil
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness[roll.Roll]{
		Open: func(t *testing.T, cli *clientv3.Client, root string) storetest.Store[roll.Roll] {
			rcs := rc.NewStore(cli, keyspace.WithPrefix(root))
			s := storetest.Entity(roll.NewStore(cli, keyspace.WithPrefix(root)))
			create := s.Create
			s.Create = func(ctx context.Context, id string, r *roll.Roll) (*kv.Object[roll.Roll], error) {
				if err := createRCs(ctx, rcs, r); err != nil {
					return nil, err
				}
				return create(ctx, id, r)
			}
			return s
		},
		Key:   func(root, id string) string { return root + "/rolls/" + id },
		ID:    func(i int) string { return fmt.Sprintf("roll-%d", i) },
		Valid: valid,
		Mutate: func(r *roll.Roll) *roll.Roll {
			c := *r
			c.DesiredReplicas++
			return &c
		},
		InvalidIDs: []string{"Bad", "a/b", "a..b/c", ".a"},
		MissingJSON: func(id string) string {
			return `{"id":"` + id + `","old_rc":"a","new_rc":"b","desired_replicas":3}`
		},
		MissingField: "minimum_replicas",
		Incomplete: func(id string) *roll.Roll {
			r := valid(id)
			r.NewRC = ""
			return r
		},
		IncompleteField: "new_rc",
	})
}

type fixture struct {
	ctx   context.Context
	cli   *clientv3.Client
	rcs   *rc.Store
	rolls *roll.Store
}

func setup(t *testing.T) *fixture {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	f := &fixture{ctx: ctx, cli: cli, rcs: rc.NewStore(cli), rolls: roll.NewStore(cli)}
	for _, id := range []string{"web-v1", "web-v2", "web-v3", "api-v1", "api-v2"} {
		_, err := f.rcs.Create(ctx, "test", newRC(id))
		require.NoError(t, err)
	}
	return f
}

func mk(id, old, new string) *roll.Roll {
	return &roll.Roll{ID: id, OldRC: old, NewRC: new, DesiredReplicas: 1, MinimumReplicas: 1}
}

func TestRefusals(t *testing.T) {
	f := setup(t)
	_, err := f.rolls.Create(f.ctx, "alice", mk("web-v1", "web-v1", "web-v1"))
	require.ErrorIs(t, err, roll.ErrSameRC)

	_, err = f.rolls.Create(f.ctx, "alice", mk("web-v9", "web-v1", "web-v9"))
	require.ErrorIs(t, err, kv.ErrNotFound)
	require.ErrorContains(t, err, "/p2/replication_controllers/web-v9")
	_, err = f.rolls.Create(f.ctx, "alice", mk("web-v2", "web-v0", "web-v2"))
	require.ErrorIs(t, err, kv.ErrNotFound)
	require.ErrorContains(t, err, "/p2/replication_controllers/web-v0")

	_, err = f.rolls.Create(f.ctx, "alice", mk("web-v2", "web-v1", "web-v2"))
	require.NoError(t, err)
	// Either RC of the running roll, as old or new.
	for _, r := range []*roll.Roll{mk("web-v3", "web-v2", "web-v3"), mk("web-v3", "web-v1", "web-v3"), mk("api-v1", "api-v2", "web-v1")} {
		_, err = f.rolls.Create(f.ctx, "alice", r)
		require.ErrorIs(t, err, roll.ErrRCInRoll, "%+v", r)
		require.ErrorContains(t, err, `roll "web-v2"`)
	}
	_, err = f.rolls.Create(f.ctx, "alice", mk("api-v2", "api-v1", "api-v2"))
	require.NoError(t, err, "unrelated RCs roll independently")

	// Once the roll is gone its RCs are free again.
	require.NoError(t, f.rolls.Delete(f.ctx, "alice", "web-v2"))
	_, err = f.rolls.Create(f.ctx, "alice", mk("web-v3", "web-v2", "web-v3"))
	require.NoError(t, err)

	l, err := f.rolls.List(f.ctx)
	require.NoError(t, err)
	require.Len(t, l.Items, 2)
}

func TestRCsCannotChange(t *testing.T) {
	f := setup(t)
	obj, err := f.rolls.Create(f.ctx, "alice", mk("web-v2", "web-v1", "web-v2"))
	require.NoError(t, err)
	next := obj.Value
	next.OldRC = "api-v1"
	_, err = f.rolls.Update(f.ctx, "alice", obj, &next)
	require.ErrorIs(t, err, roll.ErrRCsChanged)
	_, err = f.rolls.Modify(f.ctx, "alice", "web-v2", func(r *roll.Roll) error { r.NewRC = "api-v2"; return nil })
	require.ErrorIs(t, err, roll.ErrRCsChanged)
	_, err = f.rolls.Modify(f.ctx, "alice", "web-v2", func(r *roll.Roll) error { r.LeaveOld = true; return nil })
	require.NoError(t, err)
}

// Concurrent creates over the same RC: exactly one wins, whatever the
// interleaving, because each create is guarded by the revision of the
// listing it judged.
func TestConcurrentCreatesShareNoRC(t *testing.T) {
	f := setup(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// All use web-v1 as the old RC, under different ids.
			_, errs[i] = f.rolls.Create(f.ctx, "alice", mk(fmt.Sprintf("r%d", i), "web-v1", []string{"web-v2", "web-v3"}[i%2]))
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		require.ErrorIs(t, err, roll.ErrRCInRoll)
	}
	require.Equal(t, 1, won)
	l, err := f.rolls.List(f.ctx)
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
}

func TestRequiredNumbers(t *testing.T) {
	var r roll.Roll
	err := json.Unmarshal([]byte(`{"id":"a","old_rc":"a","new_rc":"b"}`), &r)
	require.ErrorContains(t, err, "desired_replicas: required")
	require.ErrorContains(t, err, "minimum_replicas: required")
	require.NoError(t, json.Unmarshal([]byte(`{"id":"a","old_rc":"a","new_rc":"b","desired_replicas":0,"minimum_replicas":0,"roll_delay":"5s","deadline":"1h"}`), &r))
	require.Equal(t, time.Hour, r.Deadline.Std())
}
