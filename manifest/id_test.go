package manifest

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"single letter", "a", true},
		{"single digit", "7", true},
		{"two characters", "a1", true},
		{"dots dashes underscores inside", "web-1.prod_a", true},
		{"all digits", "0123", true},
		{"longest", "a" + strings.Repeat("b", 251) + "c", true},
		{"one too long", "a" + strings.Repeat("b", 252) + "c", false},
		{"empty", "", false},
		{"uppercase", "Web1", false},
		{"uppercase inside", "webA1", false},
		{"leading dash", "-web1", false},
		{"trailing dash", "web1-", false},
		{"leading dot", ".web1", false},
		{"trailing dot", "web1.", false},
		{"leading underscore", "_web1", false},
		{"lone dash", "-", false},
		{"slash", "web1/x", false},
		{"space", "web 1", false},
		{"colon", "web:1", false},
		{"unicode", "wéb1", false},
		{"unicode digit", "web١", false},
		{"nul", "web\x001", false},
		{"invalid utf-8", "web\xff", false},
		{"newline", "web1\n", false},
	}
	re := regexp.MustCompile(IDPattern)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.ok, re.MatchString(tt.id), "table disagrees with IDPattern")
			err := ValidateID(tt.id)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidID)
			if len(tt.id) <= 2*MaxIDLength {
				assert.Contains(t, err.Error(), strconv.Quote(tt.id), "the error names the id")
			}
		})
	}
}

func TestValidateIDMessages(t *testing.T) {
	assert.EqualError(t, ValidateID("Web1"),
		`invalid id "Web1": character 'W' at offset 0; ids use a-z, 0-9, '.', '_' and '-'`)
	assert.EqualError(t, ValidateID("web1."), `invalid id "web1.": must start and end with a lowercase letter or digit`)
	assert.EqualError(t, ValidateID(""), `invalid id "": empty`)

	huge := strings.Repeat("a", 1<<20)
	err := ValidateID(huge)
	require.ErrorIs(t, err, ErrInvalidID)
	assert.Less(t, len(err.Error()), 1024, "a huge id must not make a huge error")
}
