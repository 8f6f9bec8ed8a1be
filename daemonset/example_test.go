package daemonset_test

import (
	"encoding/json"
	"fmt"

	"github.com/p2kit/p2kit/daemonset"
	"github.com/p2kit/p2kit/storetest"
)

func Example() {
	data := `{
	  "id": "edge-proxy",
	  "pod_id": "hello",
	  "manifest": ` + storetest.ManifestJSON("hello") + `,
	  "node_selector": "role=edge",
	  "disabled": false,
	  "min_health": 2,
	  "timeout": "5m",
	  "rate_limit_interval": "10s"
	}`
	var ds daemonset.DaemonSet
	if err := json.Unmarshal([]byte(data), &ds); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ds.ID, ds.Timeout, ds.RateLimitInterval, ds.Validate())

	ds.PodID = "other"
	fmt.Println(ds.Validate())
	// Output:
	// edge-proxy 5m0s 10s <nil>
	// pod_id: "other" does not match manifest id "hello"
}
