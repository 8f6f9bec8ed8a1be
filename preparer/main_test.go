package preparer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/hoist"
	"github.com/p2kit/p2kit/preparer/process"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// envChild runs the test binary as a stand-in preparer process, so a test
// can kill a preparer with SIGKILL.
const envChild = "P2KIT_PREPARER_TEST_CHILD"

type childArgs struct {
	Endpoints []string `json:"endpoints"`
	Node      string   `json:"node"`
	PodRoot   string   `json:"pod_root"`
	// NodeTTL is the node record's TTL; 0 is the default.
	NodeTTL time.Duration `json:"node_ttl,omitempty"`
	// KillAt, if set, makes the child SIGKILL itself at that step.
	KillAt *killPoint `json:"kill_at,omitempty"`
}

func TestMain(m *testing.M) {
	// The test binary is the supervisor of the apps its tests launch.
	process.MaybeSupervise()
	if arg := os.Getenv(envChild); arg != "" {
		os.Exit(runChild(arg))
	}
	// Under -race every process that exits 0 sleeps a second first; spare
	// the supervisors.
	_ = os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

func runChild(arg string) int {
	var a childArgs
	if err := json.Unmarshal([]byte(arg), &a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: a.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	opts := []preparer.Option{preparer.WithBackoff(50*time.Millisecond, 500*time.Millisecond)}
	if a.NodeTTL > 0 {
		opts = append(opts, preparer.WithNodeTTL(a.NodeTTL))
	}
	var inst preparer.Installer = preparer.Hoist(hoist.New(a.PodRoot))
	var launch preparer.Launcher = process.New(a.PodRoot)
	if a.KillAt != nil {
		inst, launch = a.KillAt.wrap(inst, launch)
	}
	p, err := preparer.New(cli, a.Node, inst, launch, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := p.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
