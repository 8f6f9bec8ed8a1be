// Package apicheck holds the test that keeps p2kit an SDK: no exported
// identifier of a public package mentions a type from an internal package,
// and no Example imports one, so every Example compiles when copied into a
// user's module.
package apicheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

const module = "github.com/p2kit/p2kit"

func isInternal(path string) bool {
	return strings.HasPrefix(path, module+"/") &&
		(strings.Contains(path, "/internal/") || strings.HasSuffix(path, "/internal"))
}

func TestNoInternalTypeInPublicAPI(t *testing.T) {
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedTypes | packages.NeedFiles,
		Dir:  "../..",
	}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, p := range pkgs {
		for _, e := range p.Errors {
			t.Errorf("load %s: %v", p.PkgPath, e)
		}
		if isInternal(p.PkgPath) || p.Name == "main" || p.Types == nil {
			continue
		}
		problems = append(problems, leaks(p.Types)...)
	}
	sort.Strings(problems)
	for _, pr := range problems {
		t.Error(pr)
	}
	if len(problems) > 0 {
		t.Logf("%d exported identifiers mention internal types", len(problems))
	}
}

// leaks lists the exported identifiers of pkg whose declared type mentions
// a type of an internal package.
func leaks(pkg *types.Package) []string {
	var out []string
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		where := pkg.Path() + "." + name
		if tn, ok := obj.(*types.TypeName); ok {
			if tn.IsAlias() {
				if n := internalIn(types.Unalias(tn.Type()), map[types.Type]bool{}); n != "" {
					out = append(out, where+" is an alias of "+n)
				}
				continue
			}
			named, ok := tn.Type().(*types.Named)
			if !ok {
				continue
			}
			if n := internalIn(named.Underlying(), map[types.Type]bool{}); n != "" {
				out = append(out, where+" mentions "+n)
			}
			for i := 0; i < named.NumMethods(); i++ {
				m := named.Method(i)
				if !m.Exported() {
					continue
				}
				if n := internalIn(m.Type(), map[types.Type]bool{}); n != "" {
					out = append(out, where+"."+m.Name()+" mentions "+n)
				}
			}
			continue
		}
		if n := internalIn(obj.Type(), map[types.Type]bool{}); n != "" {
			out = append(out, where+" mentions "+n)
		}
	}
	return out
}

// internalIn returns the first internal named type reachable from t
// through exported parts, or "".
func internalIn(t types.Type, seen map[types.Type]bool) string {
	if t == nil || seen[t] {
		return ""
	}
	seen[t] = true
	switch t := t.(type) {
	case *types.Alias:
		if o := t.Obj(); o.Pkg() != nil && isInternal(o.Pkg().Path()) {
			return o.Pkg().Path() + "." + o.Name()
		}
		return internalIn(types.Unalias(t), seen)
	case *types.Named:
		if o := t.Obj(); o.Pkg() != nil && isInternal(o.Pkg().Path()) {
			return o.Pkg().Path() + "." + o.Name()
		}
		if args := t.TypeArgs(); args != nil {
			for i := 0; i < args.Len(); i++ {
				if n := internalIn(args.At(i), seen); n != "" {
					return n
				}
			}
		}
		return ""
	case *types.Pointer:
		return internalIn(t.Elem(), seen)
	case *types.Slice:
		return internalIn(t.Elem(), seen)
	case *types.Array:
		return internalIn(t.Elem(), seen)
	case *types.Map:
		if n := internalIn(t.Key(), seen); n != "" {
			return n
		}
		return internalIn(t.Elem(), seen)
	case *types.Chan:
		return internalIn(t.Elem(), seen)
	case *types.Signature:
		if n := internalIn(t.Params(), seen); n != "" {
			return n
		}
		return internalIn(t.Results(), seen)
	case *types.Tuple:
		for i := 0; i < t.Len(); i++ {
			if n := internalIn(t.At(i).Type(), seen); n != "" {
				return n
			}
		}
	case *types.Struct:
		for i := 0; i < t.NumFields(); i++ {
			f := t.Field(i)
			if !f.Exported() && !f.Embedded() {
				continue
			}
			if n := internalIn(f.Type(), seen); n != "" {
				return f.Name() + ": " + n
			}
		}
	case *types.Interface:
		for i := 0; i < t.NumMethods(); i++ {
			m := t.Method(i)
			if !m.Exported() {
				continue
			}
			if n := internalIn(m.Type(), seen); n != "" {
				return m.Name() + ": " + n
			}
		}
		for i := 0; i < t.NumEmbeddeds(); i++ {
			if n := internalIn(t.EmbeddedType(i), seen); n != "" {
				return n
			}
		}
	case *types.TypeParam:
		return internalIn(t.Constraint(), seen)
	}
	return ""
}

// TestExamplesImportNoInternal parses every test file of the public
// packages and fails for a file that declares an Example and imports an
// internal package.
func TestExamplesImportNoInternal(t *testing.T) {
	cfg := &packages.Config{Mode: packages.NeedName | packages.NeedFiles, Dir: "../..", Tests: true}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, p := range pkgs {
		if isInternal(p.PkgPath) {
			continue
		}
		for _, file := range p.GoFiles {
			if !strings.HasSuffix(file, "_test.go") || seen[file] {
				continue
			}
			seen[file] = true
			f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			if !hasExample(f) {
				continue
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if isInternal(path) {
					t.Errorf("%s: an Example file imports %s", file, path)
				}
			}
		}
	}
}

func hasExample(f *ast.File) bool {
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Example") {
			return true
		}
	}
	return false
}
