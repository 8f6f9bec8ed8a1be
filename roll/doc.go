// Package roll stores rolling updates at /p2/rolls/<id>: move replicas from
// an old RC to a new one, step by step. A roll is refused unless both RCs
// exist, differ and belong to no other roll, checked in the create's own
// transaction.
package roll
