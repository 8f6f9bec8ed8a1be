package manifest_test

import (
	"fmt"

	"github.com/p2kit/p2kit/manifest"
)

func Example() {
	asYAML := []byte(`
id: hello
launchables:
  app:
    launchable_type: hoist
    location: file:///srv/artifacts/hello_1.tar.gz
    digest: sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
config: {port: 8080}
`)
	// The same manifest as JSON, keys in another order, with the default restart policy written out.
	asJSON := []byte(`{
  "config": {"port": 8080},
  "launchables": {"app": {
    "digest": "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    "location": "file:///srv/artifacts/hello_1.tar.gz",
    "launchable_type": "hoist",
    "restart_policy": "always"
  }},
  "id": "hello"
}`)

	fromYAML, err := manifest.Decode(asYAML)
	if err != nil {
		fmt.Println(err)
		return
	}
	fromJSON, err := manifest.Decode(asJSON)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("id:", fromYAML.ID)
	fmt.Println("entry points:", fromYAML.Launchables["app"].EntryPointsOrDefault())
	yamlDigest, _ := fromYAML.Digest()
	jsonDigest, _ := fromJSON.Digest()
	fmt.Println("same digest:", yamlDigest == jsonDigest)
	fmt.Println("same version:", manifest.SameVersion(fromYAML, fromJSON))

	_, err = manifest.Decode([]byte("id: hello\nlaunchables:\n  app:\n    location: ftp://host/a.tar.gz\n"))
	fmt.Println(err)
	// Output:
	// id: hello
	// entry points: [bin/launch]
	// same digest: true
	// same version: true
	// launchables.app.launchable_type: required
	// launchables.app.location: unsupported scheme "ftp"
}

func ExampleValidateID() {
	for _, id := range []string{"web1", "Web1", "web1/x"} {
		fmt.Println(manifest.ValidateID(id))
	}
	// Output:
	// <nil>
	// invalid id "Web1": character 'W' at offset 0; ids use a-z, 0-9, '.', '_' and '-'
	// invalid id "web1/x": character '/' at offset 4; ids use a-z, 0-9, '.', '_' and '-'
}
