// Command svcdns is an authoritative DNS server for the IANA Service Name
// and Transport Protocol Port Number Registry. `svcdns` alone serves the
// embedded registry on 127.0.0.1:1053; see `svcdns help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code: 0, 1 for a
// command that failed, 2 for a command line that cannot run as written.
// Every error is said once, as "svcdns COMMAND: what went wrong"; tests
// call run.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) int {
	root := newRoot(env)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), unstutter(cmd, err.Error()))
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s\nRun '%s --help' for more.\n", usageLines(cmd), cmd.CommandPath())
		return 2
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// unstutter drops the words of the command that an error repeats at its
// start: "svcdns registry update: registry: update: GET ..." says
// "svcdns registry update: GET ...".
func unstutter(cmd *cobra.Command, msg string) string {
	words := strings.Fields(cmd.CommandPath())[1:]
	for _, w := range words {
		rest, ok := strings.CutPrefix(msg, w+": ")
		if !ok {
			break
		}
		msg = rest
	}
	return msg
}

func newRoot(env []string) *cobra.Command {
	serve := newServeCmd(env)
	root := &cobra.Command{
		Use:   "svcdns",
		Short: "Authoritative DNS for the IANA service name and port number registry",
		Long: "svcdns answers DNS queries such as `dig SRV _geneve._udp.ports.local` from the IANA\n" +
			"Service Name and Transport Protocol Port Number Registry (RFC 6335).\n" +
			"Without a sub-command it runs `serve`.\n" +
			"\n" +
			"Settings come from flags, then SVCDNS_* environment variables (ttl.srv is\n" +
			"SVCDNS_TTL_SRV), then the file named by --config or SVCDNS_CONFIG (YAML, TOML or\n" +
			"JSON), then defaults; config/example.yaml in the source lists every key.\n" +
			"\n" +
			"Exit status: 0 on success, 1 when a command fails, 2 for a command line that cannot\n" +
			"run as written (unknown command or flag, missing or extra argument).",
		Example: "  svcdns                                   # serve the embedded registry on 127.0.0.1:1053\n" +
			"  svcdns --listen 127.0.0.1:1054 --registry service-names-port-numbers.xml\n" +
			"  svcdns lookup _rets._tcp",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          serve.RunE,
	}
	root.Flags().AddFlagSet(serve.Flags())
	root.AddCommand(serve, newLookupCmd(env), newZoneCmd(env), newRegistryCmd(), newTLSCmd(env), newDNSSECCmd(env), newVersionCmd(), newDocsCmd())
	finishTree(root)
	return root
}
