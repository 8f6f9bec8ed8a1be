package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/p2kit/p2kit/internal/authz"
	"github.com/spf13/cobra"
)

func (a *app) authCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Set up etcd authentication for a fleet",
	}
	cmd.AddCommand(a.authBootstrapCommand())
	return cmd
}

// bootstrapUser is one line of "auth bootstrap" output.
type bootstrapUser struct {
	User     string `json:"user"`
	Created  bool   `json:"created"`
	Password string `json:"password,omitempty"`
}

// authBootstrapCommand is "auth bootstrap --nodes n1,n2".
func (a *app) authBootstrapCommand() *cobra.Command {
	var nodes []string
	var passwordFile, out string
	cmd := &cobra.Command{
		Use:   "bootstrap --nodes n1,n2,...",
		Short: "Create the etcd roles and users of the fleet and enable authentication",
		Long: "bootstrap creates a user preparer-<node> per node, which may read intent/<node>/, read and write\n" +
			"reality/<node>/ and status/pods/<node>/, and read and write failsafe/ (its holds); the user\n" +
			"p2-controller, which may read and write the whole prefix; and, while authentication is off, the\n" +
			"user root. Then it enables authentication.\n\n" +
			"Re-running it adds missing nodes; existing users keep their passwords. Once authentication is on,\n" +
			"run it as root (--etcd-user root). New users get random passwords, or those of --password-file\n" +
			"(lines user:password). The passwords are shown once, or written to --out (mode 0600).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(nodes) == 0 {
				return errors.New("auth bootstrap: --nodes: required")
			}
			var given map[string]string
			if passwordFile != "" {
				var err error
				if given, err = readPasswords(passwordFile, nodes); err != nil {
					return fmt.Errorf("auth bootstrap: --password-file %s: %w", passwordFile, err)
				}
			}
			var outFile *os.File
			if out != "" {
				// Made before anything changes, so a bad path costs nothing.
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("auth bootstrap: --out: %w", err)
				}
				outFile = f
				defer outFile.Close()
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				if authz.IsRefusal(err) {
					// etcd 3.6 refuses even the dial's status request of a
					// client that is no user once authentication is on.
					return fmt.Errorf("auth bootstrap: %w: etcd said %q", authz.ErrAuthEnabled, innermost(err).Error())
				}
				return err
			}
			created, berr := authz.Bootstrap(ctx, cli, a.prefix, nodes, authz.WithPasswords(given))
			// Users made before a failure have passwords too: show them.
			var rows []bootstrapUser
			for _, u := range bootstrapUsers(nodes) {
				pw, ok := created[u]
				if ok || berr == nil {
					rows = append(rows, bootstrapUser{User: u, Created: ok, Password: pw})
				}
			}
			if berr != nil && len(rows) == 0 {
				if outFile != nil {
					_ = outFile.Close()
					_ = os.Remove(out)
				}
				return berr
			}
			if err := a.printBootstrap(rows, outFile, out); err != nil {
				return errors.Join(berr, err)
			}
			return berr
		},
	}
	cmd.Flags().StringSliceVar(&nodes, "nodes", nil, "comma-separated node names, one preparer user each")
	cmd.Flags().StringVar(&passwordFile, "password-file", "", "file of user:password lines for the users created (others get random passwords)")
	cmd.Flags().StringVar(&out, "out", "", "write the new passwords to this file (user:password lines, mode 0600; must not exist) instead of showing them")
	return cmd
}

// bootstrapUsers lists the users bootstrap makes for nodes, root last.
func bootstrapUsers(nodes []string) []string {
	users := []string{authz.ControllerUser}
	for _, n := range nodes {
		users = append(users, authz.PreparerUser(n))
	}
	slices.Sort(users)
	users = slices.Compact(users)
	return append(users, authz.RootUser)
}

// printBootstrap shows the users and their new passwords, or writes the
// passwords to outFile and shows only the users.
func (a *app) printBootstrap(rows []bootstrapUser, outFile *os.File, out string) error {
	if outFile != nil && !slices.ContainsFunc(rows, func(r bootstrapUser) bool { return r.Created }) {
		// Nothing new: no password file.
		_ = outFile.Close()
		_ = os.Remove(out)
		outFile = nil
	}
	if outFile != nil {
		var buf bytes.Buffer
		for i, r := range rows {
			if r.Created {
				fmt.Fprintf(&buf, "%s:%s\n", r.User, r.Password)
			}
			rows[i].Password = ""
		}
		if _, err := outFile.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("--out %s: %w", out, err)
		}
		if err := outFile.Close(); err != nil {
			return fmt.Errorf("--out %s: %w", out, err)
		}
	}
	if a.structured() {
		return a.printValue(rows)
	}
	table := make([][]string, 0, len(rows))
	for _, r := range rows {
		pw := r.Password
		switch {
		case !r.Created:
			pw = "(exists, unchanged)"
		case outFile != nil:
			pw = "(in " + out + ")"
		}
		table = append(table, []string{r.User, pw})
	}
	return printTable(a.stdout, []string{"USER", "PASSWORD"}, table)
}

// readPasswords reads user:password lines (blank lines and # comments
// skipped) for the users bootstrap makes for nodes.
func readPasswords(path string, nodes []string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var perr *os.PathError
		if errors.As(err, &perr) {
			return nil, perr.Err
		}
		return nil, err
	}
	known := map[string]bool{}
	for _, u := range bootstrapUsers(nodes) {
		known[u] = true
	}
	pw := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, password, ok := strings.Cut(line, ":")
		switch {
		case !ok || user == "" || password == "":
			return nil, fmt.Errorf("line %d: want user:password", n)
		case !known[user]:
			return nil, fmt.Errorf("line %d: %q is none of the users bootstrap makes (%s)", n, user,
				strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		case pw[user] != "":
			return nil, fmt.Errorf("line %d: %s again", n, user)
		}
		pw[user] = password
	}
	return pw, sc.Err()
}

// innermost is the error at the end of err's chain: etcd's own words.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
