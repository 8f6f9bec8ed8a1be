package embedded

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The member runs with the settings docs/OPERATIONS.md asks for: a quota
// and periodic compaction of its history.
func TestOperationsSettings(t *testing.T) {
	s, err := Start(t.TempDir(), nil)
	require.NoError(t, err)
	defer s.Close()
	cfg := s.etcd.Config()
	require.EqualValues(t, 8<<30, cfg.QuotaBackendBytes)
	require.Equal(t, "periodic", cfg.AutoCompactionMode)
	require.Equal(t, "1h0m0s", cfg.AutoCompactionRetention)
}
