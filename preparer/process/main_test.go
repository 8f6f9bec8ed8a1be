package process_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer/process"
)

// envHelper puts the test binary into helper mode: a stand-in preparer that launches a pod
// and then waits to be killed.
const envHelper = "P2KIT_PROCESS_TEST_HELPER"

type helperArgs struct {
	Root       string             `json:"root"`
	InstallDir string             `json:"install_dir"`
	Manifest   *manifest.Manifest `json:"manifest"`
}

func TestMain(m *testing.M) {
	// The test binary is the supervisor of the apps its tests launch.
	process.MaybeSupervise()
	if arg := os.Getenv(envHelper); arg != "" {
		os.Exit(runHelper(arg))
	}
	process.BecomeSubreaper()
	// Under -race every process that exits with status 0 first sleeps a second; spare the
	// supervisors (children inherit this).
	_ = os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	code := m.Run()
	process.ReapZombieChildren()
	os.Exit(code)
}

func runHelper(arg string) int {
	var a helperArgs
	if err := json.Unmarshal([]byte(arg), &a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	l := process.New(a.Root)
	if err := l.Launch(context.Background(), a.Manifest, a.InstallDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("launched")
	select {} // until killed
}
