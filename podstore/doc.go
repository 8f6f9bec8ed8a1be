// Package podstore is the one implementation behind intent and reality: pod
// manifests stored per node at <root>/<dir>/<node>/<pod-id>. It validates
// every manifest on write and read, and writes one manifest onto many nodes
// in chunked, guarded transactions.
//
// Manifests read share their maps, slices and pointers with other manifests
// read from the same bytes in the process (one decoded copy of a daemon set's
// manifest, however many nodes run it): treat them as read-only, and Clone
// one before changing it.
package podstore
