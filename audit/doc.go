// Package audit records every change to an entity of any kind (daemon
// set, replication controller, roll, pod cluster, a user's own kind) and
// every operator write (intent, reality, labels, failsafe releases) at
// /p2/audit/<time-ordered-id>, written in the same transaction as the change
// itself. Records sort by time: List reads them oldest first from any point
// in time, Recent newest first. Each entity package names its own kind
// (rc.Kind); any valid id is a kind (ValidateKind).
package audit
