// Command etcd is the etcd 3.5 server, built from its Go module so that
// p2kit's tests run against a real etcd 3.5 process. It is a module of
// its own (outside the main module's ./...), which internal/etcdexec builds
// once per machine into the user cache directory; the version is pinned in
// go.mod.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
