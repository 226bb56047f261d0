package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"
	"github.com/svcdns/svcdns/config"
	"github.com/svcdns/svcdns/zone"
)

func newZoneCmd(env []string) *cobra.Command {
	cmd := &cobra.Command{Use: "zone", Short: "Work with the synthesized zone"}
	var out, origin string
	var unsigned bool
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the zone as an RFC 1035 master file",
		Long: "export writes every record of the zone (apex, SRV, TXT, CNAME, DNS-SD PTRs and browse\n" +
			"domains, and the port names _6081._udp that port_names selects) as a master file that\n" +
			"BIND, Knot and NSD load: the zone a secondary receives by AXFR. With dnssec.enabled the\n" +
			"zone is written fully signed (RRSIGs, and the NSEC or NSEC3 chain of dnssec.denial), as\n" +
			"secondaries need it; --unsigned writes it without signatures.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snaps, _, err := snapshotFor(cmd, env)
			if err != nil {
				return err
			}
			snap := snaps[0]
			if origin != "" {
				i := slices.IndexFunc(snaps, func(s *zone.Snapshot) bool { return s.Origin() == strings.ToLower(dns.Fqdn(origin)) })
				if i < 0 {
					return fmt.Errorf("%q is not an origin served (origin, origins)", origin)
				}
				snap = snaps[i]
			}
			w := cmd.OutOrStdout()
			var f *os.File
			if out != "" && out != "-" {
				if f, err = os.Create(out); err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriter(w)
			write := snap.WriteMasterFile
			if snap.Signer() != nil && !unsigned {
				write = snap.WriteSignedMasterFile
			}
			if err := write(bw); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			if f != nil {
				return f.Close()
			}
			return nil
		},
	}
	config.AddZoneFlags(export.Flags())
	export.Flags().StringVarP(&out, "output", "o", "-", "file to write (- for standard output)")
	export.Flags().BoolVar(&unsigned, "unsigned", false, "with dnssec.enabled, write the zone without signatures")
	export.Flags().StringVar(&origin, "zone", "", "which origin's zone to write, when several are served (default: origin)")
	cmd.AddCommand(export)
	return cmd
}
