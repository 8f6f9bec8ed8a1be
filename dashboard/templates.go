package dashboard

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	"sigs.k8s.io/yaml"
)

//go:embed assets/templates/*.html
var templateFS embed.FS

//go:embed assets/static
var staticFS embed.FS

// templates holds one template per page, each parsed with the layout.
type templates struct {
	pages map[string]*template.Template
}

var pageNames = []string{"fleet", "controllers", "rolls", "holds", "confirm", "audit", "entity"}

func parseTemplates() (*templates, error) {
	t := &templates{pages: map[string]*template.Template{}}
	for _, name := range pageNames {
		p, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS,
			"assets/templates/layout.html", "assets/templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", name, err)
		}
		t.pages[name] = p
	}
	return t, nil
}

func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "assets")
	if err != nil {
		panic(err) // the embedded tree has the directory
	}
	return http.FileServerFS(sub)
}

// render writes the page; a template error is logged and answered 500.
func (s *server) render(w http.ResponseWriter, code int, name string, v *view) {
	var buf bytes.Buffer
	if err := s.tmpl.pages[name].Execute(&buf, v); err != nil {
		s.log.Error("dashboard: render", zap.String("page", name), zap.Error(err))
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

var funcs = template.FuncMap{
	"ago":  ago,
	"when": func(t time.Time) string { return when(t) },
	"pct": func(n, of int) int {
		if of <= 0 {
			return 0
		}
		return min(100, max(0, n*100/of))
	},
	"yaml": func(raw any) string {
		var b []byte
		switch x := raw.(type) {
		case []byte:
			b = x
		case string:
			b = []byte(x)
		}
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			return string(b)
		}
		return string(y)
	},
	"json": func(v any) string {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err.Error()
		}
		return string(b)
	},
	"rawjson": func(raw json.RawMessage) string {
		var out bytes.Buffer
		if err := json.Indent(&out, raw, "", "  "); err != nil {
			return string(raw)
		}
		return out.String()
	},
	"esc":  url.PathEscape,
	"qesc": url.QueryEscape,
	"join": strings.Join,
	"plus": func(a, b int) int { return a + b },
}

// ago says how long before now t was: "4s", "3m12s", "2h5m"; "-" for a
// zero time.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "in " + (-d).Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
