package manifest

import (
	"maps"
	"reflect"
	"slices"
)

// Clone returns a deep copy of m that shares no memory with it, Config included. Config values
// of types other than those encoding/json produces are copied through maps, slices, arrays and
// pointers; structs inside them are copied by value.
func (m *Manifest) Clone() *Manifest {
	if m == nil {
		return nil
	}
	c := *m
	if m.Launchables != nil {
		c.Launchables = make(map[string]Launchable, len(m.Launchables))
		for name, l := range m.Launchables {
			l.EntryPoints = slices.Clone(l.EntryPoints)
			l.Env = maps.Clone(l.Env)
			l.Cgroup = l.Cgroup.clone()
			if l.Version != nil {
				v := *l.Version
				v.Tags = maps.Clone(v.Tags)
				l.Version = &v
			}
			if l.Image != nil {
				img := *l.Image
				l.Image = &img
			}
			l.Entrypoint = slices.Clone(l.Entrypoint)
			l.PostStart = l.PostStart.clone()
			l.PreStop = l.PreStop.clone()
			c.Launchables[name] = l
		}
	}
	if m.Config != nil {
		c.Config = make(map[string]any, len(m.Config))
		for k, v := range m.Config {
			c.Config[k] = cloneValue(v)
		}
	}
	if m.Status != nil {
		s := *m.Status
		c.Status = &s
	}
	if m.ResourceLimits != nil {
		c.ResourceLimits = &ResourceLimits{Cgroup: m.ResourceLimits.Cgroup.clone()}
	}
	if m.ReadOnly != nil {
		r := *m.ReadOnly
		c.ReadOnly = &r
	}
	c.NodeRequirements = maps.Clone(m.NodeRequirements)
	if m.MinHealthPercentage != nil {
		p := *m.MinHealthPercentage
		c.MinHealthPercentage = &p
	}
	return &c
}

// cloneValue deep-copies a config value.
func cloneValue(v any) any {
	switch v := v.(type) {
	case nil, string, bool, float64:
		return v
	case map[string]any:
		c := make(map[string]any, len(v))
		for k, e := range v {
			c[k] = cloneValue(e)
		}
		return c
	case []any:
		if v == nil {
			return v
		}
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = cloneValue(e)
		}
		return c
	}
	return cloneReflect(reflect.ValueOf(v)).Interface()
}

// cloneReflect deep-copies maps (their values, not their keys), slices, arrays, pointers and
// interfaces, and copies anything else by value.
func cloneReflect(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			c.SetMapIndex(it.Key(), cloneReflect(it.Value()))
		}
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(cloneReflect(v.Index(i)))
		}
		return c
	case reflect.Array:
		c := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			c.Index(i).Set(cloneReflect(v.Index(i)))
		}
		return c
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(cloneReflect(v.Elem()))
		return c
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type()).Elem()
		c.Set(cloneReflect(v.Elem()))
		return c
	}
	return v
}

func (c *Cgroup) clone() *Cgroup {
	if c == nil {
		return nil
	}
	d := *c
	d.Memory = cloneValue(c.Memory)
	return &d
}

func (c *DockerCommand) clone() *DockerCommand {
	if c == nil {
		return nil
	}
	d := *c
	d.Exec.Command = slices.Clone(c.Exec.Command)
	return &d
}
