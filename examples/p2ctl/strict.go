package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// strictGroups makes every command that only groups subcommands ("rc",
// "failsafe", "labels", ...) fail on an unknown subcommand or a stray
// argument, with one line naming the nearest subcommand, instead of
// printing help and exiting 0: scripts must not take a typo for success.
// Without arguments such a command prints its help.
func strictGroups(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		strictGroups(c)
	}
	if !cmd.HasSubCommands() || cmd.Run != nil || cmd.RunE != nil || !cmd.HasParent() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return fmt.Errorf("%s: unknown command %q%s: want one of %s", commandName(c), args[0],
			didYouMean(args[0], names), strings.Join(names, ", "))
	}
}

// commandName is a command's path without "p2ctl": "failsafe release".
func commandName(c *cobra.Command) string {
	return strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), c.Root().Name()), " ")
}

// cobraUsageErrors start the messages of cobra's and pflag's argument and
// flag checks, which do not name the command.
var cobraUsageErrors = []string{"accepts ", "requires ", "unknown flag", "unknown shorthand flag", "flag needs",
	"invalid argument", "required flag", "if any flags", "bad flag"}

// nameCommand prefixes a usage error of cobra's with the command it is
// about: "get rc: accepts 1 arg(s), received 0".
func nameCommand(c *cobra.Command, err error) error {
	if c == nil || !c.HasParent() {
		return err
	}
	for _, p := range cobraUsageErrors {
		if strings.HasPrefix(err.Error(), p) {
			return fmt.Errorf("%s: %w", commandName(c), err)
		}
	}
	return err
}
