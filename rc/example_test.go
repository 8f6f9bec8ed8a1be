package rc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/storetest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A missing replicas_desired is an error, never zero replicas.
func Example() {
	m := storetest.ManifestJSON("hello")
	var r rc.RC
	err := json.Unmarshal([]byte(`{"id":"hello-v1","manifest":`+m+`,"node_selector":"env=prod"}`), &r)
	fmt.Println(err)

	err = json.Unmarshal([]byte(`{"id":"hello-v1","manifest":`+m+`,"node_selector":"env=prod","replicas_desired":3}`), &r)
	fmt.Println(err, r.ReplicasDesired, r.Validate())

	r.NodeSelector = "env in (prod"
	fmt.Println(r.Validate() != nil)
	// Output:
	// replicas_desired: required
	// <nil> 3 <nil>
	// true
}

// Using the store against a cluster: create, scale with compare-and-swap,
// watch, and delete once scaled down. Every write is audited under the
// actor's name. (Not run: it needs etcd at 127.0.0.1:2379.)
func Example_store() {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:2379"}, DialTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	store := rc.NewStore(cli)

	m, err := manifest.Decode([]byte("id: hello\nlaunchables:\n  app:\n    launchable_type: hoist\n" +
		"    location: https://artifacts.example.com/hello_1.tar.gz\n" +
		"    digest: sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\n"))
	if err != nil {
		log.Fatal(err)
	}
	obj, err := store.Create(ctx, "alice", &rc.RC{ID: "hello-v1", Manifest: *m, NodeSelector: "env=prod", ReplicasDesired: 3})
	if err != nil {
		log.Fatal(err) // kv.ErrExists when the id is taken
	}

	next := obj.Value
	next.ReplicasDesired = 5
	if _, err := store.Update(ctx, "alice", obj, &next); errors.Is(err, kv.ErrConflict) {
		log.Print("changed since read; read again") // or use Modify / Scale, which retry
	}

	w := store.Watch(ctx)
	defer w.Close()
	batch, err := w.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, ev := range batch.Events {
		if ev.Err != nil {
			log.Printf("bad stored RC %s: %v", ev.Key, ev.Err) // never read as a delete
			continue
		}
		log.Printf("%s %s: %d replicas", ev.Type, ev.Name, ev.New.Value.ReplicasDesired)
	}

	if err := store.Delete(ctx, "alice", "hello-v1"); errors.Is(err, rc.ErrNotScaledDown) {
		_, _ = store.Scale(ctx, "alice", "hello-v1", 0)
		_ = store.Delete(ctx, "alice", "hello-v1")
	}
}
