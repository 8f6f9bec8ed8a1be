// Package farm runs a level-triggered reconciler over every entity of one
// kind, sharing the entities among any number of farm processes through
// etcd locks: one lock per entity, held with the process's lease, so that
// exactly one process acts on an entity and another takes over when the
// lease expires.
//
// Write a farm with For (the entity watch, its failsafe guards, the fleet
// view mapped to entity ids) and a typed Reconciler returning a Result;
// run several in one process with a Manager. Every write a reconciler
// makes carries the entity's Fence (FenceFrom), so that a process that
// lost its lock cannot write: farmtest.TestFencing checks it. The daemon
// set, RC, roll and pod cluster farms are built this way, and so can
// yours.
package farm
