package podstore_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/podstore"
	"github.com/p2kit/p2kit/storetest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The one conformance run of the store behind intent and reality, here
// under a directory of its own as a user's per-node store would be.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness[manifest.Manifest]{
		Open: func(t *testing.T, cli *clientv3.Client, root string) storetest.Store[manifest.Manifest] {
			return storetest.PodTree(podstore.New(cli, "staged", keyspace.WithPrefix(root)))
		},
		Key: func(root, id string) string { return root + "/staged/" + id },
		ID:  func(i int) string { return fmt.Sprintf("web1/pod-%d", i) },
		Valid: func(id string) *manifest.Manifest {
			_, pod, _ := strings.Cut(id, "/")
			return storetest.Manifest(pod)
		},
		Mutate:       storetest.MutateManifest,
		InvalidIDs:   []string{"web1/Bad", "Web1/pod", "web1", "web1/pod/x", "web1/-x"},
		MissingJSON:  func(id string) string { return `{"id": "pod-0"}` },
		MissingField: "launchables",
	})
}
