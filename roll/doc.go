// Package roll stores rolling updates at /p2/rolls/<id>: move replicas from
// an old RC to a new one, step by step. A roll is refused unless both RCs
// exist, differ and belong to no other roll, checked in the create's own
// transaction.
//
// Its Farm drives every roll, keeping minimum_replicas pods healthy at each
// step and recording progress in a status record; a deleted roll halts and
// leaves both RCs as they are.
package roll
