// Command quickstart shows p2kit end to end with nothing to set up: an
// embedded etcd in a temporary directory, the reference controller, and
// preparers for three local nodes. It labels the nodes, deploys a daemon
// set and a replication controller, rolls the RC to a new version, wipes
// one node's intent to trip the failsafe, restores it, and shuts down.
//
//	go run ./examples/quickstart         # the demo, then exit
//	go run ./examples/quickstart --keep  # keep running for p2ctl
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/p2kit/p2kit/farm"
	"github.com/p2kit/p2kit/internal/controller"
	"github.com/p2kit/p2kit/internal/embedded"
	"github.com/p2kit/p2kit/podcluster"
	"github.com/p2kit/p2kit/preparer"
	"github.com/p2kit/p2kit/preparer/hoist"
	"github.com/p2kit/p2kit/preparer/process"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// node is one simulated host: its name, the loopback address its apps
// listen on, and its pod root.
type node struct {
	name string
	ip   string
	root string
}

func main() {
	// Launched apps are supervised by this same binary.
	process.MaybeSupervise()
	if os.Getenv(envDemoApp) != "" {
		os.Exit(runDemoApp())
	}
	keep := flag.Bool("keep", false, "keep everything running after the demo and print the etcd endpoint for p2ctl")
	dash := flag.Bool("dashboard", false, "serve the web UI on a loopback port and print its URL; with --keep, leave a failsafe hold for it to release")
	flag.Parse()
	os.Exit(run(*keep, *dash, os.Stdout))
}

func run(keep, dash bool, out io.Writer) int {
	tl := &timeline{out: out, start: time.Now()}
	if err := demo(keep, dash, tl); err != nil {
		tl.say("FAILED: %v", err)
		return 1
	}
	tl.say("done: everything stopped, no process left behind")
	return 0
}

func demo(keep, dash bool, tl *timeline) (err error) {
	becomeSubreaper()
	dir, err := os.MkdirTemp("", "p2kit-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logFile, err := os.Create(filepath.Join(dir, "quickstart.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := zap.New(zapcoreFor(logFile))

	tl.say("starting an embedded etcd in %s", dir)
	srv, err := embedded.Start(filepath.Join(dir, "etcd"), log.Named("etcd").WithOptions(zap.IncreaseLevel(zap.WarnLevel)))
	if err != nil {
		return err
	}
	defer srv.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	d := &demoEnv{cli: cli, dir: dir, exe: exe, tl: tl, log: log}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	reapCtx, stopReaping := context.WithCancel(context.Background())
	var reaper sync.WaitGroup
	reaper.Go(func() { reapLoop(reapCtx) })
	defer func() {
		tl.say("shutting down: controller and preparers stop, then the apps (they would outlive a preparer)")
		cancel()
		wg.Wait()
		d.stopApps()
		stopReaping()
		reaper.Wait()
		reapChildren()
		if n := runningChildren(); n > 0 && err == nil {
			err = fmt.Errorf("%d processes still running", n)
		}
	}()

	var dashURL string
	if dash {
		dctx, stopDash := context.WithCancel(context.Background())
		url, done, err := d.startDashboard(dctx, keep)
		if err != nil {
			stopDash()
			return err
		}
		defer func() {
			stopDash()
			<-done
		}()
		dashURL = url
		tl.say("dashboard: %s (follow the demo there, live)", dashURL)
	}
	if err := d.buildArtifacts(); err != nil {
		return err
	}
	for i, name := range []string{"node-a", "node-b", "node-c"} {
		d.nodes = append(d.nodes, node{name: name, ip: fmt.Sprintf("127.0.0.%d", i+2), root: filepath.Join(dir, "nodes", name)})
	}
	tl.say("starting the controller (daemon set, RC, roll and pod cluster farms)")
	wg.Go(func() {
		err := controller.Run(ctx, cli, podcluster.NewFileSyncer(filepath.Join(dir, "load-balancer")),
			farm.WithLogger(log.Named("controller")), farm.WithTTL(5), farm.WithResync(2*time.Second),
			farm.WithBackoff(200*time.Millisecond, 2*time.Second))
		if err != nil {
			tl.say("controller: %v", err)
		}
	})
	for _, n := range d.nodes {
		tl.say("starting the preparer of %s (pods under %s, apps on %s)", n.name, n.root, n.ip)
		p, err := preparer.New(cli, n.name,
			preparer.Hoist(hoist.New(n.root, hoist.WithLogger(log))),
			process.New(n.root, process.WithLogger(log), process.WithEnv(map[string]string{"P2_NODE": n.name, "P2_NODE_IP": n.ip})),
			preparer.WithLogger(log.Named(n.name)),
			preparer.WithHealthChecker(preparer.DefaultHealthChecker{Host: n.ip}),
			preparer.WithHealthInterval(300*time.Millisecond),
			preparer.WithBackoff(200*time.Millisecond, 2*time.Second))
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := p.Run(ctx); err != nil {
				tl.say("preparer %s: %v", n.name, err)
			}
		})
	}

	steps := []func(context.Context) error{
		d.preparersSeeThemselves,
		d.labelNodes,
		d.daemonSet,
		d.replicationController,
		d.rollToV2,
		d.tripFailsafe,
	}
	for _, step := range steps {
		sctx, scancel := context.WithTimeout(ctx, 45*time.Second)
		err := step(sctx)
		scancel()
		if err != nil {
			return err
		}
	}
	if keep && dash {
		sctx, scancel := context.WithTimeout(ctx, 45*time.Second)
		err := d.leaveHold(sctx, dashURL)
		scancel()
		if err != nil {
			return err
		}
	}
	if keep {
		if dash {
			tl.say("dashboard: %s (the fleet, the roll hello-v2 and the hold)", dashURL)
		}
		tl.say("--keep: running until Ctrl-C; try, in another shell:")
		tl.say("  export P2_ETCD=%s", srv.Endpoint)
		tl.say("  go run ./examples/p2ctl list rc")
		tl.say("  go run ./examples/p2ctl status pods")
		tl.say("  go run ./examples/p2ctl list nodes")
		tl.say("  go run ./examples/p2ctl failsafe list")
		waitForSignal()
	}
	return nil
}

// errStep wraps a step's failure with what it was doing.
func errStep(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: took longer than 45s", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}
