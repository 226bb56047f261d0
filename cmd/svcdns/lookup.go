package main

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"
	"github.com/svcdns/svcdns/config"
	"github.com/svcdns/svcdns/resolver"
)

func newLookupCmd(env []string) *cobra.Command {
	var do bool
	cmd := &cobra.Command{
		Use:   "lookup NAME [TYPE]",
		Short: "Print what the server would answer, from the zone, without a socket",
		Long: "lookup answers NAME (TYPE defaults to SRV) as the server would over TCP. A NAME outside\n" +
			"every origin has the origin appended: `svcdns lookup _rets._tcp` asks _rets._tcp.ports.local.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			qtype := dns.TypeSRV
			if len(args) == 2 {
				t, ok := dns.StringToType[strings.ToUpper(args[1])]
				if !ok {
					return fmt.Errorf("lookup: unknown record type %q", args[1])
				}
				qtype = t
			}
			snaps, cfg, err := snapshotFor(cmd, env)
			if err != nil {
				return err
			}
			name := dns.Fqdn(args[0])
			if _, ok := dns.IsDomainName(name); !ok {
				return fmt.Errorf("lookup: %q is not a domain name", args[0])
			}
			h := resolver.NewHandler(snaps[0], cfg.EDNSBufferSize, nil)
			h.SwapZones(snaps)
			if h.ZoneFor(strings.ToLower(name)) == nil {
				name += snaps[0].Origin()
			}
			req := new(dns.Msg)
			req.SetQuestion(name, qtype)
			req.SetEdns0(cfg.EDNSBufferSize, do)
			resp := h.Respond(req, true)
			fmt.Fprintln(cmd.OutOrStdout(), resp.String())
			return nil
		},
	}
	config.AddFlags(cmd.Flags())
	cmd.Flags().BoolVar(&do, "dnssec", false, "set the DO bit: with dnssec.enabled the answer carries its signatures")
	return cmd
}
