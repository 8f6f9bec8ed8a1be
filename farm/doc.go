// Package farm runs a level-triggered reconciler over every entity of one
// kind, sharing the entities among any number of farm processes through
// etcd locks: one lock per entity, held with the process's lease, so that
// exactly one process acts on an entity and another takes over when the
// lease expires.
//
// Every write a reconciler makes must carry its Fence compare, so that a
// process that lost its lease cannot write (fencing). The daemon set, RC,
// roll and pod cluster farms are built on it, and so can yours.
package farm
