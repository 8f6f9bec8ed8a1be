// Package audit records every change to a controller entity (daemon set,
// replication controller, roll, pod cluster) and every operator write
// (intent, reality, labels, failsafe releases) at
// /p2/audit/<time-ordered-id>, written in the same transaction as the change
// itself. Records sort by time: List reads them oldest first from any point
// in time, Recent newest first.
package audit
