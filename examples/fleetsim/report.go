package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
)

const mb = 1 << 20

// writeTable prints one row per phase. The request columns are p2kit's:
// the preparers and the controller, counted at their clients.
func writeTable(w io.Writer, rs []*result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tnodes\tseconds\trange\tput\ttxn\tdelete\twatch events\tsent MB\trecv MB\treq/node\tevents/node\tkeepalives\theap MB\tgoroutines\t")
	for _, r := range rs {
		c := r.p2kit()
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.2f\t%.2f\t%d\t%.0f\t%d\t\n",
			r.phase, r.nodes, r.seconds, c.Range, c.Put, c.Txn, c.Delete, c.WatchEvents,
			float64(c.Sent)/mb, float64(c.Recv)/mb, r.perNode(c.Requests()), r.perNode(c.WatchEvents),
			c.KeepAlives, float64(r.peakHeap)/mb, r.peakGoroutines)
	}
	return tw.Flush()
}

var csvHeader = func() []string {
	h := []string{"phase", "nodes", "seconds", "converged", "reached",
		"range", "put", "txn", "delete", "watch_creates", "watch_events", "other", "bytes_sent", "bytes_received",
		"requests", "requests_per_node", "watch_events_per_node", "bytes_per_node",
		"watch_responses", "keepalives",
		"peak_heap_bytes", "peak_goroutines", "holds", "uninstalls"}
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
			strconv.FormatUint(r.peakHeap, 10), strconv.Itoa(r.peakGoroutines), strconv.Itoa(r.holds), uninstalls}
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

// writeSummary prints the whole run per node, and what went wrong.
func writeSummary(w io.Writer, nodes int, rs []*result) {
	var total counts
	for _, r := range rs {
		total = total.add(r.p2kit())
	}
	fmt.Fprintf(w, "\nall phases: %d p2kit requests for %d nodes = %.2f per node; %.2f watch events and %.1f KB per node\n",
		total.Requests(), nodes, float64(total.Requests())/float64(nodes),
		float64(total.WatchEvents)/float64(nodes), float64(total.Sent+total.Recv)/1024/float64(nodes))
	for _, r := range rs {
		if r.checkedUninstalls {
			fmt.Fprintf(w, "%s: %d preparer holds, %d uninstalls\n", r.phase, r.holds, r.uninstalls)
		}
		if r.err != nil {
			fmt.Fprintf(w, "%s: FAILED: %v\n", r.phase, r.err)
		}
	}
}
