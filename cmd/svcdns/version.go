package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"
// (README: Install; the Dockerfile's VERSION).
var version = ""

// versionString is the version -ldflags set; else the module version Go
// recorded (go install ...@v1.2.3, or a build in a clone); else "(devel)"
// and the commit, when the build recorded one.
func versionString() string {
	bi, _ := debug.ReadBuildInfo()
	return formatVersion(version, bi)
}

func formatVersion(stamped string, bi *debug.BuildInfo) string {
	v := stamped
	if v == "" {
		v = "(devel)"
		if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		} else if bi != nil {
			var rev, modified string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value
				}
			}
			if len(rev) >= 12 {
				v += " " + rev[:12]
				if modified == "true" {
					v += "-dirty"
				}
			}
		}
	}
	return fmt.Sprintf("svcdns %s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return nil
		},
	}
}
