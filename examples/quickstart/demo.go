package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/p2kit/p2kit/artifacttest"
	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/failsafe"
	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/labels"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer/process"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/reality"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const actor = "quickstart"

// timeline prints what happens, with the time since the start.
type timeline struct {
	mu    sync.Mutex
	out   io.Writer
	start time.Time
}

func (t *timeline) say(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, "[%5.1fs] %s\n", time.Since(t.start).Seconds(), fmt.Sprintf(format, args...))
}

func zapcoreFor(w io.Writer) zapcore.Core {
	return zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(w), zap.InfoLevel)
}

func waitForSignal() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}

// demoEnv is the state the demo's steps share.
type demoEnv struct {
	cli    *clientv3.Client
	dir    string
	exe    string
	tl     *timeline
	log    *zap.Logger
	nodes  []node
	appLoc string
	appSum string
}

// buildArtifacts writes the demo app's artifact: a bin/launch that runs
// this very binary in demo-app mode.
func (d *demoEnv) buildArtifacts() error {
	script := fmt.Sprintf("#!/bin/sh\nexport %s=1\nexec %q\n", envDemoApp, d.exe)
	loc, sum, err := artifacttest.Write(filepath.Join(d.dir, "demo-app.tar.gz"), map[string]artifacttest.File{
		"bin/launch": {Body: script, Exec: true},
	})
	if err != nil {
		return err
	}
	d.appLoc, d.appSum = loc, sum
	d.tl.say("built the demo artifact %s (%s...)", loc, sum[:19])
	return nil
}

// app is the manifest of the demo app as pod id at version, serving on port.
func (d *demoEnv) app(id, version string, port int) *manifest.Manifest {
	m := &manifest.Manifest{
		ID: id,
		Launchables: map[string]manifest.Launchable{"app": {
			LaunchableType: manifest.LaunchableTypeHoist,
			Location:       d.appLoc,
			Digest:         d.appSum,
			Env:            map[string]string{"PORT": strconv.Itoa(port), "VERSION": version},
		}},
		TerminationGracePeriod: 2,
	}
	if port > 0 {
		m.Status = &manifest.StatusCheck{HTTP: true, Port: port}
	}
	return m
}

// poll calls check every 100ms until it returns true or ctx ends.
func poll(ctx context.Context, check func() (bool, error)) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := check()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// healthy lists the nodes where pod runs m and passes its health check.
func (d *demoEnv) healthy(ctx context.Context, pod string, m *manifest.Manifest) ([]string, error) {
	digest, err := m.Digest()
	if err != nil {
		return nil, err
	}
	l, err := status.NewPodStatusStore(d.cli).List(ctx)
	if err != nil {
		return nil, err
	}
	var nodes []string
	for _, o := range l.Items {
		nodeName, rest, _ := strings.Cut(o.Name, "/")
		podID, _, _ := strings.Cut(rest, "/")
		s := o.Value
		if podID == pod && s.Status == status.Launched && s.ManifestDigest == digest && s.Health == status.Passing {
			nodes = append(nodes, nodeName)
		}
	}
	sort.Strings(nodes)
	return nodes, nil
}

func (d *demoEnv) preparersSeeThemselves(ctx context.Context) error {
	is := intent.NewStore(d.cli)
	self := d.app("p2-preparer", "1", 0)
	for _, n := range d.nodes {
		if _, err := is.Set(ctx, n.name, self); err != nil {
			return errStep("write the preparers' own pods", err)
		}
	}
	d.tl.say("wrote each node's own pod p2-preparer to its intent: a preparer acts only while it sees itself")
	rs := reality.NewStore(d.cli)
	return errStep("wait for the preparers", poll(ctx, func() (bool, error) {
		for _, n := range d.nodes {
			if _, err := rs.Get(ctx, n.name, "p2-preparer"); err != nil {
				return false, nil
			}
		}
		d.tl.say("all three preparers see themselves (p2-preparer is in their reality)")
		return true, nil
	}))
}

func (d *demoEnv) labelNodes(ctx context.Context) error {
	ls := labels.New(d.cli)
	zones := map[string]string{"node-a": "z1", "node-b": "z1", "node-c": "z2"}
	for _, n := range d.nodes {
		if _, err := ls.Put(ctx, labels.Node, n.name, labels.Set{"role": "web", "zone": zones[n.name]}); err != nil {
			return errStep("label nodes", err)
		}
	}
	d.tl.say("labelled the nodes: role=web on all, zone=z1 on node-a and node-b, zone=z2 on node-c")
	return nil
}

func (d *demoEnv) daemonSet(ctx context.Context) error {
	m := d.app("agent", "1", 9100)
	ds := &daemonset.DaemonSet{
		ID: "agent", PodID: "agent", Manifest: *m, NodeSelector: "role=web",
		MinHealth: 50, Timeout: daemonset.Duration(30 * time.Second), RateLimitInterval: daemonset.Duration(time.Second),
	}
	if _, err := daemonset.NewStore(d.cli).Create(ctx, actor, ds); err != nil {
		return errStep("create the daemon set", err)
	}
	d.tl.say("created daemon set agent (selector role=web, one node per second)")
	seen := map[string]bool{}
	return errStep("wait for the daemon set", poll(ctx, func() (bool, error) {
		nodes, err := d.healthy(ctx, "agent", m)
		if err != nil {
			return false, err
		}
		for _, n := range nodes {
			if !seen[n] {
				seen[n] = true
				d.tl.say("  agent is installed, running and healthy on %s", n)
			}
		}
		return len(nodes) == len(d.nodes), nil
	}))
}

func (d *demoEnv) replicationController(ctx context.Context) error {
	m := d.app("hello", "1", 8080)
	r := &rc.RC{ID: "hello-v1", Manifest: *m, NodeSelector: "role=web",
		PodLabels: map[string]string{"app": "hello"}, ReplicasDesired: 2}
	if _, err := rc.NewStore(d.cli).Create(ctx, actor, r); err != nil {
		return errStep("create the RC", err)
	}
	d.tl.say("created RC hello-v1: 2 replicas of hello version 1 on nodes with role=web")
	var nodes []string
	err := poll(ctx, func() (bool, error) {
		var err error
		nodes, err = d.healthy(ctx, "hello", m)
		return len(nodes) == 2, err
	})
	if err != nil {
		return errStep("wait for the RC", err)
	}
	d.tl.say("  hello v1 is healthy on %s", strings.Join(nodes, " and "))
	d.curl(nodes[0], 8080)
	return nil
}

func (d *demoEnv) curl(nodeName string, port int) {
	for _, n := range d.nodes {
		if n.name != nodeName {
			continue
		}
		url := "http://" + net.JoinHostPort(n.ip, strconv.Itoa(port)) + "/"
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			d.tl.say("  GET %s: %v", url, err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d.tl.say("  GET %s -> %s", url, strings.TrimSpace(string(body)))
	}
}

func (d *demoEnv) rollToV2(ctx context.Context) error {
	v2 := d.app("hello", "2", 8080)
	if _, err := rc.NewStore(d.cli).Create(ctx, actor, &rc.RC{ID: "hello-v2", Manifest: *v2, NodeSelector: "role=web",
		PodLabels: map[string]string{"app": "hello"}, ReplicasDesired: 0}); err != nil {
		return errStep("create RC hello-v2", err)
	}
	r := &roll.Roll{ID: "hello-v2", OldRC: "hello-v1", NewRC: "hello-v2", DesiredReplicas: 2, MinimumReplicas: 1,
		RollDelay: roll.Duration(0), Deadline: roll.Duration(2 * time.Minute)}
	if _, err := roll.NewStore(d.cli).Create(ctx, actor, r); err != nil {
		return errStep("start the roll", err)
	}
	d.tl.say("started roll hello-v2: hello-v1 -> hello-v2, 2 replicas, at least 1 healthy throughout")
	rs := roll.NewStatusStore(d.cli)
	last := ""
	err := poll(ctx, func() (bool, error) {
		o, err := rs.Get(ctx, status.Rolls, "hello-v2")
		if err != nil {
			return false, nil
		}
		s := o.Value
		line := fmt.Sprintf("  roll %s: old %d (healthy %d), new %d (healthy %d)", s.Phase, s.OldReplicas, s.OldHealthy, s.NewReplicas, s.NewHealthy)
		if line != last {
			d.tl.say("%s", line)
			last = line
		}
		switch s.Phase {
		case roll.Done:
			return true, nil
		case roll.Failed, roll.Halted:
			return false, fmt.Errorf("roll %s: %s", s.Phase, s.Message)
		}
		return false, nil
	})
	if err != nil {
		return errStep("roll", err)
	}
	if _, err := rc.NewStore(d.cli).Get(ctx, "hello-v1"); err == nil {
		return fmt.Errorf("roll: RC hello-v1 still exists after the roll")
	}
	nodes, err := d.healthy(ctx, "hello", v2)
	if err != nil {
		return err
	}
	d.tl.say("  roll done: RC hello-v1 deleted, hello v2 healthy on %s", strings.Join(nodes, " and "))
	if len(nodes) > 0 {
		d.curl(nodes[0], 8080)
	}
	return nil
}

// pids lists the pids of every pod on a node.
func (d *demoEnv) pids(n node) map[string]int {
	out := map[string]int{}
	l := process.New(n.root)
	pods, _ := l.Pods()
	for _, pod := range pods {
		procs, _ := l.Processes(pod)
		for _, p := range procs {
			out[pod] = p.PID
		}
	}
	return out
}

func (d *demoEnv) tripFailsafe(ctx context.Context) error {
	n := d.nodes[1]
	prefix := "/p2/intent/" + n.name + "/"
	before := d.pids(n)
	saved, err := d.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	if _, err := d.cli.Delete(ctx, prefix, clientv3.WithPrefix()); err != nil {
		return err
	}
	d.tl.say("wiped %s's whole intent (%d keys) with a raw etcd client: the classic outage", n.name, len(saved.Kvs))
	hold, err := d.waitHold(ctx, n.name)
	if err != nil {
		return errStep("wait for the hold", err)
	}
	d.tl.say("  failsafe hold %s", hold.ID)
	d.tl.say("    by %s, guard %s: %s (%d of %d deleted)", hold.Component, hold.Guard, hold.Reason, hold.Deletes, hold.Total)
	// Give the preparer every chance to do the wrong thing.
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	after := d.pids(n)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		return fmt.Errorf("failsafe: the pods of %s changed during the hold: %v -> %v", n.name, before, after)
	}
	real, err := reality.NewStore(d.cli).List(ctx, n.name)
	if err != nil {
		return err
	}
	d.tl.say("  2s later: nothing uninstalled, %d pods still in reality, same pids %v", len(real.Items), after)

	ops := make([]clientv3.Op, 0, len(saved.Kvs))
	for _, kv := range saved.Kvs {
		ops = append(ops, clientv3.OpPut(string(kv.Key), string(kv.Value)))
	}
	if _, err := kv.Commit(ctx, d.cli, nil, ops...); err != nil {
		return err
	}
	d.tl.say("restored %s's intent", n.name)
	err = poll(ctx, func() (bool, error) {
		holds, err := failsafe.ListHolds(ctx, d.cli, "/p2")
		for _, h := range holds {
			if h.ID == hold.ID {
				return false, err
			}
		}
		return true, err
	})
	if err != nil {
		return errStep("wait for the hold to clear", err)
	}
	if after := d.pids(n); fmt.Sprint(before) != fmt.Sprint(after) {
		return fmt.Errorf("failsafe: pods restarted after the restore: %v -> %v", before, after)
	}
	d.tl.say("  the hold cleared by itself and nothing was restarted (same pids)")
	return nil
}

// stopApps stops every pod's processes on every node.
func (d *demoEnv) stopApps() {
	for _, n := range d.nodes {
		l := process.New(n.root)
		pods, _ := l.Pods()
		for _, pod := range pods {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := l.Stop(ctx, pod, 2*time.Second); err != nil {
				d.tl.say("stop %s on %s: %v", pod, n.name, err)
			}
			cancel()
		}
	}
}

// waitHold waits until node's preparer records a failsafe hold and returns
// its record.
func (d *demoEnv) waitHold(ctx context.Context, node string) (failsafe.Record, error) {
	var hold failsafe.Record
	err := poll(ctx, func() (bool, error) {
		holds, err := failsafe.ListHolds(ctx, d.cli, "/p2")
		for _, h := range holds {
			if h.Component == "preparer/"+node {
				hold = h
				return true, nil
			}
		}
		return false, err
	})
	return hold, err
}
