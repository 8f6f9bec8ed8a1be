package intent_test

import (
	"context"
	"fmt"

	"github.com/p2kit/p2kit/intent"
	"github.com/p2kit/p2kit/manifest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A controller builds the writes of one manifest onto many nodes and adds
// them to its own transactions (or calls Schedule, which chunks them).
// Keys and validation need no connection.
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
	store := intent.NewStore(cli)

	key, _ := store.Key("web1", "hello")
	fmt.Println(key)

	m, err := manifest.Decode([]byte(helloYAML))
	if err != nil {
		fmt.Println(err)
		return
	}
	ops, err := store.ScheduleOps([]string{"web1", "web2", "web3"}, m)
	fmt.Println(len(ops), err)

	_, err = store.ScheduleOps([]string{"web1", "Web2"}, m)
	fmt.Println(err)
	// Output:
	// /p2/intent/web1/hello
	// 3 <nil>
	// key "Web2/hello" under /p2/intent/: invalid name: node: invalid id "Web2": character 'W' at offset 0; ids use a-z, 0-9, '.', '_' and '-'
}
