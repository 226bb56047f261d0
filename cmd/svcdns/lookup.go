package main

import (
	"fmt"
	"slices"
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
		Short: "Print the reply the server sends for NAME and TYPE, without a server",
		Long: "lookup builds the zone as serve would and prints the reply the server sends over TCP\n" +
			"to a query for NAME and TYPE (default SRV) with EDNS: the same rcode, flags and sections.\n" +
			"\n" +
			"A NAME ending in a dot is absolute and asked as given; outside the zone the answer is\n" +
			"REFUSED, as from the server. A NAME without the dot is relative to the origin, as in a\n" +
			"zone file, unless it already ends in an origin served: `_rets._tcp` and\n" +
			"`_rets._tcp.ports.local` both ask _rets._tcp.ports.local., while `example.com` asks\n" +
			"example.com.ports.local. and `example.com.` asks example.com.",
		Example: "  svcdns lookup _rets._tcp\n" +
			"  svcdns lookup _6081._udp TXT\n" +
			"  svcdns lookup --origin ports.home.arpa. _services._dns-sd._udp PTR",
		Args: positional([]string{"NAME"}, "TYPE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			qtype := dns.TypeSRV
			if len(args) == 2 {
				t, ok := dns.StringToType[strings.ToUpper(args[1])]
				if !ok {
					return fmt.Errorf("unknown record type %q (SRV, TXT, PTR, A, SOA, ANY, ...)", args[1])
				}
				qtype = t
			}
			snaps, cfg, err := snapshotFor(cmd, env)
			if err != nil {
				return err
			}
			name, err := queryName(args[0], cfg.AllOrigins())
			if err != nil {
				return err
			}
			h, err := resolver.NewHandlerZones(snaps, cfg.EDNSBufferSize, nil)
			if err != nil {
				return err
			}
			req := new(dns.Msg)
			req.SetQuestion(name, qtype)
			req.SetEdns0(cfg.EDNSBufferSize, do)
			resp := h.Respond(req, true)
			fmt.Fprintln(cmd.OutOrStdout(), resp.String())
			return nil
		},
	}
	config.AddZoneFlags(cmd.Flags())
	cmd.Flags().BoolVar(&do, "dnssec", false, "set the DO bit: with dnssec.enabled the answer carries its signatures")
	return cmd
}

// queryName is the name lookup asks for arg: arg itself when it ends in a
// dot or already ends in one of origins (compared without case), else arg
// under the first origin.
func queryName(arg string, origins []string) (string, error) {
	if arg == "" {
		return "", fmt.Errorf("the name is empty")
	}
	name := arg
	if !dns.IsFqdn(arg) {
		name = arg + "."
		if !slices.ContainsFunc(origins, func(o string) bool { return dns.IsSubDomain(o, strings.ToLower(name)) }) {
			name += origins[0]
		}
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return "", fmt.Errorf("%q is not a domain name", arg)
	}
	return name, nil
}
