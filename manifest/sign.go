package manifest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// A manifest signature is "ed25519:<key-id>:<base64 signature>": an ed25519 signature over the
// manifest's CanonicalJSON, which leaves the signature out, so signing never changes the digest.
// The key id (KeyID) names the public key that verifies it.
const signatureScheme = "ed25519"

// The reasons Verify refuses a manifest; test them with errors.Is.
var (
	// ErrUnsigned: the manifest has no signature.
	ErrUnsigned = errors.New("unsigned")
	// ErrUnknownKey: the manifest is signed by a key that is not among the trusted ones.
	ErrUnknownKey = errors.New("signed by an untrusted key")
	// ErrBadSignature: the signature is malformed or does not match the manifest, which was
	// changed after it was signed or was never signed by that key.
	ErrBadSignature = errors.New("signature does not verify (changed after signing, or forged)")
)

// KeyID names a public key in signatures: the first 8 bytes of the SHA-256 of the key, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Sign sets m.Signature to an ed25519 signature by priv over m's CanonicalJSON, replacing any
// signature m had. It changes m: sign a Clone of a manifest read from a store.
func Sign(m *Manifest, priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("sign manifest: private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	data, err := m.CanonicalJSON()
	if err != nil {
		return fmt.Errorf("sign manifest: %w", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	m.Signature = signatureScheme + ":" + KeyID(pub) + ":" + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, data))
	return nil
}

// Verify checks that m is signed by one of keys and unchanged since. The error wraps
// ErrUnsigned, ErrUnknownKey or ErrBadSignature and names the manifest and the key id.
func Verify(m *Manifest, keys []ed25519.PublicKey) error {
	if m == nil {
		return errors.New("verify manifest: nil manifest")
	}
	if m.Signature == "" {
		return fmt.Errorf("manifest %s: %w", m.ID, ErrUnsigned)
	}
	scheme, rest, _ := strings.Cut(m.Signature, ":")
	id, b64, ok := strings.Cut(rest, ":")
	if scheme != signatureScheme || !ok || id == "" {
		return fmt.Errorf("manifest %s: %w: malformed, want %q", m.ID, ErrBadSignature, "ed25519:<key-id>:<base64 signature>")
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("manifest %s, key %s: %w: malformed, want %d bytes in base64", m.ID, id, ErrBadSignature, ed25519.SignatureSize)
	}
	var pub ed25519.PublicKey
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && KeyID(k) == id {
			pub = k
			break
		}
	}
	if pub == nil {
		return fmt.Errorf("manifest %s, key %s: %w", m.ID, id, ErrUnknownKey)
	}
	data, err := m.CanonicalJSON()
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, data, sig) {
		return fmt.Errorf("manifest %s, key %s: %w", m.ID, id, ErrBadSignature)
	}
	return nil
}

// MarshalPrivateKey encodes a signing key as PEM ("PRIVATE KEY", PKCS #8), the form
// `openssl genpkey -algorithm ed25519` writes.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey encodes a verifying key as PEM ("PUBLIC KEY", PKIX), the form
// `openssl pkey -pubout` writes.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes a PEM ed25519 private key written by MarshalPrivateKey or openssl.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	der, err := pemBlock(data, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key: %T is not an ed25519 key", k)
	}
	return priv, nil
}

// ParsePublicKey decodes a PEM ed25519 public key written by MarshalPublicKey or openssl.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	der, err := pemBlock(data, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key: %T is not an ed25519 key", k)
	}
	return pub, nil
}

func pemBlock(data []byte, typ string) ([]byte, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s: no PEM block", strings.ToLower(typ))
	}
	if b.Type != typ {
		return nil, fmt.Errorf("%s: PEM block is %q", strings.ToLower(typ), b.Type)
	}
	return b.Bytes, nil
}
