package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/p2kit/p2kit/manifest"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// keygenCommand is "keygen --out DIR": a new ed25519 signing key pair.
func (a *app) keygenCommand() *cobra.Command {
	var dir, name string
	cmd := &cobra.Command{
		Use:   "keygen --out DIR",
		Short: "Make an ed25519 key pair for signing manifests: DIR/p2.key (private) and DIR/p2.pub",
		Long: "keygen writes a new signing key (PEM, PKCS #8, mode 0600) and its public key (PEM).\n" +
			"Copy the .pub file into every preparer's --trusted-keys directory; keep the .key file secret.\n" +
			"An existing key is never overwritten.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if dir == "" {
				return errors.New("keygen: --out: required")
			}
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			privPEM, err := manifest.MarshalPrivateKey(priv)
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			pubPEM, err := manifest.MarshalPublicKey(pub)
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			keyFile, pubFile := filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
			if err := writeNew(keyFile, privPEM, 0o600); err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			if err := writeNew(pubFile, pubPEM, 0o644); err != nil {
				_ = os.Remove(keyFile)
				return fmt.Errorf("keygen: %w", err)
			}
			out := struct {
				KeyID      string `json:"key_id"`
				PrivateKey string `json:"private_key"`
				PublicKey  string `json:"public_key"`
			}{manifest.KeyID(pub), keyFile, pubFile}
			if a.structured() {
				return a.printValue(out)
			}
			_, err = fmt.Fprintf(a.stdout, "key %s: private %s, public %s\n", out.KeyID, keyFile, pubFile)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "out", "", "directory to write the key pair to (created if missing)")
	cmd.Flags().StringVar(&name, "name", "p2", "base name of the key files")
	return cmd
}

// signCommand is "sign -k KEY -f MANIFEST": the manifest with its
// signature set.
func (a *app) signCommand() *cobra.Command {
	var keyFile, file, out string
	cmd := &cobra.Command{
		Use:   "sign -k KEY -f MANIFEST",
		Short: "Sign a pod manifest: print it (YAML, or JSON with -o json) with its signature field set",
		Long: "sign signs the manifest's canonical JSON with an ed25519 key from keygen and prints the manifest\n" +
			"with \"signature: ed25519:<key-id>:<base64>\". The signature covers every field but itself, so\n" +
			"any later change makes preparers with --trusted-keys refuse the manifest. -f - reads standard input.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if keyFile == "" || file == "" {
				return errors.New("sign: -k and -f: required")
			}
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("sign: %w", err)
			}
			priv, err := manifest.ParsePrivateKey(keyPEM)
			if err != nil {
				return fmt.Errorf("sign: %s: %w", keyFile, err)
			}
			data, err := a.readFile(file)
			if err != nil {
				return fmt.Errorf("sign: %s: %w", file, err)
			}
			m, err := manifest.Decode(data)
			if err != nil {
				return fmt.Errorf("sign: %s: %w", file, err)
			}
			if err := manifest.Sign(m, priv); err != nil {
				return fmt.Errorf("sign: %w", err)
			}
			signed, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				return fmt.Errorf("sign: %w", err)
			}
			if a.output == formatJSON {
				signed = append(signed, '\n')
			} else if signed, err = yaml.JSONToYAML(signed); err != nil {
				return fmt.Errorf("sign: %w", err)
			}
			if out != "" {
				if err := os.WriteFile(out, signed, 0o644); err != nil {
					return fmt.Errorf("sign: %w", err)
				}
				return nil
			}
			_, err = a.stdout.Write(signed)
			return err
		},
	}
	cmd.Flags().StringVarP(&keyFile, "key", "k", "", "private key file from keygen")
	cmd.Flags().StringVarP(&file, "file", "f", "", "manifest file (YAML or JSON; - for standard input)")
	cmd.Flags().StringVar(&out, "out", "", "write the signed manifest to this file instead of standard output")
	return cmd
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
