package main

import (
	"fmt"
	"net/url"
)

// artifactRegistry parses --artifact-registry: empty, or an http or https
// URL with a host.
func artifactRegistry(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--artifact-registry %q: want an http or https URL such as https://artifacts.example.com", s)
	}
	return u, nil
}

// redacted shows a registry URL in logs without its password.
type redactedURL struct{ u *url.URL }

func redacted(u *url.URL) fmt.Stringer { return redactedURL{u} }

func (r redactedURL) String() string {
	if r.u == nil {
		return ""
	}
	return r.u.Redacted()
}
