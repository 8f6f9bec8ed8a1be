package podcluster_test

import (
	"fmt"

	"github.com/p2kit/p2kit/podcluster"
)

func Example() {
	pc := podcluster.PodCluster{
		ID:                  "hello-use1a-web",
		PodID:               "hello",
		AvailabilityZone:    "us-east-1a",
		Name:                "web",
		PodSelector:         "app=hello,tier in (web)",
		Annotations:         map[string]any{"load_balancer": "internal"},
		MinHealthPercentage: 75,
	}
	fmt.Println(pc.Validate())

	pc.PodSelector = ""
	pc.AvailabilityZone = "US-EAST-1A"
	fmt.Println(pc.Validate())
	// Output:
	// <nil>
	// availability_zone: invalid id "US-EAST-1A": character 'U' at offset 0; ids use a-z, 0-9, '.', '_' and '-'
	// pod_selector: required
}
