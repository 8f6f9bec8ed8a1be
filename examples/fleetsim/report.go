package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

const mb = 1 << 20

// writeTable prints one row per phase. The request columns are p2kit's:
// the preparers and the controller, counted at their clients.
func writeTable(w io.Writer, rs []*result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tnodes\tseconds\trange\tput\ttxn\tdelete\twatches\twatch events\tsent MB\trecv MB\treq/node\tevents/node\tkeepalives\t"+
		"heap MB\tlive MB\tstacks MB\tRSS MB\tgoroutines\theap KB/node\tlive KB/node\tRSS KB/node\tgoroutines/node\trelease events/hold\t")
	for _, r := range rs {
		c := r.p2kit()
		perHold := "-"
		if v, ok := r.releaseEventsPerHold(); ok {
			perHold = fmt.Sprintf("%.2f", v)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.2f\t%.2f\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t%.1f\t%.1f\t%.1f\t%.2f\t%s\t\n",
			r.phase, r.nodes, r.seconds, c.Range, c.Put, c.Txn, c.Delete, c.WatchCreates, c.WatchEvents,
			float64(c.Sent)/mb, float64(c.Recv)/mb, r.perNode(c.Requests()), r.perNode(c.WatchEvents),
			c.KeepAlives, float64(r.peakHeap)/mb, float64(r.peakLive)/mb, float64(r.peakStacks)/mb, float64(r.peakRSS)/mb, r.peakGoroutines,
			r.heapKBPerNode(), r.liveKBPerNode(), r.rssKBPerNode(), r.goroutinesPerNode(), perHold)
	}
	return tw.Flush()
}

var csvHeader = func() []string {
	h := []string{"phase", "nodes", "seconds", "converged", "reached",
		"range", "put", "txn", "delete", "watch_creates", "watch_events", "other", "bytes_sent", "bytes_received",
		"requests", "requests_per_node", "watch_events_per_node", "bytes_per_node",
		"watch_responses", "keepalives",
		"peak_heap_bytes", "peak_goroutines", "holds", "uninstalls",
		"heap_kb_per_node", "goroutines_per_node", "release_watch_events", "release_watch_events_per_hold",
		"installs", "takeover_seconds",
		"peak_live_heap_bytes", "live_kb_per_node", "peak_stack_bytes", "peak_rss_bytes", "rss_kb_per_node", "hwm_bytes"}
	for _, role := range roleNames {
		h = append(h, role+"_requests", role+"_watch_events", role+"_bytes")
	}
	return append(h, "server_range", "server_put", "server_delete", "server_txn", "server_watch_events",
		"server_bytes_received", "server_bytes_sent")
}()

// writeCSV writes the table's rows, with each role's share and the
// embedded member's own counts, to path.
func writeCSV(path string, rs []*result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write(csvHeader)
	i := strconv.FormatInt
	for _, r := range rs {
		c := r.p2kit()
		uninstalls := ""
		if r.checkedUninstalls {
			uninstalls = i(r.uninstalls, 10)
		}
		row := []string{r.phase, strconv.Itoa(r.nodes), fmt.Sprintf("%.2f", r.seconds), strconv.FormatBool(r.converged),
			strconv.Itoa(r.reached), i(c.Range, 10), i(c.Put, 10), i(c.Txn, 10), i(c.Delete, 10),
			i(c.WatchCreates, 10), i(c.WatchEvents, 10), i(c.Other, 10), i(c.Sent, 10), i(c.Recv, 10),
			i(c.Requests(), 10), fmt.Sprintf("%.3f", r.perNode(c.Requests())),
			fmt.Sprintf("%.3f", r.perNode(c.WatchEvents)), fmt.Sprintf("%.0f", r.perNode(c.Sent+c.Recv)),
			i(c.WatchResponses, 10), i(c.KeepAlives, 10),
			strconv.FormatUint(r.peakHeap, 10), strconv.Itoa(r.peakGoroutines), strconv.Itoa(r.holds), uninstalls,
			fmt.Sprintf("%.1f", r.heapKBPerNode()), fmt.Sprintf("%.3f", r.goroutinesPerNode()), i(c.ReleaseEvents, 10), ""}
		if v, ok := r.releaseEventsPerHold(); ok {
			row[len(row)-1] = fmt.Sprintf("%.3f", v)
		}
		installs, takeover := "", ""
		if r.phase == "release" {
			installs = i(r.installs, 10)
		}
		if r.takeover > 0 {
			takeover = fmt.Sprintf("%.2f", r.takeover)
		}
		row = append(row, installs, takeover,
			strconv.FormatUint(r.peakLive, 10), fmt.Sprintf("%.1f", r.liveKBPerNode()),
			strconv.FormatUint(r.peakStacks, 10), strconv.FormatUint(r.peakRSS, 10), fmt.Sprintf("%.1f", r.rssKBPerNode()), strconv.FormatUint(r.hwm, 10))
		for _, rc := range r.roles {
			row = append(row, i(rc.Requests(), 10), i(rc.WatchEvents, 10), i(rc.Sent+rc.Recv, 10))
		}
		if m := r.server; m != nil {
			for _, v := range []float64{m.Range, m.Put, m.Delete, m.Txn, m.Events, m.Recv, m.Sent} {
				row = append(row, strconv.FormatFloat(v, 'f', 0, 64))
			}
		} else {
			row = append(row, "", "", "", "", "", "", "")
		}
		_ = w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeSummary prints the whole run per node, what each phase's check
// found, what went wrong, and the figures the regression check compares
// (docs/SCALE.md).
func writeSummary(w io.Writer, nodes int, rs []*result) {
	var total counts
	for _, r := range rs {
		total = total.add(r.p2kit())
	}
	fmt.Fprintf(w, "\nall phases: %d p2kit requests for %d nodes = %.2f per node; %.2f watch events and %.1f KB per node\n",
		total.Requests(), nodes, float64(total.Requests())/float64(nodes),
		float64(total.WatchEvents)/float64(nodes), float64(total.Sent+total.Recv)/1024/float64(nodes))
	if n := len(rs); n > 0 && rs[n-1].hwm > 0 {
		hwm := rs[n-1].hwm
		fmt.Fprintf(w, "peak RSS of the process (VmHWM): %.0f MB = %.1f KB per node\n",
			float64(hwm)/mb, float64(hwm)/1024/float64(max(nodes, 1)))
	}
	for _, r := range rs {
		if r.checkedUninstalls {
			fmt.Fprintf(w, "%s: %d preparer holds, %d uninstalls", r.phase, r.holds, r.uninstalls)
			if strings.HasPrefix(r.phase, "mass-delete") && r.holds > 0 {
				fmt.Fprintf(w, "; peak goroutines %.2f more per held node than when the deletion began",
					float64(r.peakGoroutines-r.goroutines0)/float64(r.holds))
			}
			fmt.Fprintln(w)
		}
		for _, n := range r.notes {
			fmt.Fprintf(w, "%s: %s\n", r.phase, n)
		}
		if r.err != nil {
			fmt.Fprintf(w, "%s: FAILED: %v\n", r.phase, r.err)
		}
	}
	fmt.Fprintln(w, figuresOf(nodes, rs))
}

// figures are the whole run's costs per node that the regression check
// compares: p2kit's requests and watch events over every phase, and the
// peak heap of any phase (the embedded etcd included, unless --etcd):
// HeapAlloc, garbage not yet collected included, and the heap the last
// collection marked live. LiveKBPerNode is 0 in a baseline recorded before
// it was measured.
type figures struct {
	Nodes         int
	ReqPerNode    float64
	EventsPerNode float64
	HeapKBPerNode float64
	LiveKBPerNode float64
}

func figuresOf(nodes int, rs []*result) figures {
	var total counts
	var heap, live uint64
	for _, r := range rs {
		total = total.add(r.p2kit())
		heap = max(heap, r.peakHeap)
		live = max(live, r.peakLive)
	}
	n := float64(max(nodes, 1))
	return figures{Nodes: nodes, ReqPerNode: float64(total.Requests()) / n,
		EventsPerNode: float64(total.WatchEvents) / n, HeapKBPerNode: float64(heap) / 1024 / n,
		LiveKBPerNode: float64(live) / 1024 / n}
}

// String is the line docs/SCALE.md records as the regression baseline.
func (f figures) String() string {
	s := fmt.Sprintf("regression-baseline: nodes=%d req_per_node=%.2f events_per_node=%.2f heap_kb_per_node=%.1f",
		f.Nodes, f.ReqPerNode, f.EventsPerNode, f.HeapKBPerNode)
	if f.LiveKBPerNode > 0 {
		s += fmt.Sprintf(" live_kb_per_node=%.1f", f.LiveKBPerNode)
	}
	return s
}
