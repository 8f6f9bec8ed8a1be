package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFleetsim runs the whole scenario, mass deletion included, at 20
// nodes and checks that every phase converged, that the figures that must
// be non-zero are, that every preparer held the mass deletion without
// uninstalling anything, and that the CSV and the PNG were written.
func TestFleetsim(t *testing.T) {
	dir := t.TempDir()
	csvPath, pngPath := filepath.Join(dir, "fleet.csv"), filepath.Join(dir, "fleet.png")
	var out bytes.Buffer
	code := run([]string{"--nodes", "20", "--mass-delete", "--hold-for", "1s", "--health-interval", "200ms",
		"--phase-timeout", "60s", "--idle", "1s", "--progress=false", "--csv", csvPath, "--plot", pngPath}, &out)
	t.Log("\n" + out.String())
	require.Equal(t, 0, code)

	f, err := os.Open(csvPath)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Equal(t, csvHeader, rows[0])
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}

	var phases []string
	for _, row := range rows[1:] {
		phase := row[col["phase"]]
		phases = append(phases, phase)
		get := func(name string) float64 {
			v, err := strconv.ParseFloat(row[col[name]], 64)
			require.NoError(t, err, "%s: %s", phase, name)
			return v
		}
		require.Equal(t, "true", row[col["converged"]], phase)
		require.Equal(t, row[col["nodes"]], row[col["reached"]], phase)
		require.Positive(t, get("peak_heap_bytes"), phase)
		require.Positive(t, get("peak_goroutines"), phase)
		if phase == "idle" {
			continue // the steady state: nothing need happen
		}
		for _, name := range []string{"seconds", "requests", "requests_per_node", "watch_events", "bytes_sent",
			"bytes_received",
			"server_watch_events", "server_bytes_received", "server_bytes_sent"} {
			require.Positive(t, get(name), "%s: %s", phase, name)
		}
		require.Positive(t, get("server_range")+get("server_txn")+get("server_put"), "%s: server requests", phase)
		switch phase {
		case "start", "daemon-set", "rc", "roll":
			require.Positive(t, get("range"), "%s: range", phase)
			require.Positive(t, get("txn")+get("put"), "%s: txn and put", phase)
		case "mass-delete":
			require.Equal(t, 20.0, get("holds"), "every preparer holds")
			require.Equal(t, 0.0, get("uninstalls"))
		case "restore":
			require.Equal(t, 0.0, get("uninstalls"))
		}
	}
	require.Equal(t, []string{"start", "daemon-set", "rc", "roll", "mass-delete", "restore", "idle"}, phases)

	png, err := os.ReadFile(pngPath)
	require.NoError(t, err)
	require.Greater(t, len(png), 1000)
	require.Equal(t, []byte("\x89PNG\r\n\x1a\n"), png[:8])
}

// TestFlags refuses a scenario that cannot run.
func TestFlags(t *testing.T) {
	var out bytes.Buffer
	require.Equal(t, 2, run([]string{"--nodes", "10", "--replicas", "10"}, &out))
	require.Contains(t, out.String(), "--replicas 10")
	require.Equal(t, 2, run([]string{"--nodes", "0"}, &out))
}
