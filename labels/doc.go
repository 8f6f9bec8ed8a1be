// Package labels stores label sets for nodes, pods and controllers under
// /p2/labels/<type>/<id> and answers "which ids of a type match a selector",
// with selectors in Kubernetes syntax (env=prod,tier in (web,api)).
// A controller that acts on label watches must stack failsafe.NotEmpty on the
// watch, so an empty label tree where labels existed is held, not read as
// "no node matches".
package labels
