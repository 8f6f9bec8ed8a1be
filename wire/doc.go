// Package wire holds the JSON helpers the controller entities share: strict
// decoding, required fields, duration strings and selector checks. It keeps
// every entity's wire format decoded and validated the same way.
package wire
