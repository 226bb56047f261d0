package config_test

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/svcdns/svcdns/config"
)

// Moving the origin moves the names derived from it; the flag wins over the
// environment.
func ExampleLoad() {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.AddFlags(fs)
	_ = fs.Parse([]string{"--origin", "Ports.Home.Arpa"})
	env := []string{"SVCDNS_ORIGIN=ignored.example.", "SVCDNS_TTL_SRV=300"}

	c, err := config.Load("", env, fs)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Origin, c.NameServers[0].Name, c.Target.Name, c.SOA.RName)
	fmt.Println(c.TTL.Default, c.TTL.SRV)
	// Output:
	// ports.home.arpa. ns1.ports.home.arpa. svc.ports.home.arpa. hostmaster.ports.home.arpa.
	// 3600 300
}

// Every problem is reported at once, each naming its source, key and value.
func ExampleLoad_errors() {
	env := []string{"SVCDNS_LISTEN=127.0.0.1:99999", "SVCDNS_LOG_LEVEL=loud"}
	_, err := config.Load("", env, nil)
	fmt.Println(err)
	// Output:
	// config: SVCDNS_LISTEN: listen[0] "127.0.0.1:99999": port out of range
	// config: SVCDNS_LOG_LEVEL: log_level "loud": must be one of debug, info, warn, error
}
