// Package intent stores what should run on each node: one pod manifest per
// node and pod at /p2/intent/<node>/<pod-id>. Controllers write it (one
// manifest onto many nodes at a time) and each node's preparer watches its own
// part of it.
//
// Manifests read share their maps, slices and pointers with other manifests
// read from the same bytes in the process (one decoded copy of a daemon set's
// manifest, however many nodes run it): treat them as read-only, and Clone
// one before changing it.
package intent
