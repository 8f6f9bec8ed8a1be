package podcluster_test

import (
	"context"
	"fmt"
	"os"

	"github.com/p2kit/p2kit/podcluster"
)

// ExampleFileSyncer writes one JSON file per cluster, members sorted.
func ExampleFileSyncer() {
	dir, err := os.MkdirTemp("", "pc-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	s, err := podcluster.ParseSyncer("file:" + dir)
	if err != nil {
		panic(err)
	}
	pc := &podcluster.PodCluster{ID: "hello-web", PodID: "hello", AvailabilityZone: "az1", Name: "web",
		PodSelector: "app=hello", Annotations: map[string]any{"port": 8080}}
	err = s.SyncCluster(context.Background(), pc, []podcluster.Member{
		{Node: "web2", PodID: "hello", Healthy: false},
		{Node: "web1", PodID: "hello", Healthy: true},
	})
	if err != nil {
		panic(err)
	}
	b, _ := os.ReadFile(podcluster.NewFileSyncer(dir).Path("hello-web"))
	fmt.Print(string(b))
	fmt.Println(s.DeleteCluster(context.Background(), "hello-web"))
	// Output:
	// {
	//   "id": "hello-web",
	//   "pod_id": "hello",
	//   "availability_zone": "az1",
	//   "name": "web",
	//   "annotations": {
	//     "port": 8080
	//   },
	//   "members": [
	//     {
	//       "node": "web1",
	//       "pod_id": "hello",
	//       "healthy": true
	//     },
	//     {
	//       "node": "web2",
	//       "pod_id": "hello",
	//       "healthy": false
	//     }
	//   ]
	// }
	// <nil>
}
