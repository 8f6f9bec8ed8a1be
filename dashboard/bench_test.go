package dashboard_test

import (
	"flag"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/p2kit/p2kit/dashboard"
	"github.com/p2kit/p2kit/etcdtest"
)

var benchNodes = flag.Int("bench-nodes", 10000, "nodes of BenchmarkPages's fleet (3 pods each)")

// BenchmarkPages renders each page over a fleet of -bench-nodes nodes with
// three pods each (labels, intent, pod records and node records: about
// 110,000 keys for 10,000 nodes) in embedded etcd:
//
//	go test ./dashboard -run '^$' -bench BenchmarkPages -benchtime 5x
func BenchmarkPages(b *testing.B) {
	cli := etcdtest.New(b).Client(b)
	start := time.Now()
	fleet{nodes: *benchNodes, pods: 3, gone: 50}.write(b, cli)
	controllers(b, cli, 3)
	b.Logf("wrote %d nodes in %v", *benchNodes, time.Since(start).Round(time.Millisecond))
	h, err := dashboard.New(cli, dashboard.WithPrefix(root))
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []struct{ name, path string }{
		{"fleet", "/"},
		{"fleet-last-page", "/?page=1000000"},
		{"fleet-selector", "/?selector=zone%3Dzone-1"},
		{"controllers", "/controllers"},
		{"rolls", "/rolls"},
		{"holds", "/holds"},
		{"audit", "/audit"},
		{"entity-rc", "/entity/replication_controllers/hello-v1"},
		{"entity-node", "/entity/nodes/" + nodeName(*benchNodes/2)},
	} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", p.path, rec.Code, rec.Body)
				}
			}
		})
	}
}
