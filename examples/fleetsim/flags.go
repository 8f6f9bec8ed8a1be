package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/preparer"
	"github.com/spf13/pflag"
)

// config is what the flags ask for.
type config struct {
	etcd         component.Etcd
	external     bool // --etcd was given: no embedded member
	prefix       string
	logLevel     string
	logFile      string
	nodes        int
	replicas     int
	clients      int
	workers      int
	healthAfter  time.Duration
	healthEvery  time.Duration
	massDelete   bool
	release      bool
	releaseRate  float64
	failover     bool
	leaseTTL     int
	nodeTTL      time.Duration
	removedTTL   time.Duration
	holdFor      time.Duration
	phaseTimeout time.Duration
	csv          string
	plot         string
	progress     bool
	cpuProfile   string
	memProfile   string
	idle         time.Duration
	until        string // the last phase to run (empty: every phase)
	pprofAddr    string
	startRate    float64 // preparers started a second (0: all at once)
	retryMin     time.Duration
	retryMax     time.Duration
	compactEvery time.Duration // 0: never
}

func parseFlags(args []string, out io.Writer) (*config, error) {
	fs := pflag.NewFlagSet("fleetsim", pflag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: fleetsim [flags]\n\n"+
			"Runs --nodes simulated nodes (the real preparer with an in-memory installer and\n"+
			"launcher) and the real controller farms against an embedded etcd (or --etcd),\n"+
			"deploys a daemon set, an RC and a roll, and reports what each phase cost.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	c := &config{}
	c.etcd.Register(fs)
	fs.StringVar(&c.prefix, "prefix", "/p2", "root prefix of every p2kit key")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level of the simulated components: debug, info, warn or error")
	fs.StringVar(&c.logFile, "log-file", "", "write the components' logs (JSON) to this file (empty: discard them)")
	fs.IntVar(&c.nodes, "nodes", 100, "simulated nodes, each with its own preparer")
	fs.IntVar(&c.replicas, "replicas", 0, "replicas of the RC and of its roll (0: a tenth of --nodes, at least 1)")
	fs.IntVar(&c.clients, "clients", 0, "etcd clients the preparers share (0: one per 100 nodes, at least 4; a real fleet has one per node)")
	fs.Float64Var(&c.startRate, "start-rate", 0, "preparers started a second in the start phase, as a fleet's nodes boot (0: every preparer at once, a whole fleet rebooting)")
	fs.IntVar(&c.workers, "workers", 1, "workers per preparer")
	fs.DurationVar(&c.healthAfter, "healthy-after", 0, "how long a launched pod reports warning before passing")
	fs.DurationVar(&c.healthEvery, "health-interval", time.Second, "how often each preparer checks its pods")
	fs.BoolVar(&c.massDelete, "mass-delete", false, "delete every node's intent at once, check that every preparer holds, then restore it")
	fs.DurationVar(&c.holdFor, "hold-for", 3*time.Second, "with --mass-delete or --release: how long to watch for uninstalls (or more of them) once every node holds (or has uninstalled)")
	fs.BoolVar(&c.release, "release", false, "delete every node's intent (again, after --mass-delete's restore), then release every preparer's hold as 'p2ctl failsafe release' does: each node uninstalls its pods once")
	fs.Float64Var(&c.releaseRate, "release-rate", 1000, "with --release: holds released per second at most (a failsafe.Limiter, bursts of a tenth of that)")
	fs.BoolVar(&c.failover, "controller-failover", false, "roll again and crash the controller mid-roll: a standby controller takes over when its lease expires and finishes the roll")
	fs.IntVar(&c.leaseTTL, "lease-ttl", 10, "the controllers' lease TTL in seconds: how long a crashed controller keeps its farms")
	fs.DurationVar(&c.retryMin, "retry-min", 200*time.Millisecond, "the preparers' first retry of failed work, doubled per failure up to --retry-max (preparer.WithBackoff; the preparer's own defaults are 1s and 1m)")
	fs.DurationVar(&c.retryMax, "retry-max", 5*time.Second, "the preparers' longest wait between retries (preparer.WithBackoff)")
	fs.DurationVar(&c.nodeTTL, "node-ttl", preparer.DefaultNodeTTL, "the TTL of each preparer's node record lease (preparer.WithNodeTTL)")
	fs.DurationVar(&c.removedTTL, "removed-ttl", preparer.DefaultRemovedTTL, "how long a removed pod's status record stays before its preparer deletes it (preparer.WithRemovedTTL); the release phase waits for it")
	fs.DurationVar(&c.compactEvery, "compact-every", 0, "compact etcd's history this often, to the revision of the round before, as kube-apiserver compacts its etcd every 5m (0: never; the embedded member compacts what is an hour old)")
	fs.DurationVar(&c.idle, "idle", 10*time.Second, "end with an idle phase this long, to measure the steady-state cost (0: none)")
	fs.DurationVar(&c.phaseTimeout, "phase-timeout", 10*time.Minute, "give up on a phase that has not converged after this long")
	fs.StringVar(&c.csv, "csv", "", "write the per-phase figures to this CSV file")
	fs.StringVar(&c.plot, "plot", "", "draw nodes converged against time, per phase, to this PNG file")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	fs.StringVar(&c.memProfile, "memprofile", "", "write a heap profile to this file at the end of the phase whose peak heap is the run's highest so far (go tool pprof)")
	fs.StringVar(&c.until, "until", "", "stop after this phase (start, daemon-set, rc, roll, or any other phase the flags ask for): measure a phase without running the later ones")
	fs.StringVar(&c.pprofAddr, "pprof-addr", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060) while the run lasts, to profile a phase that does not end")
	fs.BoolVar(&c.progress, "progress", true, "show a progress bar on stderr while a phase runs")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	c.external = fs.Changed("etcd")
	var err error
	if c.prefix, err = component.CheckPrefix(c.prefix); err != nil {
		return nil, err
	}
	switch {
	case c.nodes < 1:
		return nil, fmt.Errorf("--nodes %d: want 1 or more", c.nodes)
	case c.clients < 0:
		return nil, fmt.Errorf("--clients %d: want 1 or more, or 0 for one per 100 nodes", c.clients)
	case c.workers < 1:
		return nil, fmt.Errorf("--workers %d: want 1 or more", c.workers)
	case c.replicas < 0:
		return nil, fmt.Errorf("--replicas %d: want 0 or more", c.replicas)
	case c.startRate < 0:
		return nil, fmt.Errorf("--start-rate %g: want 0 (all at once) or more", c.startRate)
	case c.releaseRate <= 0:
		return nil, fmt.Errorf("--release-rate %g: want more than 0", c.releaseRate)
	case c.leaseTTL < 1:
		return nil, fmt.Errorf("--lease-ttl %d: want 1 or more seconds", c.leaseTTL)
	case c.retryMin <= 0 || c.retryMax < c.retryMin:
		return nil, fmt.Errorf("--retry-min %s, --retry-max %s: want 0 < min <= max", c.retryMin, c.retryMax)
	case c.nodeTTL < time.Second:
		return nil, fmt.Errorf("--node-ttl %s: want at least 1s", c.nodeTTL)
	case c.removedTTL <= 0:
		return nil, fmt.Errorf("--removed-ttl %s: want more than 0", c.removedTTL)
	case c.compactEvery < 0:
		return nil, fmt.Errorf("--compact-every %s: want 0 (never) or more", c.compactEvery)
	case c.healthEvery <= 0:
		return nil, fmt.Errorf("--health-interval %s: want more than 0", c.healthEvery)
	}
	if c.replicas == 0 {
		c.replicas = max(1, c.nodes/10)
	}
	if c.clients == 0 {
		// etcd serves one keep-alive stream's renewals one after the
		// other; 25,000 leases on a stream is no fleet's shape.
		c.clients = max(4, (c.nodes+99)/100)
	}
	if c.until != "" {
		var names []string
		for _, ph := range (&sim{cfg: c}).phases() {
			names = append(names, ph.name)
		}
		if !slices.Contains(names, c.until) {
			return nil, fmt.Errorf("--until %q: not a phase of this run, want one of %s", c.until, strings.Join(names, ", "))
		}
	}
	// A roll places the new pods on nodes without an old one: a step
	// needs that many free nodes.
	if c.replicas+rollStep(c.replicas) > c.nodes {
		return nil, fmt.Errorf("--replicas %d: want at most %d with --nodes %d: a roll step of %d pods needs free nodes",
			c.replicas, c.nodes-rollStep(c.replicas), c.nodes, rollStep(c.replicas))
	}
	return c, nil
}

// rollStep is how many replicas the roll moves at once: a tenth, at least
// one. The roll's minimum_replicas is replicas minus this.
func rollStep(replicas int) int { return max(1, replicas/10) }
