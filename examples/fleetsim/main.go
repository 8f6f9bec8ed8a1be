// Command fleetsim measures what p2kit costs at a fleet's size. It runs
// --nodes simulated nodes in one process, each the real preparer with the
// in-memory installer and launcher (no processes; health passes after
// --healthy-after), and the real controller farms, against an embedded
// etcd (or --etcd, one endpoint or a cluster's). Then it deploys a daemon
// set on every node, an RC, and a roll of that RC; optionally rolls again
// and crashes the controller mid-roll for a standby to finish
// (--controller-failover), deletes every node's intent at once and
// restores it (--mass-delete) to show the failsafe holds, and deletes it
// again and releases every hold as an operator would (--release). It
// reports per phase the time to converge, the etcd requests by kind and
// bytes (counted at the clients, and cross-checked with the embedded
// member's metrics), the requests per node, the peak heap and the
// goroutines, and ends with the figures the regression check compares.
//
//	go run ./examples/fleetsim --nodes 1000 --mass-delete --release --controller-failover --csv out.csv --plot out.png
//
// docs/SCALE.md has the figures for 100, 1,000 and 10,000 nodes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/pflag"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

// run runs the simulation the flags ask for and prints its report to
// stdout: 0 when every phase converged, 1 otherwise, 2 on bad flags.
func run(args []string, stdout io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stdout, "fleetsim: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := simulate(ctx, cfg, stdout); err != nil {
		fmt.Fprintf(stdout, "fleetsim: %v\n", err)
		return 1
	}
	return 0
}

// writeHeapProfile writes the live heap (as of a fresh collection) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// simulate runs every phase in turn, stopping at the first that fails,
// and writes the table, the CSV and the plot of the phases that ran.
func simulate(ctx context.Context, cfg *config, out io.Writer) error {
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.pprofAddr != "" {
		stop, err := servePprof(cfg.pprofAddr)
		if err != nil {
			return fmt.Errorf("--pprof-addr: %w", err)
		}
		defer stop()
	}
	s, err := newSim(cfg, out)
	if err != nil {
		return err
	}
	where := "an embedded etcd (fsync on)"
	if cfg.external {
		where = "etcd at " + cfg.etcd.Endpoints
	}
	fmt.Fprintf(out, "fleetsim: %d nodes, RC of %d replicas, %d preparer clients, %d worker(s) and a %s health interval per preparer, against %s\n",
		cfg.nodes, cfg.replicas, cfg.clients, cfg.workers, cfg.healthEvery, where)

	var results []*result
	var failed error
	var peak uint64 // the highest phase peak heap so far (--memprofile)
	for _, ph := range s.phases() {
		r := s.run(ctx, ph)
		results = append(results, r)
		if cfg.memProfile != "" && r.peakHeap > peak {
			peak = r.peakHeap
			if err := writeHeapProfile(cfg.memProfile); err != nil {
				return fmt.Errorf("--memprofile: %w", err)
			}
		}
		status := "converged"
		if r.err != nil {
			status = "FAILED: " + r.err.Error()
			failed = fmt.Errorf("phase %s: %w", ph.name, r.err)
		}
		fmt.Fprintf(out, "phase %-11s %6d nodes  %7.1fs  %s\n", ph.name, ph.nodes, r.seconds, status)
		for _, role := range []int{rolePreparers, roleController} {
			if len(r.detail[role]) > 0 {
				fmt.Fprintf(out, "  %s: %s\n", roleNames[role], formatDetail(r.detail[role], 16))
			}
		}
		if failed != nil || ph.name == cfg.until {
			break
		}
	}
	s.close()

	fmt.Fprintln(out)
	if err := writeTable(out, results); err != nil {
		return err
	}
	writeSummary(out, cfg.nodes, results)
	if c := s.compact; c != nil {
		fmt.Fprintf(out, "etcd history compacted %d times (--compact-every %s), last to revision %d; %d rounds failed\n",
			c.rounds.Load(), cfg.compactEvery, c.last.Load(), c.failed.Load())
	}
	if cfg.csv != "" {
		if err := writeCSV(cfg.csv, results); err != nil {
			return fmt.Errorf("--csv: %w", err)
		}
	}
	if cfg.plot != "" {
		if err := writePlot(cfg.plot, cfg.nodes, results); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	return failed
}
