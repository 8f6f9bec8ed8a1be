// Package reliability holds p2kit's fault, mass-deletion and soak tests:
// a three-member embedded etcd losing its leader during a roll, members
// stopped under a preparer, a stale member restarted, compaction under
// write load, and each tree wiped by a raw etcd client. The package has
// no code of its own; docs/RELIABILITY.md records what its tests measure.
package reliability
