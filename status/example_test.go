package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/p2kit/p2kit/status"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func Example() {
	cli := clientv3.NewCtxClient(context.Background()) // use clientv3.New for a real cluster
	store := status.NewPodStatusStore(cli)
	key, _ := store.Key("web1", "hello")
	fmt.Println(key)

	rec := status.PodStatus{
		Status:         status.Launched,
		ManifestDigest: strings.Repeat("ab", 32),
		Processes:      []status.Process{{Launchable: "app", EntryPoint: "bin/launch", PID: 4242}},
		Health:         status.Passing,
		UpdatedAt:      time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
	}
	fmt.Println(rec.Validate())
	b, _ := json.Marshal(rec.Processes)
	fmt.Println(string(b))

	rec.Health = ""
	fmt.Println(rec.Validate())
	// Output:
	// /p2/status/pods/web1/hello/preparer
	// <nil>
	// [{"launchable":"app","entry_point":"bin/launch","pid":4242,"restarts":0}]
	// health: required
}
