package labels_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2kit/p2kit/etcdtest"
	"github.com/p2kit/p2kit/labels"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// testTimeout bounds every test's calls to etcd.
const testTimeout = 30 * time.Second

// setup starts an embedded etcd and returns a label store over it with the
// default prefix, the raw client, and a context with a deadline.
func setup(t *testing.T) (*labels.Store, *clientv3.Client, context.Context) {
	t.Helper()
	c := etcdtest.New(t)
	cli := c.Client(t)
	return labels.New(cli), cli, testContext(t)
}

// testContext returns a context that ends at the test's deadline.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// idOf returns a valid id of type typ for tests.
func idOf(typ labels.Type, base string) string {
	if typ == labels.Pod {
		return labels.PodID("node1", base)
	}
	return base
}
