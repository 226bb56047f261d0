package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/svcdns/svcdns/config"
)

// usageError is a command line that cannot run as written: an unknown
// command or flag, a missing or extra argument. run prints it with the
// command's usage line and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// noArgs is the Args of every command that takes no arguments. For a
// command with sub-commands the argument is a mistyped sub-command, and
// cobra's suggestions name the one meant.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasAvailableSubCommands() {
		msg := fmt.Sprintf("unknown command %q", args[0])
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", s[0])
		}
		return &usageError{msg}
	}
	return usagef("takes no arguments; got %q", strings.Join(args, " "))
}

// positional checks a command's arguments against the names of its
// required and optional ones, so that the error says which is missing.
func positional(required []string, optional ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < len(required) {
			return usagef("missing %s", strings.Join(required[len(args):], " "))
		}
		if max := len(required) + len(optional); len(args) > max {
			return usagef("unexpected argument %q", strings.Join(args[max:], " "))
		}
		return nil
	}
}

// unknownFlag matches pflag's "unknown flag: --lisen" and "unknown
// shorthand flag: 'x' in -x".
var unknownFlag = regexp.MustCompile(`^unknown (?:shorthand )?flag: (?:'.' in )?-{1,2}([^=\s]+)`)

// flagError turns pflag's parse errors into usage errors and, for an
// unknown flag, says which flag was meant: the nearest of the command's
// own, or the commands that have a flag of exactly that name.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	m := unknownFlag.FindStringSubmatch(msg)
	if m == nil {
		return &usageError{msg}
	}
	name := m[1]
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	s := config.Closest(name, names)
	if s == "" && len(name) > 1 {
		// --metrics for --metrics-listen: a prefix of exactly one flag.
		var prefixed []string
		for _, n := range names {
			if strings.HasPrefix(n, name) {
				prefixed = append(prefixed, n)
			}
		}
		if len(prefixed) == 1 {
			s = prefixed[0]
		}
	}
	if s != "" {
		return usagef("%s; did you mean --%s?", msg, s)
	}
	if len(name) > 1 {
		// The root's flags are serve's; name serve only.
		var owners []string
		walk(cmd.Root(), func(c *cobra.Command) {
			if c != cmd && c.HasParent() && c.IsAvailableCommand() && c.LocalNonPersistentFlags().Lookup(name) != nil {
				owners = append(owners, c.CommandPath())
			}
		})
		if len(owners) > 0 {
			return usagef("%s; --%s is a flag of %s", msg, name, strings.Join(owners, ", "))
		}
	}
	return &usageError{msg}
}

// usageLines is the usage printed after a usage error: the command's own
// line, and for a command with sub-commands how to name one.
func usageLines(cmd *cobra.Command) string {
	var lines []string
	if cmd.Runnable() && (!cmd.HasAvailableSubCommands() || !cmd.HasParent()) {
		lines = append(lines, cmd.UseLine())
	}
	if cmd.HasAvailableSubCommands() {
		lines = append(lines, cmd.CommandPath()+" COMMAND [flags]")
	}
	return "Usage: " + strings.Join(lines, "\n       ")
}

// walk calls fn on cmd and every command below it.
func walk(cmd *cobra.Command, fn func(*cobra.Command)) {
	fn(cmd)
	for _, c := range cmd.Commands() {
		walk(c, fn)
	}
}

// finishTree sets what every command of the tree shares: flag errors with
// suggestions, and, on the commands that only group others (zone,
// registry, completion), help when run bare and "did you mean" for a
// mistyped sub-command, where cobra would print help and exit 0.
func finishTree(root *cobra.Command) {
	root.SetHelpCommand(newHelpCmd())
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.SetFlagErrorFunc(flagError)
	walk(root, func(c *cobra.Command) {
		c.SuggestionsMinimumDistance = 2
		if c.HasSubCommands() && !c.Runnable() {
			c.Args = noArgs
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
	})
}

// newHelpCmd is `svcdns help [COMMAND]`. cobra's own prints the root's help
// for a topic it does not know and exits 0; this one says which command
// was meant, as a mistyped command does.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return noArgs(target, rest)
			}
			target.InitDefaultHelpFlag() // as cobra's help does: its help lists --help
			return target.Help()
		},
	}
}
