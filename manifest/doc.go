// Package manifest defines the pod manifest (what a pod runs, where its artifacts come from,
// how its health is checked) and decodes it strictly from YAML or JSON, refusing what is wrong.
// Its canonical digest identifies a manifest's version, so intent, reality and controllers can
// tell whether two manifests are the same however they were written.
package manifest
