// Package keyspace holds what every p2kit entity store shares about keys: the
// root prefix and logger options, and name checks that require valid ids.
// Entity packages re-export the options; a store of your own uses them too.
package keyspace
