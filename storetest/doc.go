// Package storetest is the conformance suite every p2kit entity store runs
// against embedded etcd: create, get, list, update, conflicts, deletes,
// watches, bad stored values, bad ids and missing fields. Entity packages,
// p2kit's and a user's own, call Run from their tests with a Harness
// describing their store: an entity.Store of the user's kind plugs in
// through Entity, any other store through a Store of its own functions.
package storetest
