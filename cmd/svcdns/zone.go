package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/svcdns/svcdns/config"
)

func newZoneCmd(env []string) *cobra.Command {
	cmd := &cobra.Command{Use: "zone", Short: "Work with the synthesized zone"}
	var out string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the zone as an RFC 1035 master file",
		Long: "export writes every record of the zone (apex, SRV, TXT, CNAME, DNS-SD PTRs and browse\n" +
			"domains, and the port names _6081._udp that port_names selects) as a master file that\n" +
			"BIND, Knot and NSD load: the zone a secondary receives by AXFR.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, _, err := snapshotFor(cmd, env)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var f *os.File
			if out != "" && out != "-" {
				if f, err = os.Create(out); err != nil {
					return fmt.Errorf("zone export: %w", err)
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriter(w)
			if err := snap.WriteMasterFile(bw); err != nil {
				return fmt.Errorf("zone export: %w", err)
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("zone export: %w", err)
			}
			if f != nil {
				return f.Close()
			}
			return nil
		},
	}
	config.AddFlags(export.Flags())
	export.Flags().StringVarP(&out, "output", "o", "-", "file to write (- for standard output)")
	cmd.AddCommand(export)
	return cmd
}
