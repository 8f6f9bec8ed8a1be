// Package rc stores replication controllers at /p2/replication_controllers/<id>:
// a manifest, a node selector and how many nodes should run it. Every change
// is audited, and an RC that still has replicas is never deleted by accident.
package rc
