// Package storetest is the conformance suite every p2kit entity store runs
// against embedded etcd: create, get, list, update, conflicts, deletes,
// watches, bad stored values, bad ids and missing fields. Entity packages
// call Run from their tests with a Harness describing their store.
package storetest
