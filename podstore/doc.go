// Package podstore is the one implementation behind intent and reality: pod
// manifests stored per node at <root>/<dir>/<node>/<pod-id>. It validates
// every manifest on write and read, and writes one manifest onto many nodes
// in chunked, guarded transactions.
package podstore
