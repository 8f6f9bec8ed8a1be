// Package roll stores rolling updates at /p2/rolls/<id>: move replicas from
// an old RC to a new one, step by step. A roll is refused unless both RCs
// exist, differ and belong to no other roll, checked in the create's own
// transaction.
//
// Its Farm drives every roll, keeping minimum_replicas pods healthy at each
// step and recording its phase and progress in a status record. A roll that
// is done or failed is deleted by the farm in the same transaction as its
// final record, so it never blocks the next roll of its RCs; a paused roll
// takes no step; a deleted or aborted roll halts and leaves both RCs as
// they are. Check says why a roll could not make progress.
package roll
