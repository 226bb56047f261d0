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
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code; tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	root := newRoot(env)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "svcdns:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

func newRoot(env []string) *cobra.Command {
	serve := newServeCmd(env)
	root := &cobra.Command{
		Use:   "svcdns",
		Short: "Authoritative DNS for the IANA service name and port number registry",
		Long: "svcdns answers DNS queries such as `dig SRV _geneve._udp.ports.local` from the IANA\n" +
			"Service Name and Transport Protocol Port Number Registry (RFC 6335).\n" +
			"Without a sub-command it runs `serve`.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          serve.RunE,
	}
	root.Flags().AddFlagSet(serve.Flags())
	root.AddCommand(serve, newLookupCmd(env), newZoneCmd(env), newRegistryCmd(), newTLSCmd(env), newDNSSECCmd(env), newVersionCmd())
	return root
}
