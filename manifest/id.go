package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// IDPattern is the regular expression every node, pod, launchable and controller id matches.
const IDPattern = `^[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?$`

// MaxIDLength is the length of the longest id IDPattern allows.
const MaxIDLength = 253

// ErrInvalidID is wrapped by every error ValidateID returns.
var ErrInvalidID = errors.New("invalid id")

// ValidateID reports whether id matches IDPattern: lowercase ASCII letters, digits, '.', '_'
// and '-', starting and ending with a letter or digit, at most MaxIDLength bytes. The error
// wraps ErrInvalidID, quotes the id and says what is wrong with it. Ids are never rewritten to
// make them fit.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w %q: empty", ErrInvalidID, id)
	}
	if len(id) > MaxIDLength {
		return fmt.Errorf("%w %s: %d bytes long, the limit is %d", ErrInvalidID, quoteID(id), len(id), MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if !isIDByte(id[i]) {
			r, _ := utf8.DecodeRuneInString(id[i:])
			return fmt.Errorf("%w %q: character %q at offset %d; ids use a-z, 0-9, '.', '_' and '-'",
				ErrInvalidID, id, r, i)
		}
	}
	if !isAlnum(id[0]) || !isAlnum(id[len(id)-1]) {
		return fmt.Errorf("%w %q: must start and end with a lowercase letter or digit", ErrInvalidID, id)
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}

func isIDByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '-'
}

// quoteID quotes an overlong id for an error message, cutting it so that a huge input does not
// make a huge error.
func quoteID(id string) string {
	const keep = 2 * MaxIDLength
	if len(id) <= keep {
		return strconv.Quote(id)
	}
	return strconv.Quote(id[:keep]) + "..."
}
