package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/p2kit/p2kit/manifest"
	yaml "go.yaml.in/yaml/v3"
)

// annotateSignatures adds a comment above every manifest signature in a
// YAML document (pgp_signed, signature): who signed it and whether the
// signed text is the manifest printed beside it. p2ctl holds no trusted
// keys, so it says the signature itself is checked by the preparers.
// Comments do not change what apply reads back.
func annotateSignatures(n *yaml.Node) {
	for _, c := range n.Content {
		annotateSignatures(c)
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "pgp_signed":
			if v.Kind == yaml.ScalarNode {
				k.HeadComment = pgpNote(n, v.Value)
			}
		case "signature":
			if v.Kind == yaml.ScalarNode && strings.HasPrefix(v.Value, "ed25519:") {
				parts := strings.SplitN(v.Value, ":", 3)
				if len(parts) == 3 {
					k.HeadComment = fmt.Sprintf("signed with ed25519 key %s (not verified here: preparers verify against --trusted-keys)", parts[1])
				}
			}
		}
	}
}

// pgpNote describes a PGP clear-signed message kept in the manifest held by
// mapping.
func pgpNote(mapping *yaml.Node, msg string) string {
	block, _ := clearsign.Decode([]byte(msg))
	if block == nil {
		return "pgp_signed is not a PGP clear-signed message"
	}
	signer := "an unnamed key"
	if p, err := packet.Read(block.ArmoredSignature.Body); err == nil {
		if sig, ok := p.(*packet.Signature); ok {
			switch {
			case len(sig.IssuerFingerprint) > 0:
				signer = fmt.Sprintf("key %X", sig.IssuerFingerprint)
			case sig.IssuerKeyId != nil:
				signer = fmt.Sprintf("key %016X", *sig.IssuerKeyId)
			}
			if !sig.CreationTime.IsZero() {
				signer += " at " + sig.CreationTime.UTC().Format("2006-01-02T15:04:05Z")
			}
		}
	}
	match := "the signed text is this manifest"
	if !signedTextMatches(mapping, block.Plaintext) {
		match = "the signed text is NOT this manifest (changed after signing)"
	}
	return fmt.Sprintf("PGP clear-signed by %s; %s; the signature is not verified here: preparers verify it against --trusted-keys", signer, match)
}

// signedTextMatches reports whether the manifest signed in plaintext has the
// digest of the manifest held by mapping (kind and metadata aside).
func signedTextMatches(mapping *yaml.Node, plaintext []byte) bool {
	var fields map[string]any
	if mapping.Decode(&fields) != nil {
		return false
	}
	delete(fields, "kind")
	delete(fields, "metadata")
	js, err := json.Marshal(fields)
	if err != nil {
		return false
	}
	shown, err := manifest.Parse(js)
	if err != nil {
		return false
	}
	signed, err := manifest.Parse(plaintext)
	return err == nil && manifest.SameVersion(shown, signed)
}
