package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/svcdns/svcdns/registry"
)

// newRegistryUpdateCmd is `svcdns registry update`.
func newRegistryUpdateCmd() *cobra.Command {
	var (
		o       registry.UpdateOptions
		timeout time.Duration
	)
	// The help shows the real default; when there is no cache directory
	// the flag stays empty and running without --out says why.
	defaultOut, _ := registry.DefaultCachePath()
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Download the official registry into the cache that serve prefers",
		Long: "update fetches the IANA registry (a conditional GET: nothing is downloaded when the\n" +
			"copy at --out is current), checks that it parses and is not drastically smaller than\n" +
			"that copy (--force overrides the size check only), and atomically replaces it.\n" +
			"After any failure the previous file is left as it was.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Path == "" {
				p, err := registry.DefaultCachePath()
				if err != nil {
					return &exitError{1, fmt.Errorf("registry update: no --out given: %w", err)}
				}
				o.Path = p
			}
			if timeout < 0 {
				return &exitError{1, fmt.Errorf("registry update: --timeout %s: must not be negative", timeout)}
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			res, err := registry.Update(ctx, o)
			if err != nil {
				if errors.Is(err, registry.ErrTooSmall) {
					err = fmt.Errorf("%w (--force replaces it anyway)", err)
				}
				return &exitError{1, err}
			}
			out := cmd.OutOrStdout()
			switch {
			case res.NotModified:
				fmt.Fprintf(out, "%s is up to date (304 Not Modified)\n", res.Path)
			case !res.Changed:
				fmt.Fprintf(out, "%s is up to date (same content downloaded): %d records\n", res.Path, res.Records)
			default:
				fmt.Fprintf(out, "updated %s: %d records (was %d)\n", res.Path, res.Records, res.PreviousRecords)
			}
			if res.MetaErr != nil {
				// The registry is in place; only the next update's
				// conditional request is lost.
				fmt.Fprintf(cmd.ErrOrStderr(), "svcdns: warning: %v\n", res.MetaErr)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", registry.DefaultURL, "registry to download (XML or CSV, http or https)")
	f.StringVar(&o.Path, "out", defaultOut, "file to replace")
	f.SetAnnotation("out", docDefault, []string{"~/.cache/svcdns/service-names-port-numbers.xml"})
	f.BoolVar(&o.Force, "force", false, "replace the file even with a drastically smaller registry")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "give up after this long (0: never)")
	return cmd
}
