package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// procMemory is the process's resident memory from /proc/self/status:
// VmRSS now and VmHWM, the highest VmRSS since the process began. Both are
// 0 where /proc is absent (not Linux).
type procMemory struct {
	RSS, HWM uint64 // bytes
}

// readProcMemory reads /proc/self/status.
func readProcMemory() procMemory {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return procMemory{}
	}
	return parseProcStatus(b)
}

// parseProcStatus reads the VmRSS and VmHWM lines ("VmRSS:  1234 kB") of
// a /proc/<pid>/status file.
func parseProcStatus(b []byte) procMemory {
	var m procMemory
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			continue
		}
		if kb, err := strconv.ParseUint(string(f[0]), 10, 64); err == nil {
			*dst = kb << 10
		}
	}
	return m
}
