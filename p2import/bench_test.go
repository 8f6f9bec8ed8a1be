package p2import_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/p2import"
	"github.com/stretchr/testify/require"
)

// BenchmarkImport plans and applies an export of 1000 nodes, each with one pod's intent and
// its node labels (2000 records), under a fresh prefix per iteration.
func BenchmarkImport(b *testing.B) {
	cli := etcdtest.New(b).Client(b)
	var entries []p2import.Entry
	for i := 0; i < 1000; i++ {
		node := fmt.Sprintf("node%d", i)
		entries = append(entries,
			p2import.NewEntry("intent/"+node+"/web", []byte("id: web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://artifacts.example.com/web_1.tar.gz\n    digest_location: https://artifacts.example.com/web_1.tar.gz.sha256\n")),
			p2import.NewEntry("labels/node/"+node, []byte(`{"role":"web"}`)))
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		im := p2import.New(cli, "bench", p2import.WithPrefix(fmt.Sprintf("/bench%d", i)))
		p, err := im.Plan(ctx, entries)
		require.NoError(b, err)
		res, err := im.Apply(ctx, p, false)
		require.NoError(b, err)
		require.Len(b, res.Written, 2000)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/import")
}
