// Package rc stores replication controllers at /p2/replication_controllers/<id>:
// a manifest, a node selector and how many nodes should run it. Every change
// is audited, and an RC that still has replicas is never deleted by accident.
//
// Its Farm keeps every RC's pods scheduled: it writes intent and pod labels
// (IDLabel names the RC) in fenced transactions, and a deleted RC's pods
// always stay where they run.
package rc
