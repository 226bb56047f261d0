// Command querygen writes the benchmark query mix (internal/querymix) for
// a registry file as a dnsperf query file.
//
//	go run ./bench/querygen -registry FILE -n 100000 > queries.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/svcdns/svcdns/internal/querymix"
	"github.com/svcdns/svcdns/registry"
)

func main() {
	path := flag.String("registry", "", "registry file (default: the embedded excerpt)")
	origin := flag.String("origin", "ports.local.", "zone origin")
	n := flag.Int("n", 100000, "number of queries")
	seed := flag.Uint64("seed", 1, "random seed (same seed, same mix)")
	flag.Parse()
	var reg *registry.Registry
	var err error
	if *path == "" {
		reg, err = registry.Default()
	} else {
		reg, err = registry.ParseFile(*path)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "querygen:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	// Format leaves out the names dnsperf cannot be given.
	w.WriteString(querymix.Format(querymix.Generate(reg, *origin, *n, *seed)))
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "querygen:", err)
		os.Exit(1)
	}
}
