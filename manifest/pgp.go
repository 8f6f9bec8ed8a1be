package manifest

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// ErrPGPSignature is wrapped by VerifyPGP's error for a manifest that is not clear-signed, whose
// signature does not verify against the trusted keys, or whose signed text is not the manifest.
var ErrPGPSignature = errors.New("PGP signature not verified")

var clearsignHeader = []byte("-----BEGIN PGP SIGNED MESSAGE-----")

// isClearSigned reports whether data is a PGP clear-signed message, as P2's signed manifests
// are.
func isClearSigned(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), clearsignHeader)
}

// parseClearSigned decodes the manifest signed in a PGP clear-signed message and keeps the
// whole message in PGPSigned, so that it can be verified later (see VerifyPGP).
func parseClearSigned(data []byte) (*Manifest, error) {
	block, rest := clearsign.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: malformed PGP clear-signed message", ErrInvalid)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data after the PGP signature", ErrInvalid)
	}
	if isClearSigned(block.Plaintext) {
		return nil, fmt.Errorf("%w: PGP clear-signed message inside another", ErrInvalid)
	}
	m, err := Parse(block.Plaintext)
	if err != nil {
		return nil, err
	}
	if m.PGPSigned != "" || m.Signature != "" {
		return nil, fmt.Errorf("%w: a PGP clear-signed manifest holds pgp_signed or signature", ErrInvalid)
	}
	m.PGPSigned = string(bytes.TrimLeft(data, " \t\r\n"))
	return m, nil
}

// VerifyPGP checks that m was clear-signed (see Decode) by one of the keys of keyring, and that
// the signed text is m: a manifest whose fields were changed after signing is refused even
// though its signature is good. The error wraps ErrPGPSignature.
func VerifyPGP(m *Manifest, keyring openpgp.KeyRing) error {
	if m == nil || m.PGPSigned == "" {
		return fmt.Errorf("%w: manifest is not PGP clear-signed", ErrPGPSignature)
	}
	block, _ := clearsign.Decode([]byte(m.PGPSigned))
	if block == nil {
		return fmt.Errorf("%w: pgp_signed is not a PGP clear-signed message", ErrPGPSignature)
	}
	if _, err := block.VerifySignature(keyring, nil); err != nil {
		return fmt.Errorf("%w: %w", ErrPGPSignature, err)
	}
	signed, err := Parse(block.Plaintext)
	if err != nil {
		return fmt.Errorf("%w: signed text: %w", ErrPGPSignature, err)
	}
	if !SameVersion(signed, m) {
		return fmt.Errorf("%w: the signed text is not this manifest (changed after signing)", ErrPGPSignature)
	}
	return nil
}

// ReadPGPKeys reads armored OpenPGP public keys ("-----BEGIN PGP PUBLIC KEY BLOCK-----"), one
// or more, as `gpg --export --armor` writes them.
func ReadPGPKeys(armored []byte) (openpgp.EntityList, error) {
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("PGP public keys: %w", err)
	}
	return keys, nil
}
