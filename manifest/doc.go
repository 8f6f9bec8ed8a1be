// Package manifest defines the pod manifest: what a pod runs, where its artifacts come from and
// how its health is checked, decoded strictly from YAML or JSON and validated before use.
// A manifest's canonical digest identifies its version, so intent, reality and controllers can
// tell whether two manifests describe the same thing regardless of how they were written.
package manifest
