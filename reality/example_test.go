package reality_test

import (
	"context"
	"fmt"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/reality"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The preparer records what it installed; the manifest is validated before
// anything is written.
const helloYAML = `
id: hello
launchables:
  app:
    launchable_type: hoist
    location: https://artifacts.example.com/hello_1.tar.gz
    digest: sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
`

func Example() {
	cli := clientv3.NewCtxClient(context.Background()) // use clientv3.New for a real cluster
	store := reality.NewStore(cli, keyspace.WithPrefix("/staging"))

	key, _ := store.Key("web1", "hello")
	fmt.Println(key)

	m, err := manifest.Decode([]byte(helloYAML))
	if err != nil {
		fmt.Println(err)
		return
	}
	m.TerminationGracePeriod = -1
	_, err = store.SetOp("web1", m)
	fmt.Println(err)
	// Output:
	// /staging/reality/web1/hello
	// /staging/reality/web1/hello: termination_grace_period: want 0 or more seconds, got -1
}
