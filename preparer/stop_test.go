package preparer_test

import (
	"context"
	"testing"

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
