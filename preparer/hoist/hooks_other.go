//go:build !unix

package hoist

import "os/exec"

func ownProcessGroup(*exec.Cmd) {}

func isTextBusy(error) bool { return false }
