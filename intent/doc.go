// Package intent stores what should run on each node: one pod manifest per
// node and pod at /p2/intent/<node>/<pod-id>. Controllers write it (one
// manifest onto many nodes at a time) and each node's preparer watches its own
// part of it.
package intent
