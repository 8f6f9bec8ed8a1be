package preparer_test

import (
	"context"
	"testing"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/memory"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// TestRunStoppedBeforeItReadsReturnsNil: Run returns nil when its context
// ends, even when that happens while it reads reality at start (a test
// that stops its preparers at cleanup used to see "read reality: context
// canceled").
func TestRunStoppedBeforeItReadsReturnsNil(t *testing.T) {
	e := newEnv(t, "n1")
	n := memory.NewNode()
	p, err := preparer.New(e.cli, e.node, n, n, preparer.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, p.Run(ctx))
}

// TestRunReturnsWhyItCouldNotStart: a failure while Run starts is
// returned, not taken for a stop, and what Run had started by then ends
// with it.
func TestRunReturnsWhyItCouldNotStart(t *testing.T) {
	cli := etcdtest.New(t).Client(t)
	n := memory.NewNode()
	p, err := preparer.New(cli, "n1", n, n, preparer.WithLogger(zaptest.NewLogger(t)))
	require.NoError(t, err)
	require.NoError(t, cli.Close())
	err = p.Run(context.Background())
	require.ErrorContains(t, err, "read reality")
}
