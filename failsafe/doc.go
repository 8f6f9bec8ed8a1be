// Package failsafe is middleware between a kv watch and the code that acts
// on it: guards wrap a kv.Source and hold any change that looks like an
// empty or partial answer (a wiped prefix, a mass delete, a missing key of
// one's own) until the state recovers or an operator releases the hold.
//
// The rules do not depend on the order of the guards nor on the order in
// which keys come back:
//
//   - HoldIf guards over one Holds that wrap one another join into one
//     stage, which judges every batch with all of them against one
//     consumer view and holds while any of them holds.
//   - A hold ends by itself only when no guard holds and the net change
//     from the consumer's view deletes no key: every key deleted while
//     held is back. The consumer receives the net change as one batch.
//   - Any other ending is an operator's release, delivered once, up to the
//     release's revision, with kv.Batch.Released set; later guards pass it
//     unjudged.
//
// Holds are recorded under <prefix>/failsafe/holds/ (ids begin with the
// component), logged and counted; releases are written to
// <prefix>/failsafe/releases/.
package failsafe
