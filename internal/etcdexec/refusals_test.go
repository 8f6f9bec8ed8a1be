package etcdexec

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMissing34 checks what a test gets without Debian's etcd 3.4: a
// failure naming the fix under CI, a skip with the reason elsewhere.
func TestMissing34(t *testing.T) {
	for ci, want := range map[string]string{"true": "fatal", "": "skip"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := &recorder{TB: t}
			func() {
				defer func() { _ = recover() }()
				debian34(r, "/nonexistent/etcd")
			}()
			require.Equal(t, want, r.how)
			require.Contains(t, r.msg, "/nonexistent/etcd is missing")
			require.Contains(t, r.msg, ".ci/run installs with apt-get")
		})
	}
}

func TestUnknownVersion(t *testing.T) {
	r := &recorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		Binary(r, "3.3")
	}()
	require.Equal(t, "fatal", r.how)
	require.Contains(t, r.msg, `unknown etcd version "3.3"`)
}

// recorder records how a test would end instead of ending it.
type recorder struct {
	testing.TB
	how, msg string
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.how, r.msg = "fatal", fmt.Sprintf(format, args...)
	panic(r.how)
}

func (r *recorder) Skipf(format string, args ...any) {
	r.how, r.msg = "skip", fmt.Sprintf(format, args...)
	panic(r.how)
}
