// Package hoist is the reference installer for launchables of type hoist: it fetches a pod's
// tar.gz artifacts, verifies their sha256 digests and unpacks them safely, one directory per
// manifest version, then runs the artifacts' hooks.
// Installs are atomic and per pod, so a crash mid-install leaves nothing a later install would
// mistake for a finished one, and a pod whose install hangs holds up no other pod.
//
// On disk, under the pod root:
//
//	<pod-root>/<pod-id>/installs/<manifest-digest>/<launchable>/   unpacked artifact
//	<pod-root>/<pod-id>/installs/<manifest-digest>/config.json     the manifest's config
//	<pod-root>/<pod-id>/installs/<manifest-digest>/.manifest.json  written last: the install is complete
//	<pod-root>/<pod-id>/current -> installs/<manifest-digest>      the install Install returned last
//	<pod-root>/.cache/<sha256-hex>.tar.gz                           verified artifacts, by digest
//
// Names starting with "." under the pod root, a pod's installs directory or the cache are the
// installer's own (temporary directories among them) and never pods, installs or artifacts.
package hoist
