// Package retention keeps p2kit's etcd keyspace bounded: it deletes audit
// records beyond an age and a count, and status records whose resource is
// gone once a grace period has passed, in small guarded transactions, in
// one controller at a time under an etcd lock. It also reports plainly when
// etcd raises its NOSPACE alarm.
package retention
