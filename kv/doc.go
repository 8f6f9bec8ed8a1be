// Package kv is the generic core every p2kit entity is built on: a typed
// store over one etcd key prefix, and a watch that turns etcd's history into
// batches of typed create, mutate and delete events with read-only views of
// the state before and after each batch.
//
// Entity packages (intent, rc, daemonset, ...) are thin layers over Store;
// the failsafe package wraps the Source a watch returns.
package kv
