package kv

import "testing"

func TestProgressFixed(t *testing.T) {
	for v, want := range map[string]bool{
		"3.4.23": false, "3.4.24": true, "3.4.40": true,
		"3.5.7": false, "3.5.8": true, "3.5.21": true,
		"3.6.0": true, "3.6.0-rc.1": true, "3.7.3": true, "4.0.0": true,
		"3.3.27": false, "": false, "3.4": false, "x.y.z": false,
	} {
		if got := progressFixed(v); got != want {
			t.Errorf("progressFixed(%q) = %v, want %v", v, got, want)
		}
	}
}
