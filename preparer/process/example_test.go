package process_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer/process"
)

// The program's main calls process.MaybeSupervise first (this test binary does so in
// TestMain). The example installs a one-line app by hand, where the preparer would use its
// installer, then launches, inspects and stops the pod.
func Example() {
	root, _ := os.MkdirTemp("", "pods")
	defer os.RemoveAll(root)
	install := filepath.Join(root, "hello", "installs", "v1")
	_ = os.MkdirAll(filepath.Join(install, "app", "bin"), 0o755)
	_ = os.WriteFile(filepath.Join(install, "app", "bin", "launch"),
		[]byte("#!/bin/sh\necho \"$GREETING from $POD_ID\"\nexec sleep 1000\n"), 0o755)

	m := &manifest.Manifest{
		ID: "hello",
		Launchables: map[string]manifest.Launchable{"app": {
			LaunchableType: manifest.LaunchableTypeHoist,
			Location:       "file:///srv/artifacts/hello_1.tar.gz",
			Digest:         "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
			Env:            map[string]string{"GREETING": "hi"},
		}},
		TerminationGracePeriod: 5,
	}
	ctx := context.Background()
	l := process.New(root)
	if err := l.Launch(ctx, m, install); err != nil {
		fmt.Println(err)
		return
	}
	digest, ok := l.Running("hello")
	want, _ := m.Digest()
	fmt.Println("running:", ok, digest == want)

	// A second Launcher (the preparer after a restart) adopts the pod: launching the same
	// version again starts nothing.
	again := process.New(root)
	_ = again.Launch(ctx, m, install)
	procs, _ := again.Describe("hello")
	for _, p := range procs {
		fmt.Println(p.Launchable, p.EntryPoint, "running:", p.Running, "restarts:", p.Restarts)
	}

	// The app's output goes to the pod's log files.
	logFile := filepath.Join(root, "hello", "logs", "app-bin_launch.stdout.log")
	var stdout []byte
	for deadline := time.Now().Add(10 * time.Second); len(stdout) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		stdout, _ = os.ReadFile(logFile)
	}
	fmt.Print("log: ", string(stdout))

	if err := again.Stop(ctx, "hello", time.Second); err != nil {
		fmt.Println(err)
		return
	}
	_, ok = again.Running("hello")
	fmt.Println("running after stop:", ok)
	// Output:
	// running: true true
	// app bin/launch running: true restarts: 0
	// log: hi from hello
	// running after stop: false
}
