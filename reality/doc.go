// Package reality stores what each node's preparer has installed and
// launched: one pod manifest per node and pod at /p2/reality/<node>/<pod-id>.
// Controllers compare it with intent to see how far a deployment has come.
//
// Manifests read share memory with others read from the same bytes, as in
// intent: treat them as read-only, and Clone one before changing it.
package reality
