// Package daemonset stores daemon sets at /p2/daemon_sets/<id>: a manifest to
// run on every node matching a selector. Every change is audited in the same
// transaction.
package daemonset
