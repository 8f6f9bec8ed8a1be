package main

import (
	"testing"

	"github.com/p2kit/p2kit/entity"
	"github.com/p2kit/p2kit/status"
	"github.com/stretchr/testify/require"
)

// canary is a kind of a user's own, unknown to p2ctl.
type canary struct {
	ID string `json:"id"`
}

// p2ctl reads the audit records, labels and status records of a kind it
// does not know, as it does those of the built-in ones.
func TestCustomKind(t *testing.T) {
	f := newFleet(t)
	ctx := f.ctx()
	canaries := entity.New(f.cli, entity.Spec[canary]{
		Dir:      "canaries",
		ID:       func(c *canary) string { return c.ID },
		Validate: func(*canary) error { return nil },
	})
	_, err := canaries.Create(ctx, "carol", &canary{ID: "c1"})
	require.NoError(t, err)

	f.ok("labels", "set", "canary", "c1", "track=canary")
	require.Contains(t, f.ok("labels", "get", "canary", "c1"), "track")

	st, err := status.NewStore[map[string]any](f.cli, "canary-farm")
	require.NoError(t, err)
	_, err = st.Put(ctx, status.Type("canaries"), "c1", &map[string]any{"node": "web1"})
	require.NoError(t, err)
	require.Contains(t, f.ok("status", "get", "canaries", "c1", "--namespace", "canary-farm"), "web1")

	byKind := f.ok("audit", "list", "--entity", "canaries")
	require.Regexp(t, `create\s+canaries\s+c1\s+carol`, byKind)
	require.NotContains(t, byKind, "labels")
	require.Regexp(t, `create\s+labels\s+canary/c1\s+alice`, f.ok("audit", "list", "--entity", "labels"))
	f.fails(`"Canaries"`, "audit", "list", "--entity", "Canaries")
	f.fails(`"Canary"`, "labels", "get", "Canary", "c1")
}
