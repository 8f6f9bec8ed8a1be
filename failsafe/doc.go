// Package failsafe is middleware between a kv watch and the code that acts
// on it: guards wrap a kv.Source and hold any change that looks like an
// empty or partial answer (a wiped prefix, a mass delete, a missing key of
// one's own) until the state recovers or an operator releases the hold.
// Guards stack in any order, record their holds under
// <prefix>/failsafe/holds/, and log and count them.
package failsafe
