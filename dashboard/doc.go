// Package dashboard serves a read-mostly web UI of a p2kit fleet: nodes and
// their pods, controllers, rolls, failsafe holds and the audit log, read
// live from etcd and rendered on the server with assets embedded in the
// binary.
//
// Pages are paged or summarized so that a fleet of ten thousand nodes
// renders quickly, and a small script refreshes the open page when the
// keys under the root prefix change (server-sent events). Writes are off
// unless AllowWrites is given: then a failsafe hold can be released from
// its page, after a confirmation naming what the release delivers, with a
// CSRF token, audited with the user's name.
package dashboard
