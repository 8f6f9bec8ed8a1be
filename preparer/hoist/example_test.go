package hoist_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/p2kit/p2kit/manifest"
	"github.com/p2kit/p2kit/preparer/hoist"
)

func Example() {
	tmp, err := os.MkdirTemp("", "hoist-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)

	// A tiny artifact: one executable entry point.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	launch := "#!/bin/sh\necho hello\n"
	tw.WriteHeader(&tar.Header{Name: "bin/launch", Mode: 0o755, Size: int64(len(launch)), Typeflag: tar.TypeReg})
	tw.Write([]byte(launch))
	tw.Close()
	zw.Close()
	artifact := filepath.Join(tmp, "hello_1.tar.gz")
	if err := os.WriteFile(artifact, buf.Bytes(), 0o644); err != nil {
		panic(err)
	}
	sum := sha256.Sum256(buf.Bytes())

	m := &manifest.Manifest{
		ID: "hello",
		Launchables: map[string]manifest.Launchable{"app": {
			LaunchableType: manifest.LaunchableTypeHoist,
			Location:       "file://" + artifact,
			Digest:         "sha256:" + hex.EncodeToString(sum[:]),
		}},
		Config: map[string]any{"port": 8080},
	}

	podRoot := filepath.Join(tmp, "pods")
	in := hoist.New(podRoot)
	inst, err := in.Install(context.Background(), m)
	if err != nil {
		panic(err)
	}
	entry := filepath.Join(inst.Launchables["app"], m.Launchables["app"].EntryPointsOrDefault()[0])
	rel, _ := filepath.Rel(podRoot, entry)
	// The manifest digest depends on the artifact's temporary path; print it as <digest>.
	fmt.Println(strings.Replace(rel, inst.Digest, "<digest>", 1))
	config, _ := os.ReadFile(inst.ConfigPath)
	fmt.Print(string(config))
	// Output:
	// hello/installs/<digest>/app/bin/launch
	// {
	//   "port": 8080
	// }
}
