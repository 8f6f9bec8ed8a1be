package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var scaleCheck = flag.Bool("scale-check", false,
	"run TestScaleRegression: fleetsim at the node count of docs/SCALE.md's regression baseline (1,000), compared with it")

// regressionArgs is the scenario of the regression check, after --nodes.
// The controller failover is left out: its cost is set by the lease TTL,
// not by the fleet.
var regressionArgs = []string{"--mass-delete", "--release", "--idle", "5s", "--progress=false"}

// regressionTolerance is how far above the baseline a figure may rise.
const regressionTolerance = 0.20

// errNoBaseline is returned when a document has no baseline line.
var errNoBaseline = errors.New("no regression-baseline line")

// parseBaseline reads the first "regression-baseline: nodes=N
// req_per_node=R events_per_node=E heap_kb_per_node=H [live_kb_per_node=L]"
// line of doc.
func parseBaseline(doc string) (figures, error) {
	var f figures
	for line := range strings.Lines(doc) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "regression-baseline:")
		if !ok {
			continue
		}
		seen := map[string]bool{}
		for _, field := range strings.Fields(rest) {
			key, val, ok := strings.Cut(field, "=")
			if !ok {
				return f, fmt.Errorf("regression-baseline: %q is not key=value", field)
			}
			var err error
			switch key {
			case "nodes":
				f.Nodes, err = strconv.Atoi(val)
				if err == nil && f.Nodes < 1 {
					err = errors.New("want 1 or more")
				}
			case "req_per_node":
				f.ReqPerNode, err = positive(val)
			case "events_per_node":
				f.EventsPerNode, err = positive(val)
			case "heap_kb_per_node":
				f.HeapKBPerNode, err = positive(val)
			case "live_kb_per_node": // optional: older baselines lack it
				f.LiveKBPerNode, err = positive(val)
			default:
				return f, fmt.Errorf("regression-baseline: unknown field %q", key)
			}
			if err != nil {
				return f, fmt.Errorf("regression-baseline: %s=%q: %w", key, val, err)
			}
			seen[key] = true
		}
		for _, key := range []string{"nodes", "req_per_node", "events_per_node", "heap_kb_per_node"} {
			if !seen[key] {
				return f, fmt.Errorf("regression-baseline: field %s missing", key)
			}
		}
		return f, nil
	}
	return f, errNoBaseline
}

func positive(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err == nil && !(v > 0) {
		err = errors.New("want more than 0")
	}
	return v, err
}

// regressions lists the figures of got that rose more than tolerance
// above base's.
func regressions(base, got figures, tolerance float64) []string {
	var out []string
	for _, m := range []struct {
		name      string
		base, got float64
	}{
		{"requests per node", base.ReqPerNode, got.ReqPerNode},
		{"watch events per node", base.EventsPerNode, got.EventsPerNode},
		{"heap KB per node", base.HeapKBPerNode, got.HeapKBPerNode},
		{"live heap KB per node", base.LiveKBPerNode, got.LiveKBPerNode},
	} {
		if m.base == 0 {
			continue // a baseline recorded before the figure was
		}
		if limit := m.base * (1 + tolerance); m.got > limit {
			out = append(out, fmt.Sprintf("%s: %.2f, more than %.0f%% above the baseline %.2f (limit %.2f)",
				m.name, m.got, 100*tolerance, m.base, limit))
		}
	}
	return out
}

// TestScaleRegression runs fleetsim at the baseline's node count and fails
// when p2kit's requests, watch events or heap per node rose more than 20%
// above docs/SCALE.md's regression baseline. It runs only with
// -scale-check:
//
//	go test ./examples/fleetsim -run TestScaleRegression -scale-check -v
func TestScaleRegression(t *testing.T) {
	if !*scaleCheck {
		t.Skip("a 1,000-node run of a minute or more: give -scale-check to run it")
	}
	doc, err := os.ReadFile("../../docs/SCALE.md")
	require.NoError(t, err)
	base, err := parseBaseline(string(doc))
	require.NoError(t, err, "docs/SCALE.md")

	var out bytes.Buffer
	code := run(append([]string{"--nodes", strconv.Itoa(base.Nodes)}, regressionArgs...), &out)
	t.Log("\n" + out.String())
	require.Equal(t, 0, code, "every phase converges")
	got, err := parseBaseline(out.String())
	require.NoError(t, err, "fleetsim's output")
	t.Logf("baseline: %s", base)
	t.Logf("this run: %s", got)
	for _, r := range regressions(base, got, regressionTolerance) {
		t.Error(r)
	}
}

// TestBaselineParseAndCompare reads the baseline line (docs/SCALE.md's
// too), refuses a bad one naming the field, and flags only the figures
// more than 20% above it.
func TestBaselineParseAndCompare(t *testing.T) {
	doc := "# Scale\n\n```\nregression-baseline: nodes=1000 req_per_node=14.50 events_per_node=20.00 heap_kb_per_node=100.0\n```\n"
	base, err := parseBaseline(doc)
	require.NoError(t, err)
	require.Equal(t, figures{Nodes: 1000, ReqPerNode: 14.5, EventsPerNode: 20, HeapKBPerNode: 100}, base)
	// What fleetsim prints parses back to the same figures.
	again, err := parseBaseline(base.String())
	require.NoError(t, err)
	require.Equal(t, base, again)

	// The live heap is optional: a baseline with it parses back, compares,
	// and prints it; one without it (above) compares nothing for it.
	withLive, err := parseBaseline(base.String() + " live_kb_per_node=50.0")
	require.NoError(t, err)
	require.Equal(t, 50.0, withLive.LiveKBPerNode)
	again, err = parseBaseline(withLive.String())
	require.NoError(t, err)
	require.Equal(t, withLive, again)
	require.Empty(t, regressions(base, figures{Nodes: 1000, ReqPerNode: 1, EventsPerNode: 1, HeapKBPerNode: 1, LiveKBPerNode: 500}, 0.2))
	got := regressions(withLive, figures{Nodes: 1000, ReqPerNode: 1, EventsPerNode: 1, HeapKBPerNode: 1, LiveKBPerNode: 61}, 0.2)
	require.Len(t, got, 1)
	require.Contains(t, got[0], "live heap KB per node: 61.00")

	for doc, want := range map[string]string{
		"nothing here": errNoBaseline.Error(),
		"regression-baseline: nodes=1000 req_per_node=1 events_per_node=2":                                     "field heap_kb_per_node missing",
		"regression-baseline: nodes=x req_per_node=1 events_per_node=2 heap_kb_per_node=3":                     `nodes="x"`,
		"regression-baseline: nodes=10 req_per_node=0 events_per_node=2 heap_kb_per_node=3":                    `req_per_node="0": want more than 0`,
		"regression-baseline: nodes=10 req_per_node=1 events_per_node=2 heap_kb_per_node=3 gc=1":               `unknown field "gc"`,
		"regression-baseline: nodes=10 req_per_node=1 events_per_node 2 heap_kb_per_node=3":                    `"events_per_node" is not key=value`,
		"regression-baseline: nodes=10 req_per_node=1 events_per_node=2 heap_kb_per_node=3 live_kb_per_node=0": `live_kb_per_node="0": want more than 0`,
	} {
		_, err := parseBaseline(doc)
		require.ErrorContains(t, err, want, doc)
	}
	_, err = parseBaseline("nothing here")
	require.ErrorIs(t, err, errNoBaseline)

	// The baseline docs/SCALE.md records parses.
	scale, err := os.ReadFile("../../docs/SCALE.md")
	require.NoError(t, err)
	recorded, err := parseBaseline(string(scale))
	require.NoError(t, err, "docs/SCALE.md")
	require.Equal(t, 1000, recorded.Nodes)

	// Exactly 20% above passes; more fails, each figure on its own.
	require.Empty(t, regressions(base, figures{Nodes: 1000, ReqPerNode: 17.4, EventsPerNode: 24, HeapKBPerNode: 120}, 0.2))
	require.Empty(t, regressions(base, figures{Nodes: 1000, ReqPerNode: 5, EventsPerNode: 5, HeapKBPerNode: 5}, 0.2))
	got = regressions(base, figures{Nodes: 1000, ReqPerNode: 17.5, EventsPerNode: 24, HeapKBPerNode: 121}, 0.2)
	require.Len(t, got, 2)
	require.Contains(t, got[0], "requests per node: 17.50")
	require.Contains(t, got[1], "heap KB per node: 121.00")
}
