package manifest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCloneIsDeep(t *testing.T) {
	orig := mustDecode(t, helloYAML)
	orig.Config["typed"] = map[string][]int{"a": {1, 2}}
	orig.Config["ptr"] = new(7)
	want := mustDecode(t, helloYAML)
	want.Config["typed"] = map[string][]int{"a": {1, 2}}
	want.Config["ptr"] = new(7)

	c := orig.Clone()
	assert.Equal(t, orig, c)

	app := c.Launchables["app"]
	app.EntryPoints[0] = "bin/other"
	app.Env["GREETING"] = "bye"
	c.Launchables["app"] = app
	c.Launchables["new"] = app
	c.Config["tags"].([]any)[0] = "changed"
	c.Config["nested"].(map[string]any)["a"] = false
	c.Config["typed"].(map[string][]int)["a"][0] = 9
	*c.Config["ptr"].(*int) = 8
	c.Status.Port = 1
	*c.MinHealthPercentage = 1

	assert.Equal(t, want, orig, "changing the clone changed the original")
}

func TestCloneKeepsNil(t *testing.T) {
	var m *Manifest
	assert.Nil(t, m.Clone())
	c := validManifest().Clone()
	assert.Nil(t, c.Config)
	assert.Nil(t, c.Status)
	assert.Nil(t, c.MinHealthPercentage)
	assert.Nil(t, c.Launchables["app"].EntryPoints)
	assert.Nil(t, c.Launchables["app"].Env)
}
