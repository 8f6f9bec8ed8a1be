// Package kv is the generic core every p2kit entity is built on: a typed
// store over one etcd key prefix, and a watch that turns etcd's history into
// batches of typed create, mutate and delete events with read-only views of
// the state before and after each batch.
//
// Entity packages (intent, rc, daemonset, ...) are thin layers over Store;
// the failsafe package wraps the Source a watch returns.
//
// Previous values: the watch does not ask etcd for them (no WithPrevKV).
// The watcher's state holds the last value of every key, so a Mutate's Old
// and a Delete's last known value come from there; etcd then sends each
// change once instead of twice and reads no older revision to fill it in.
// A program that watches etcd itself, with no state of its own, and needs
// a deleted key's value is the one case that must still ask for it.
//
// Start revision: the watch starts from the revision of the listing (or
// the last revision applied, when it resumes), not the one after, and
// drops that revision's events, which the listing already holds. etcd
// answers a stream's progress request only when no watch on the stream
// starts beyond its current revision; started from "listing + 1", a watch
// on an etcd nobody writes to would leave the stall probe of its stream
// unanswered, and the stream would be restarted every stall timeout.
package kv
