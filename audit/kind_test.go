package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/audit"
	"github.com/p2kit/p2kit/entity"
	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/kv"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Canary is a user's own entity kind.
type Canary struct {
	ID   string `json:"id"`
	Node string `json:"node"`
}

// A kind no p2kit package names is audited like a built-in one: through
// the audited entity store and through Log.Op, and found again by Recent.
func TestAnyKind(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := audit.NewLog(cli)

	canaries := entity.New(cli, entity.Spec[Canary]{
		Dir:      "canaries",
		ID:       func(c *Canary) string { return c.ID },
		Validate: func(*Canary) error { return nil },
	})
	_, err := canaries.Create(ctx, "alice", &Canary{ID: "c1", Node: "web1"})
	require.NoError(t, err)
	op, err := log.Op(audit.Updated, "canaries", "c1", "canary-farm", map[string]string{"node": "web2"})
	require.NoError(t, err)
	_, err = kv.Commit(ctx, cli, nil, op)
	require.NoError(t, err)

	l, err := log.Recent(ctx, 0, func(r *audit.Record) bool { return r.Entity == "canaries" })
	require.NoError(t, err)
	require.Empty(t, l.Invalid)
	require.Len(t, l.Items, 2)
	require.Equal(t, audit.Updated, l.Items[0].Value.EventType)
	require.Equal(t, "canary-farm", l.Items[0].Value.Actor)
	require.Equal(t, audit.Created, l.Items[1].Value.EventType)
	require.Equal(t, "alice", l.Items[1].Value.Actor)
}

// A kind name that is not a valid id is refused naming it, and nothing is
// written; a stored record with such a kind reads as invalid, naming the
// field.
func TestInvalidKind(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := audit.NewLog(cli)
	for _, kind := range []string{"Canaries", "can/aries", "-canaries", "canaries "} {
		require.ErrorIs(t, audit.ValidateKind(kind), audit.ErrInvalidKind, "%q", kind)
		_, err := log.Op(audit.Created, kind, "c1", "alice", nil)
		require.ErrorIs(t, err, audit.ErrInvalidKind, "%q", kind)
		require.ErrorContains(t, err, `"`+kind+`"`)
	}
	_, err := log.Op(audit.Created, "", "c1", "alice", nil)
	require.ErrorContains(t, err, "entity: required")

	_, err = cli.Put(ctx, "/p2/audit/"+audit.NewID(time.Now()),
		`{"event_type":"create","entity":"Canaries","id":"c1","actor":"alice","timestamp":"2026-12-05T10:00:00Z"}`)
	require.NoError(t, err)
	l, err := log.Recent(ctx, 0, nil)
	require.NoError(t, err)
	require.Empty(t, l.Items)
	require.Len(t, l.Invalid, 1)
	require.ErrorContains(t, l.Invalid[0], "entity")
	require.ErrorContains(t, l.Invalid[0], `"Canaries"`)

	raw, err := cli.Get(ctx, "/p2/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.EqualValues(t, 1, raw.Count, "only the raw record")
}
