package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
)

// csrfField is the form field that carries the CSRF token.
const csrfField = "csrf"

// csrfToken is the token of one action on one thing ("release" of a hold
// id): an HMAC under the process's secret, which another site cannot read
// from the confirmation page nor compute.
func (s *server) csrfToken(action, id string) string {
	m := hmac.New(sha256.New, s.cfg.secret)
	m.Write([]byte(action))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether r carries the token of action on id, and, when
// the browser names the page the form came from, that it is this host.
func (s *server) checkCSRF(r *http.Request, action, id string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	got, err := base64.RawURLEncoding.DecodeString(r.PostFormValue(csrfField))
	if err != nil {
		return false
	}
	want, _ := base64.RawURLEncoding.DecodeString(s.csrfToken(action, id))
	return hmac.Equal(got, want)
}
