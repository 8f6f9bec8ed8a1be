// Package entity is the one implementation of the controller entity stores
// (daemon sets, replication controllers, rolls, pod clusters): a kv.Store
// whose every create, update and delete writes an audit record in the same
// transaction. Entity packages only supply their type, its validation and
// their particular rules through a Spec.
package entity
