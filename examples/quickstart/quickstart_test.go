package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/p2kit/p2kit/preparer/process"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	// The demo's apps and their supervisors are this test binary.
	process.MaybeSupervise()
	if os.Getenv(envDemoApp) != "" {
		os.Exit(runDemoApp())
	}
	// Under -race every process that exits 0 sleeps a second first; spare
	// the supervisors.
	_ = os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// TestQuickstart runs the whole demo in-process: it must end with exit
// code 0, the failsafe tripped and cleared, and no child process left;
// the dashboard it serves stops with it.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	code := run(false, true, &out)
	require.Equal(t, 0, code, out.String())
	for _, want := range []string{
		"agent is installed, running and healthy on node-c",
		"hello v1 is healthy on",
		"roll done: RC hello-v1 deleted",
		"dashboard: http://127.0.0.1:",
		"failsafe hold",
		"nothing uninstalled",
		"the hold cleared by itself and nothing was restarted",
		"no process left behind",
	} {
		require.True(t, strings.Contains(out.String(), want), "missing %q in:\n%s", want, out.String())
	}
	require.Zero(t, runningChildren())
}
