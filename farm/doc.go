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
//
// An entity is reconciled again when it or what it watches changes, and
// every Resync. After a pass it rests for as long as the pass took (at
// most five seconds): the changes that arrive meanwhile make one pass when
// the rest ends. An entity whose pass reads the whole fleet, as a daemon
// set of every node does, thus spends at most half its worker's time
// reconciling, however fast its nodes change.
package farm
