package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// writeFile writes content to name in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// parsedFlags returns a flag set with AddFlags' flags, parsed from args.
func parsedFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func mustLoad(t *testing.T, path string, env []string, flags *pflag.FlagSet) Config {
	t.Helper()
	c, err := Load(path, env, flags)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestDefault(t *testing.T) {
	d := Default()
	want := Config{
		Listen:         []string{"127.0.0.1:1053"},
		Origin:         "ports.local.",
		RegistryURL:    "https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.xml",
		TTL:            TTLs{Default: 3600, SOA: 3600, NS: 3600, Address: 3600, SRV: 3600, TXT: 3600, PTR: 3600, CNAME: 3600},
		SOA:            SOA{MName: "ns1.ports.local.", RName: "hostmaster.ports.local.", Refresh: 3600, Retry: 600, Expire: 604800, Minimum: 300},
		NameServers:    []Host{{Name: "ns1.ports.local.", Addresses: []string{"127.0.0.1"}}},
		Target:         Host{Name: "svc.ports.local.", Addresses: []string{"127.0.0.1"}},
		EDNSBufferSize: 1232,
		MetricsListen:  "",
		LogLevel:       "info",
		LogFormat:      "text",
		PortNames:      "all",
		Transfer:       Transfer{AllowNetworks: []string{"127.0.0.0/8", "::1/128"}, Journal: Journal{MaxSize: 32 << 20, MaxAge: 2592000}},
		RRL: RRL{Rate: 200, NoDataRate: 200, NXDomainRate: 200, ErrorRate: 200, Window: 5, Slip: 2,
			IPv4Prefix: 24, IPv6Prefix: 56, TableSize: 1 << 18},
		Cookies: Cookies{Enabled: true},
		TCP:     TCP{MaxConnections: 1000, MaxPerSource: 100, IdleTimeout: 10},
		TLS:     TLS{MinVersion: "1.2", HandshakeTimeout: 5, MaxConnections: 1000, MaxPerSource: 100, IdleTimeout: 10},
		HTTPS:   Encrypted{MaxConnections: 1000, MaxPerSource: 100, IdleTimeout: 30, MaxStreams: 100},
		QUIC:    Encrypted{MaxConnections: 1000, MaxPerSource: 100, IdleTimeout: 30, MaxStreams: 100},
		DNSSEC: DNSSEC{Algorithm: "ecdsap256sha256", Keys: "csk", Validity: 1209600, Refresh: 604800,
			InceptionOffset: 3600, DNSKEYTTL: 3600, SignatureCache: 100000, Denial: "nsec"},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", d, want)
	}
	for _, tc := range []struct {
		name  string
		env   []string
		flags *pflag.FlagSet
	}{
		{"nil env and flags", nil, nil},
		{"unrelated env", []string{"HOME=/root", "SVCDNS_SHARED=/x", "SVCDNS_CONFIG=/etc/svcdns.yaml", "NOEQUALS"}, nil},
		{"unchanged flags", nil, parsedFlags(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustLoad(t, "", tc.env, tc.flags); !reflect.DeepEqual(got, d) {
				t.Errorf("Load = %+v\nwant Default() %+v", got, d)
			}
		})
	}
	again := Default()
	if err := again.Validate(); err != nil || !reflect.DeepEqual(again, d) {
		t.Errorf("Validate(Default()) = %v, changed: %v", err, !reflect.DeepEqual(again, d))
	}
}

// TestFileFormats loads one configuration written in each format and expects
// the same Config.
func TestFileFormats(t *testing.T) {
	want := Default()
	want.Listen = []string{"127.0.0.1:53", "[::1]:53"}
	want.Origin = "ports.example."
	want.Registry = "/var/lib/svcdns/service-names-port-numbers.csv"
	want.TTL = TTLs{Default: 600, SOA: 600, NS: 86400, Address: 600, SRV: 300, TXT: 600, PTR: 600, CNAME: 600}
	// MName follows the first name server; RName was written as a mailbox.
	want.SOA = SOA{MName: "ns1.ports.example.", RName: "dns.example.", Refresh: 7200, Retry: 600, Expire: 604800, Minimum: 60}
	want.NameServers = []Host{
		{Name: "ns1.ports.example.", Addresses: []string{"192.0.2.1", "2001:db8::1"}},
		{Name: "a.ns.example."},
	}
	want.Target = Host{Name: "svc.ports.example.", Addresses: []string{"192.0.2.2"}}
	want.Services = map[string][]ServiceTarget{
		"rets/tcp": {
			{Host: "rets1.example.net.", Priority: 10, Weight: 60},
			{Host: "rets2.ports.example.", Priority: 20, Weight: 40, Port: 6104, Addresses: []string{"192.0.2.3"}},
		},
	}
	want.EDNSBufferSize = 1400
	want.MetricsListen = ""
	want.LogLevel = "debug"
	want.LogFormat = "json"
	want.QueryLog = true
	want.Transfer = Transfer{
		AllowNetworks: []string{"192.0.2.0/24"},
		TSIGKeys:      []TSIGKey{{Name: "xfr.ports.example.", Algorithm: "hmac-sha512", Secret: "c2VjcmV0"}},
		Notify:        []string{"192.0.2.53:53", "192.0.2.54:5353"},
		Journal:       Journal{MaxSize: 32 << 20, MaxAge: 2592000},
	}

	files := map[string]string{
		"svcdns.yaml": `
listen: ["127.0.0.1:53", "[::1]:53"]
origin: Ports.Example
registry: /var/lib/svcdns/service-names-port-numbers.csv
ttl: {default: 600, ns: 86400, srv: 300}
soa: {rname: dns@example, refresh: 7200, minimum: 60}
name_servers:
  - name: NS1.ports.example.
    addresses: [192.0.2.1, "2001:DB8::1"]
  - name: a.ns.example
target:
  addresses: [192.0.2.2]
services:
  RETS/TCP:
    - {host: rets1.example.net, priority: 10, weight: 60}
    - {host: rets2.ports.example., priority: 20, weight: 40, port: 6104, addresses: [192.0.2.3]}
edns_buffer_size: 1400
metrics_listen: ""
log_level: DEBUG
log_format: json
query_log: true
transfer:
  allow_networks: [192.0.2.0/24]
  tsig_keys:
    - {name: xfr.ports.example, algorithm: HMAC-SHA512., secret: c2VjcmV0}
  notify: [192.0.2.53, "192.0.2.54:5353"]
`,
		"svcdns.toml": `
listen = ["127.0.0.1:53", "[::1]:53"]
origin = "Ports.Example"
registry = "/var/lib/svcdns/service-names-port-numbers.csv"
edns_buffer_size = 1400
metrics_listen = ""
log_level = "DEBUG"
log_format = "json"
query_log = true

[ttl]
default = 600
ns = 86400
srv = 300

[soa]
rname = "dns@example"
refresh = 7200
minimum = 60

[[name_servers]]
name = "NS1.ports.example."
addresses = ["192.0.2.1", "2001:DB8::1"]

[[name_servers]]
name = "a.ns.example"

[target]
addresses = ["192.0.2.2"]

[[services."RETS/TCP"]]
host = "rets1.example.net"
priority = 10
weight = 60

[[services."RETS/TCP"]]
host = "rets2.ports.example."
priority = 20
weight = 40
port = 6104
addresses = ["192.0.2.3"]

[transfer]
allow_networks = ["192.0.2.0/24"]
notify = ["192.0.2.53", "192.0.2.54:5353"]

[[transfer.tsig_keys]]
name = "xfr.ports.example"
algorithm = "HMAC-SHA512."
secret = "c2VjcmV0"
`,
		"svcdns.json": `{
  "listen": ["127.0.0.1:53", "[::1]:53"],
  "origin": "Ports.Example",
  "registry": "/var/lib/svcdns/service-names-port-numbers.csv",
  "ttl": {"default": 600, "ns": 86400, "srv": 300},
  "soa": {"rname": "dns@example", "refresh": 7200, "minimum": 60},
  "name_servers": [
    {"name": "NS1.ports.example.", "addresses": ["192.0.2.1", "2001:DB8::1"]},
    {"name": "a.ns.example"}
  ],
  "target": {"addresses": ["192.0.2.2"]},
  "services": {
    "RETS/TCP": [
      {"host": "rets1.example.net", "priority": 10, "weight": 60},
      {"host": "rets2.ports.example.", "priority": 20, "weight": 40, "port": 6104, "addresses": ["192.0.2.3"]}
    ]
  },
  "edns_buffer_size": 1400,
  "metrics_listen": "",
  "log_level": "DEBUG",
  "log_format": "json",
  "query_log": true,
  "transfer": {
    "allow_networks": ["192.0.2.0/24"],
    "tsig_keys": [{"name": "xfr.ports.example", "algorithm": "HMAC-SHA512.", "secret": "c2VjcmV0"}],
    "notify": ["192.0.2.53", "192.0.2.54:5353"]
  }
}`,
	}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			got := mustLoad(t, writeFile(t, name, content), nil, nil)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		is                  error
		want                string
	}{
		{"missing file", "absent.yaml", "", fs.ErrNotExist, "absent.yaml"},
		{"unsupported extension", "svcdns.ini", "origin = x", nil, `unsupported file type ".ini"`},
		{"no extension", "svcdns", "origin: x", nil, "unsupported file type"},
		// A file that does not parse is reported in svcdns's words: file,
		// line (and column where known), what is wrong, the line itself.
		{"yaml syntax", "svcdns.yaml", "origin: [x", nil, `svcdns.yaml:1: not valid YAML: did not find expected ',' or ']' (line 1 is "origin: [x")`},
		{"yaml indentation", "svcdns.yaml", "listen:\n  - 127.0.0.1:1053\norigin: ports.local.\n  ttl: 5\n", nil,
			`svcdns.yaml:4: not valid YAML: mapping values are not allowed in this context (line 4 is "  ttl: 5")`},
		{"yaml tab", "svcdns.yaml", "origin:\n\t- x\n", nil, `svcdns.yaml:2: not valid YAML: found character that cannot start any token (line 2 is "\t- x"); YAML indents with spaces, not tabs`},
		{"toml syntax", "svcdns.toml", "origin = \"x\nlisten = 3\n", nil, `svcdns.toml:1:12: not valid TOML: basic strings cannot have new lines (line 1 is "origin = \"x")`},
		{"json syntax", "svcdns.json", "{\n \"origin\": }", nil, `svcdns.json:2:12: not valid JSON: invalid character '}' looking for beginning of value (line 2 is " \"origin\": }")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if tc.content != "" {
				path = writeFile(t, tc.file, tc.content)
			}
			_, err := Load(path, nil, nil)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "While parsing") {
				t.Errorf("error %q speaks the config library's words", err)
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	file := `
origin: file.example.
listen: [127.0.0.1:1001]
ttl: {default: 100, srv: 10}
metrics_listen: 127.0.0.1:9001
services:
  a/tcp: [{host: a.file.example.}]
  b/tcp: [{host: b.file.example.}]
`
	for _, tc := range []struct {
		name     string
		file     bool
		env      []string
		args     []string
		check    func(Config) any
		want     any
		notFound bool
	}{
		{"file beats default", true, nil, nil, func(c Config) any { return c.Origin }, "file.example.", false},
		{"env beats file", true, []string{"SVCDNS_ORIGIN=env.example"}, nil, func(c Config) any { return c.Origin }, "env.example.", false},
		{"flag beats env and file", true, []string{"SVCDNS_ORIGIN=env.example"}, []string{"--origin=flag.example"}, func(c Config) any { return c.Origin }, "flag.example.", false},
		{"flag beats env", false, []string{"SVCDNS_ORIGIN=env.example"}, []string{"--origin=flag.example"}, func(c Config) any { return c.Origin }, "flag.example.", false},
		{"unchanged flag does not override", true, []string{"SVCDNS_ORIGIN=env.example"}, []string{"--log-level=warn"}, func(c Config) any { return c.Origin }, "env.example.", false},
		{"list: env", true, []string{"SVCDNS_LISTEN=127.0.0.1:53, [::1]:53"}, nil, func(c Config) any { return c.Listen }, []string{"127.0.0.1:53", "[::1]:53"}, false},
		{"list: flag repeated", true, []string{"SVCDNS_LISTEN=127.0.0.1:53"}, []string{"--listen=127.0.0.1:2001", "--listen=127.0.0.1:2002"}, func(c Config) any { return c.Listen }, []string{"127.0.0.1:2001", "127.0.0.1:2002"}, false},
		{"nested: env replaces one key", true, []string{"SVCDNS_TTL_SRV=20"}, nil, func(c Config) any { return [2]uint32{c.TTL.Default, c.TTL.SRV} }, [2]uint32{100, 20}, false},
		{"empty env is a value", true, []string{"SVCDNS_METRICS_LISTEN="}, nil, func(c Config) any { return c.MetricsListen }, "", false},
		{"empty flag is a value", true, nil, []string{"--metrics-listen="}, func(c Config) any { return c.MetricsListen }, "", false},
		{"bool flag", false, []string{"SVCDNS_QUERY_LOG=false"}, []string{"--query-log"}, func(c Config) any { return c.QueryLog }, true, false},
		{"bool env", false, []string{"SVCDNS_QUERY_LOG=true"}, nil, func(c Config) any { return c.QueryLog }, true, false},
		{"services merge per key", true, []string{`SVCDNS_SERVICES={"b/tcp": [{"host": "b.env.example", "port": 99}], "C/UDP": [{"host": "c.env.example"}]}`}, nil,
			func(c Config) any {
				return [3]string{c.Services["a/tcp"][0].Host, c.Services["b/tcp"][0].Host, c.Services["c/udp"][0].Host}
			}, [3]string{"a.file.example.", "b.env.example.", "c.env.example."}, false},
		{"last duplicate env wins", false, []string{"SVCDNS_ORIGIN=one.example", "SVCDNS_ORIGIN=two.example"}, nil, func(c Config) any { return c.Origin }, "two.example.", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file {
				path = writeFile(t, "svcdns.yaml", file)
			}
			c := mustLoad(t, path, tc.env, parsedFlags(t, tc.args...))
			if got := tc.check(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestEnvJSON(t *testing.T) {
	env := []string{
		`SVCDNS_NAME_SERVERS=[{"name": "ns1.ports.local", "addresses": ["127.0.0.2"]}, {"Name": "ns2.example.net"}]`,
		`SVCDNS_TRANSFER_TSIG_KEYS=[{"name": "xfr", "secret": "c2VjcmV0"}]`,
		`SVCDNS_TRANSFER_ALLOW_NETWORKS=`,
		`SVCDNS_TTL_DEFAULT=60`,
		`SVCDNS_SOA_REFRESH=120`,
		`SVCDNS_TARGET_NAME=www.example.net`,
		`SVCDNS_EDNS_BUFFER_SIZE=4096`,
	}
	c := mustLoad(t, "", env, nil)
	want := []Host{{Name: "ns1.ports.local.", Addresses: []string{"127.0.0.2"}}, {Name: "ns2.example.net."}}
	if !reflect.DeepEqual(c.NameServers, want) {
		t.Errorf("NameServers = %+v, want %+v", c.NameServers, want)
	}
	if want := []TSIGKey{{Name: "xfr.", Algorithm: "hmac-sha256", Secret: "c2VjcmV0"}}; !reflect.DeepEqual(c.Transfer.TSIGKeys, want) {
		t.Errorf("TSIGKeys = %+v, want %+v", c.Transfer.TSIGKeys, want)
	}
	if c.Transfer.AllowNetworks != nil {
		t.Errorf("AllowNetworks = %q, want none", c.Transfer.AllowNetworks)
	}
	if c.TTL.Default != 60 || c.TTL.SRV != 60 || c.SOA.Refresh != 120 || c.EDNSBufferSize != 4096 {
		t.Errorf("TTL %+v SOA %+v EDNS %d", c.TTL, c.SOA, c.EDNSBufferSize)
	}
	// A target named outside the zone gets no default glue.
	if want := (Host{Name: "www.example.net."}); !reflect.DeepEqual(c.Target, want) {
		t.Errorf("Target = %+v, want %+v", c.Target, want)
	}
}

func TestDerivedDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  []string
		args []string
		want func(c *Config)
	}{
		{
			name: "origin flag moves every derived name",
			args: []string{"--origin", "Ports.Home.Arpa"},
			want: func(c *Config) {
				c.Origin = "ports.home.arpa."
				c.NameServers = []Host{{Name: "ns1.ports.home.arpa.", Addresses: []string{"127.0.0.1"}}}
				c.Target.Name = "svc.ports.home.arpa."
				c.SOA.MName = "ns1.ports.home.arpa."
				c.SOA.RName = "hostmaster.ports.home.arpa."
			},
		},
		{
			name: "origin env over file origin",
			file: "origin: file.example.\n",
			env:  []string{"SVCDNS_ORIGIN=env.example."},
			want: func(c *Config) {
				c.Origin = "env.example."
				c.NameServers = []Host{{Name: "ns1.env.example.", Addresses: []string{"127.0.0.1"}}}
				c.Target.Name = "svc.env.example."
				c.SOA.MName = "ns1.env.example."
				c.SOA.RName = "hostmaster.env.example."
			},
		},
		{
			name: "set names are kept; mname follows the first name server",
			file: "name_servers: [{name: a.example.net}, {name: ns2.ports.local, addresses: [127.0.0.2]}]\n" +
				"target: {name: svc.example.net}\nsoa: {rname: ops.example.net}\n",
			want: func(c *Config) {
				c.NameServers = []Host{{Name: "a.example.net."}, {Name: "ns2.ports.local.", Addresses: []string{"127.0.0.2"}}}
				c.Target = Host{Name: "svc.example.net."}
				c.SOA.MName = "a.example.net."
				c.SOA.RName = "ops.example.net."
			},
		},
		{
			name: "target addresses without a name keep the derived name",
			file: "target: {addresses: ['::1']}\n",
			want: func(c *Config) { c.Target.Addresses = []string{"::1"} },
		},
		{
			name: "empty target addresses are kept empty",
			file: "target: {addresses: []}\n",
			want: func(c *Config) { c.Target.Addresses = nil },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, "svcdns.yaml", tc.file)
			}
			got := mustLoad(t, path, tc.env, parsedFlags(t, tc.args...))
			want := Default()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string // YAML unless it starts with "{" (JSON) or "[" (TOML table)
		env     []string
		want    []string // substrings of the error
		notWant string
	}{
		{name: "typo at top", file: "orgin: ports.home.arpa.\n", want: []string{`unknown key "orgin"`, `did you mean "origin"?`, "svcdns.yaml"}},
		{name: "typo without value", file: "orgin:\n", want: []string{`unknown key "orgin"`}},
		{name: "typo nested", file: "ttl:\n  srvv: 60\n", want: []string{`unknown key "ttl.srvv"`, `"ttl.srv"`}},
		{name: "typo in list item", file: "name_servers:\n  - name: ns1.ports.local.\n    adresses: [127.0.0.1]\n", want: []string{`unknown key "name_servers[0].adresses"`, `did you mean "name_servers[0].addresses"?`}},
		{name: "typo in service target", file: "services:\n  rets/tcp:\n    - hostt: a.example.\n", want: []string{`unknown key "services[rets/tcp][0].hostt"`}},
		{name: "typo in tsig key", file: "transfer:\n  tsig_keys:\n    - {name: k, secrett: c2VjcmV0}\n", want: []string{`"transfer.tsig_keys[0].secrett"`}},
		{name: "no suggestion when far", file: "zzzzzz: 1\n", want: []string{`unknown key "zzzzzz"`}, notWant: "did you mean"},
		{name: "json", file: `{"orgin": "x."}`, want: []string{`unknown key "orgin"`, "svcdns.json"}},
		{name: "toml", file: "[ttl]\nsrvv = 60\n", want: []string{`unknown key "ttl.srvv"`, "svcdns.toml"}},
		{name: "several at once", file: "orgin: x\nlisten_addr: y\n", want: []string{`"orgin"`, `"listen_addr"`}},
		{name: "env", env: []string{"SVCDNS_ORGIN=x"}, want: []string{`unknown environment variable "SVCDNS_ORGIN"`, `did you mean "SVCDNS_ORIGIN"?`}},
		{name: "env group", env: []string{"SVCDNS_TTL=60"}, want: []string{`"SVCDNS_TTL"`}},
		{name: "env lower case", env: []string{"SVCDNS_origin=x"}, want: []string{`"SVCDNS_origin"`}},
		{name: "env json item", env: []string{`SVCDNS_NAME_SERVERS=[{"nam": "ns1.x."}]`}, want: []string{"SVCDNS_NAME_SERVERS", `unknown key "name_servers[0].nam"`}},
		{name: "env json service", env: []string{`SVCDNS_SERVICES={"rets/tcp": [{"hots": "a."}]}`}, want: []string{"SVCDNS_SERVICES", `"services[rets/tcp][0].hots"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				name := "svcdns.yaml"
				switch tc.file[0] {
				case '{':
					name = "svcdns.json"
				case '[':
					name = "svcdns.toml"
				}
				path = writeFile(t, name, tc.file)
			}
			_, err := Load(path, tc.env, nil)
			if !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("error %v is not ErrUnknownKey", err)
			}
			if errors.Is(err, ErrBadValue) {
				t.Errorf("error %v is also ErrBadValue", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("error %q contains %q", err, tc.notWant)
			}
		})
	}
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string // YAML
		env  []string
		args []string
		want []string // substrings of the error: source, key, value, reason
		hide string   // must not appear in the error
	}{
		{name: "listen host name", file: "listen: [localhost:53]\n", want: []string{"svcdns.yaml: ", `listen[0] "localhost:53": host is not an IP address`}},
		{name: "listen port out of range", file: "listen: [127.0.0.1:53, 127.0.0.1:99999]\n", want: []string{`listen[1] "127.0.0.1:99999": port out of range`}},
		{name: "listen port not a number", env: []string{"SVCDNS_LISTEN=127.0.0.1:dns"}, want: []string{"SVCDNS_LISTEN: ", `listen[0] "127.0.0.1:dns": port is not a number`}},
		{name: "listen no port", args: []string{"--listen=127.0.0.1"}, want: []string{"--listen: ", `listen[0] "127.0.0.1": want host:port: missing port in address`}},
		{name: "listen ipv6 without brackets", file: "listen: ['::1:53']\n", want: []string{`listen[0] "::1:53"`}},
		{name: "listen empty", env: []string{"SVCDNS_LISTEN="}, want: []string{`listen "": at least one address is required`}},
		{name: "listen duplicate", file: "listen: [127.0.0.1:53, 127.0.0.1:53]\n", want: []string{`listen[1] "127.0.0.1:53": duplicate of listen[0]`}},
		{name: "metrics listen", args: []string{"--metrics-listen=localhost:9153"}, want: []string{"--metrics-listen: ", `metrics_listen "localhost:9153"`}},
		{name: "origin empty label", file: "origin: ports..local.\n", want: []string{`origin "ports..local.": empty label`}},
		{name: "origin long label", env: []string{"SVCDNS_ORIGIN=" + strings.Repeat("a", 64) + ".local"}, want: []string{"SVCDNS_ORIGIN: ", `origin "aaaa`, "longer than 63 octets"}},
		{name: "origin too long", file: "origin: " + strings.Repeat("abcdefgh.", 29) + "\n", want: []string{"origin ", "longer than 255 octets"}},
		{name: "origin bad character", args: []string{"--origin=ports local"}, want: []string{`origin "ports local.": label "ports local"`}},
		{name: "origin root", file: "origin: .\n", want: []string{`origin ".": must not be the root`}},
		{name: "origin not a string", file: "origin: [a, b]\n", want: []string{`origin "[a b]": want a single value`}},
		{name: "service key without proto", file: "services:\n  rets: [{host: a.example.}]\n", want: []string{`services[rets] "rets": want "name/proto"`}},
		{name: "service key bad proto", file: "services:\n  rets/icmp: [{host: a.example.}]\n", want: []string{`services[rets/icmp] "rets/icmp": protocol "icmp"`}},
		{name: "service name too long", file: "services:\n  averyveryverylongname/tcp: [{host: a.example.}]\n", want: []string{`services[averyveryverylongname/tcp]`, "1-15 characters"}},
		{name: "service name bad character", file: "services:\n  re_ts/tcp: [{host: a.example.}]\n", want: []string{`services[re_ts/tcp]`, "RFC 6335"}},
		{name: "service no targets", file: "services:\n  rets/tcp: []\n", want: []string{`services[rets/tcp] "": at least one target`}},
		{name: "service target not a list", file: "services:\n  rets/tcp: {host: a.example.}\n", want: []string{"svcdns.yaml: ", `services[rets/tcp] "map[host:a.example.]": want a list`}},
		{name: "service target host", file: "services:\n  rets/tcp: [{host: -a.example.}]\n", want: []string{`services[rets/tcp][0].host "-a.example."`, "hyphen"}},
		{name: "service priority overflow", file: "services:\n  rets/tcp: [{host: a.example., priority: 70000}]\n", want: []string{`services[rets/tcp][0].priority "70000": want an integer in 0..65535`}},
		{name: "service glue out of zone", file: "services:\n  rets/tcp: [{host: a.example., addresses: [192.0.2.1]}]\n", want: []string{`services[rets/tcp][0].addresses "192.0.2.1": addresses are only served for names inside ports.local.`}},
		{name: "service dot with others", file: "services:\n  rets/tcp: [{host: .}, {host: a.example.}]\n", want: []string{`services[rets/tcp][0].host "."`}},
		{name: "env service key", env: []string{`SVCDNS_SERVICES={"rets": [{"host": "a.example."}]}`}, want: []string{"SVCDNS_SERVICES: ", `services[rets]`}},
		{name: "ttl out of range", file: "ttl:\n  srv: 2147483648\n", want: []string{`ttl.srv "2147483648": out of range 0..2147483647 (RFC 2181 §8)`}},
		{name: "ttl over uint32", env: []string{"SVCDNS_TTL_DEFAULT=4294967296"}, want: []string{"SVCDNS_TTL_DEFAULT: ", `ttl.default "4294967296": want an integer in 0..4294967295`}},
		{name: "ttl negative", file: "ttl: {default: -1}\n", want: []string{`ttl.default "-1": want an integer`}},
		{name: "ttl fraction", file: "ttl: {default: 1.5}\n", want: []string{`ttl.default "1.5": want an integer`}},
		{name: "ttl not a number", env: []string{"SVCDNS_TTL_NS=1h"}, want: []string{"SVCDNS_TTL_NS: ", `ttl.ns "1h"`}},
		{name: "ttl group scalar", file: "ttl: 60\n", want: []string{`ttl "60": want a mapping`}},
		{name: "soa minimum", file: "soa: {minimum: 3000000000}\n", want: []string{`soa.minimum "3000000000": out of range`}},
		{name: "soa rname dotted local part", file: "soa: {rname: first.last@example.net}\n", want: []string{`soa.rname "first.last@example.net"`}},
		{name: "edns over uint16", file: "edns_buffer_size: 70000\n", want: []string{`edns_buffer_size "70000": want an integer in 0..65535`}},
		{name: "edns too small", env: []string{"SVCDNS_EDNS_BUFFER_SIZE=100"}, want: []string{`edns_buffer_size "100": must be in 512..4096`}},
		{name: "workers too many", env: []string{"SVCDNS_WORKERS=5000"}, want: []string{"SVCDNS_WORKERS: ", `workers "5000": must be in 0..1024 (0: one per CPU)`}},
		{name: "workers negative", file: "workers: -1\n", want: []string{`workers "-1": want an integer`}},
		{name: "log level", args: []string{"--log-level=verbose"}, want: []string{"--log-level: ", `log_level "verbose": must be one of debug, info, warn, error`}},
		{name: "log format", file: "log_format: xml\n", want: []string{`log_format "xml"`}},
		{name: "query log", env: []string{"SVCDNS_QUERY_LOG=maybe"}, want: []string{"SVCDNS_QUERY_LOG: ", `query_log "maybe": want true or false`}},
		{name: "name server empty name", file: "name_servers: [{addresses: [127.0.0.1]}]\n", want: []string{`name_servers[0].name "": empty name`}},
		{name: "name server duplicate", file: "name_servers: [{name: a.example.}, {name: A.example}]\n", want: []string{`name_servers[1].name "a.example.": duplicate of name_servers[0]`}},
		{name: "name server bad address", file: "name_servers: [{name: ns1.ports.local., addresses: [127.0.0.256]}]\n", want: []string{`name_servers[0].addresses[0] "127.0.0.256": not an IP address`}},
		{name: "target glue out of zone", env: []string{"SVCDNS_TARGET_NAME=svc.example.net", "SVCDNS_TARGET_ADDRESSES=192.0.2.1"}, want: []string{`target.addresses "192.0.2.1"`}},
		{name: "target root", file: "target: {name: .}\n", want: []string{`target.name ".": must not be the root`}},
		{name: "port names", env: []string{"SVCDNS_PORT_NAMES=some"}, want: []string{"SVCDNS_PORT_NAMES: ", `port_names "some": must be one of all, registered`}},
		{name: "journal too small", file: "transfer:\n  journal: {max_size: 1000}\n", want: []string{`transfer.journal.max_size "1000": must be 0 (no journal) or 65536 to 1099511627776 bytes (1 TiB)`}},
		{name: "journal too large", env: []string{"SVCDNS_TRANSFER_JOURNAL_MAX_SIZE=2199023255552"}, want: []string{`transfer.journal.max_size "2199023255552": must be 0`}},
		{name: "journal age negative", env: []string{"SVCDNS_TRANSFER_JOURNAL_MAX_AGE=-1"}, want: []string{"SVCDNS_TRANSFER_JOURNAL_MAX_AGE: ", `transfer.journal.max_age "-1": want an integer`}},
		{name: "cidr", file: "transfer:\n  allow_networks: [10.0.0.0/8, 10.0.0.0/33]\n", want: []string{`transfer.allow_networks[1] "10.0.0.0/33": not a CIDR prefix`}},
		{name: "cidr bare address", env: []string{"SVCDNS_TRANSFER_ALLOW_NETWORKS=192.0.2.1"}, want: []string{"SVCDNS_TRANSFER_ALLOW_NETWORKS: ", "for one host write 192.0.2.1/32"}},
		{name: "tsig secret", file: "transfer:\n  tsig_keys: [{name: xfr., secret: 'hunter2!'}]\n", want: []string{`transfer.tsig_keys[0].secret "<8 characters, redacted>": not standard base64`}, hide: "hunter2"},
		{name: "tsig secret empty", file: "transfer:\n  tsig_keys: [{name: xfr.}]\n", want: []string{`transfer.tsig_keys[0].secret`, "empty secret"}},
		{name: "tsig algorithm", file: "transfer:\n  tsig_keys: [{name: xfr., algorithm: hmac-md5, secret: c2VjcmV0}]\n", want: []string{`transfer.tsig_keys[0].algorithm "hmac-md5"`}},
		{name: "tsig env json", env: []string{`SVCDNS_TRANSFER_TSIG_KEYS=[{"name": "x", "secret": "hunter2!"`}, want: []string{"SVCDNS_TRANSFER_TSIG_KEYS: ", "want JSON", "redacted"}, hide: "hunter2"},
		{name: "tsig duplicate", env: []string{`SVCDNS_TRANSFER_TSIG_KEYS=[{"name": "x", "secret": "c2VjcmV0"}, {"name": "X.", "secret": "c2VjcmV0"}]`}, want: []string{`transfer.tsig_keys[1].name "x.": duplicate`}},
		{name: "notify host name", file: "transfer:\n  notify: [ns2.example.net:53]\n", want: []string{`transfer.notify[0] "ns2.example.net:53": host is not an IP address`}},
		{name: "notify port 0", file: "transfer:\n  notify: ['192.0.2.1:0']\n", want: []string{`transfer.notify[0] "192.0.2.1:0": port 0 is not allowed`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, "svcdns.yaml", tc.file)
			}
			c, err := Load(path, tc.env, parsedFlags(t, tc.args...))
			if !errors.Is(err, ErrBadValue) {
				t.Fatalf("error %v is not ErrBadValue", err)
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("Load returned %+v with an error, want the zero Config", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.hide != "" && strings.Contains(err.Error(), tc.hide) {
				t.Errorf("error %q reveals %q", err, tc.hide)
			}
		})
	}
}

// TestErrorText pins the shape of messages: config: SOURCE: KEY "VALUE": WHY.
func TestErrorText(t *testing.T) {
	path := writeFile(t, "svcdns.yaml", "listen: [127.0.0.1:99999]\nlog_level: loud\n")
	_, err := Load(path, nil, nil)
	want := "config: " + path + `: listen[0] "127.0.0.1:99999": port out of range` + "\n" +
		"config: " + path + `: log_level "loud": must be one of debug, info, warn, error`
	if err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}

	path = writeFile(t, "svcdns.yaml", "ttl:\n  srvv: 60\n")
	_, err = Load(path, nil, nil)
	want = "config: " + path + `: unknown key "ttl.srvv" (did you mean "ttl.srv"?)`
	if err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}

	c := Default()
	c.Listen = []string{"127.0.0.1:99999"}
	err = c.Validate()
	want = `config: listen[0] "127.0.0.1:99999": port out of range`
	if err == nil || err.Error() != want || !errors.Is(err, ErrBadValue) {
		t.Errorf("Validate error\n%v\nwant\n%s", err, want)
	}
}

func TestValidateCanonicalizes(t *testing.T) {
	c := Default()
	c.Origin = "Ports.Example"
	c.NameServers = []Host{{Name: "NS1.Ports.Example", Addresses: []string{"2001:DB8:0:0::1"}}}
	c.Target = Host{Name: "svc.example.net", Addresses: []string{}}
	c.SOA.MName = "NS1.Ports.Example"
	c.SOA.RName = "Admin@Example.NET"
	c.TTL = TTLs{Default: 120, SRV: 30}
	c.Services = map[string][]ServiceTarget{"LDAP/TCP": {{Host: "."}}}
	c.LogLevel = "WARN"
	c.Transfer = Transfer{
		AllowNetworks: []string{"10.1.2.3/8"},
		TSIGKeys:      []TSIGKey{{Name: "K", Secret: "c2VjcmV0"}},
		Notify:        []string{"2001:db8::53", "[2001:db8::54]:5353"},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Origin = "ports.example."
	want.NameServers = []Host{{Name: "ns1.ports.example.", Addresses: []string{"2001:db8::1"}}}
	want.Target = Host{Name: "svc.example.net."}
	want.SOA.MName = "ns1.ports.example."
	want.SOA.RName = "admin.example.net."
	want.TTL = TTLs{Default: 120, SOA: 120, NS: 120, Address: 120, SRV: 30, TXT: 120, PTR: 120, CNAME: 120}
	want.Services = map[string][]ServiceTarget{"ldap/tcp": {{Host: "."}}}
	want.LogLevel = "warn"
	want.Transfer = Transfer{
		AllowNetworks: []string{"10.1.2.3/8"},
		TSIGKeys:      []TSIGKey{{Name: "k.", Algorithm: "hmac-sha256", Secret: "c2VjcmV0"}},
		Notify:        []string{"[2001:db8::53]:53", "[2001:db8::54]:5353"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}

	dup := Default()
	dup.Services = map[string][]ServiceTarget{"rets/tcp": {{Host: "a."}}, "RETS/TCP": {{Host: "b."}}}
	if err := dup.Validate(); !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), "duplicate service") {
		t.Errorf("case-duplicate services: %v", err)
	}
	none := Default()
	none.NameServers = nil
	if err := none.Validate(); err == nil || !strings.Contains(err.Error(), "name_servers") {
		t.Errorf("no name servers: %v", err)
	}
}

func TestAddFlags(t *testing.T) {
	zoneFlags := []string{"config", "origin", "registry"}
	serveFlags := []string{"listen", "metrics-listen", "log-level", "log-format", "query-log"}
	for _, tc := range []struct {
		name       string
		add        func(*pflag.FlagSet)
		want, none []string
	}{
		{"AddZoneFlags", AddZoneFlags, zoneFlags, serveFlags},
		{"AddServeFlags", AddServeFlags, serveFlags, zoneFlags},
		{"AddFlags", AddFlags, append(slices.Clone(zoneFlags), serveFlags...), nil},
	} {
		fs := pflag.NewFlagSet(tc.name, pflag.ContinueOnError)
		tc.add(fs)
		for _, name := range tc.want {
			if fs.Lookup(name) == nil {
				t.Errorf("%s: flag --%s not registered", tc.name, name)
			}
		}
		for _, name := range tc.none {
			if fs.Lookup(name) != nil {
				t.Errorf("%s: flag --%s registered", tc.name, name)
			}
		}
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse([]string{"--config", "/etc/svcdns.yaml", "--listen", "127.0.0.1:53,[::1]:53", "--registry", "r.csv", "--log-format", "json"}); err != nil {
		t.Fatal(err)
	}
	if p, _ := fs.GetString("config"); p != "/etc/svcdns.yaml" {
		t.Errorf("--config = %q", p)
	}
	c := mustLoad(t, "", nil, fs)
	if !reflect.DeepEqual(c.Listen, []string{"127.0.0.1:53", "[::1]:53"}) || c.Registry != "r.csv" || c.LogFormat != "json" {
		t.Errorf("got Listen %q Registry %q LogFormat %q", c.Listen, c.Registry, c.LogFormat)
	}
	// A flag set without AddFlags' flags is fine: nothing overrides.
	other := pflag.NewFlagSet("other", pflag.ContinueOnError)
	other.String("origin-x", "", "")
	if got := mustLoad(t, "", nil, other); !reflect.DeepEqual(got, Default()) {
		t.Errorf("foreign flag set changed the config: %+v", got)
	}
}

// TestExampleFile loads example.yaml, which sets every key to its default,
// and each commented example block in it.
func TestExampleFile(t *testing.T) {
	const path = "example.yaml"
	if got := mustLoad(t, path, nil, nil); !reflect.DeepEqual(got, Default()) {
		t.Errorf("example.yaml does not give the defaults:\n%+v\nwant\n%+v", got, Default())
	}
	// With the origin moved, the derived names must move too: example.yaml
	// must not pin them.
	moved := mustLoad(t, path, []string{"SVCDNS_ORIGIN=ports.home.arpa."}, nil)
	if moved.NameServers[0].Name != "ns1.ports.home.arpa." || moved.Target.Name != "svc.ports.home.arpa." || moved.SOA.RName != "hostmaster.ports.home.arpa." {
		t.Errorf("derived names did not follow the origin: %+v %+v %+v", moved.NameServers, moved.Target, moved.SOA)
	}

	blocks := exampleBlocks(t, path)
	if len(blocks) != 2 {
		t.Fatalf("found %d example blocks, want 2", len(blocks))
	}
	c := mustLoad(t, writeFile(t, "services.yaml", blocks[0]), nil, nil)
	rets := c.Services["rets/tcp"]
	if len(rets) != 3 || rets[0].Host != "rets1.example.net." || rets[0].Priority != 10 || rets[0].Weight != 60 ||
		rets[1].Host != "rets2.example.net." || rets[2].Port != 6104 || len(rets[2].Addresses) != 2 {
		t.Errorf("services example: %+v", c.Services)
	}
	c = mustLoad(t, writeFile(t, "transfer.yaml", blocks[1]), nil, nil)
	if len(c.Transfer.TSIGKeys) != 1 || c.Transfer.TSIGKeys[0].Name != "xfr.ports.local." || len(c.Transfer.Notify) != 1 {
		t.Errorf("transfer example: %+v", c.Transfer)
	}
}

// exampleBlocks returns the commented example blocks of an example file,
// uncommented: each starts at a line "# Example:", its YAML at the first
// commented top-level key, and it ends at a line that is not a comment.
func exampleBlocks(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur []string
	in, yaml := false, false
	for line := range strings.Lines(string(data) + "\n") {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "# Example:"):
			in, yaml, cur = true, false, nil
		case in && strings.HasPrefix(line, "#"):
			body := strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ")
			if !yaml && body != "" && body[0] != ' ' && strings.HasSuffix(body, ":") {
				yaml = true
			}
			if yaml {
				cur = append(cur, body)
			}
		case in:
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
			in = false
		}
	}
	return blocks
}

func TestLimitsValidation(t *testing.T) {
	for _, tc := range []struct {
		yaml, key string
	}{
		{"rrl:\n  ipv4_prefix: 40\n", "rrl.ipv4_prefix"},
		{"rrl:\n  ipv6_prefix: 8\n", "rrl.ipv6_prefix"},
		{"rrl:\n  exempt: [\"10.0.0.0/33\"]\n", "rrl.exempt[0]"},
		{"rrl:\n  window: 0\n", "rrl.window"},
		{"rrl:\n  rate: 2000000\n", "rrl.rate"},
		{"rrl:\n  nxdomain_rate: 2000000\n", "rrl.nxdomain_rate"},
		{"rrl:\n  slip: 101\n", "rrl.slip"},
		{"rrl:\n  table_size: 10\n", "rrl.table_size"},
		{"cookies:\n  secrets: [\"00ff\"]\n", "cookies.secrets[0]"},
		{"cookies:\n  secrets: [\"zz0102030405060708090a0b0c0d0e0f\"]\n", "cookies.secrets[0]"},
		{"cookies:\n  secrets: [\"000102030405060708090a0b0c0d0e0f\", \"0x000102030405060708090A0B0C0D0E0F\"]\n", "cookies.secrets[1]"},
		{"tcp:\n  max_connections: 0\n", "tcp.max_connections"},
		{"tcp:\n  max_per_source: 5000\n", "tcp.max_per_source"},
		{"tcp:\n  idle_timeout: 0\n", "tcp.idle_timeout"},
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, nil, nil)
		if !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: err = %v, want a bad value naming %s", tc.yaml, err, tc.key)
		}
	}
	c, err := Load("", []string{"SVCDNS_RRL_RATE=0", "SVCDNS_TCP_IDLE_TIMEOUT=3"}, nil)
	if err != nil || c.RRL.Rate != 0 || c.TCP.IdleTimeout != 3 {
		t.Errorf("env: %+v %+v %v", c.RRL, c.TCP, err)
	}
}

// TestRRLClassRates checks that the per-class rates follow rrl.rate unless
// set, and that a class set to 0 stays unlimited, from a file and from the
// environment.
func TestRRLClassRates(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        []string
		want       [4]uint32 // rate, nodata, nxdomain, error
	}{
		{"default", "", nil, [4]uint32{200, 200, 200, 200}},
		{"rate follows", "rrl:\n  rate: 50\n", nil, [4]uint32{50, 50, 50, 50}},
		{"off", "", []string{"SVCDNS_RRL_RATE=0"}, [4]uint32{0, 0, 0, 0}},
		{"one set", "rrl:\n  rate: 50\n  nxdomain_rate: 7\n", nil, [4]uint32{50, 50, 7, 50}},
		{"one unlimited", "rrl:\n  error_rate: 0\n", nil, [4]uint32{200, 200, 200, 0}},
		{"env class", "", []string{"SVCDNS_RRL_NODATA_RATE=9", "SVCDNS_RRL_RATE=30"}, [4]uint32{30, 9, 30, 30}},
	} {
		path := ""
		if tc.yaml != "" {
			path = filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		c, err := Load(path, tc.env, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := [4]uint32{c.RRL.Rate, c.RRL.NoDataRate, c.RRL.NXDomainRate, c.RRL.ErrorRate}; got != tc.want {
			t.Errorf("%s: rates %v, want %v", tc.name, got, tc.want)
		}
	}
	c, err := Load("", []string{"SVCDNS_COOKIES_SECRETS=0X000102030405060708090A0B0C0D0E0F"}, nil)
	if err != nil || len(c.Cookies.Secrets) != 1 || c.Cookies.Secrets[0] != "000102030405060708090a0b0c0d0e0f" {
		t.Errorf("cookies.secrets from env: %v %v", c.Cookies.Secrets, err)
	}
}

// TestWorkers checks the workers setting from each source, and that its
// default means one per CPU (0).
func TestWorkers(t *testing.T) {
	if c := mustLoad(t, "", nil, parsedFlags(t)); c.Workers != 0 {
		t.Errorf("default workers %d, want 0 (one per CPU)", c.Workers)
	}
	if c := mustLoad(t, writeFile(t, "w.yaml", "workers: 3\n"), nil, parsedFlags(t)); c.Workers != 3 {
		t.Errorf("workers from file %d, want 3", c.Workers)
	}
	if c := mustLoad(t, writeFile(t, "w.yaml", "workers: 3\n"), []string{"SVCDNS_WORKERS=1"}, parsedFlags(t)); c.Workers != 1 {
		t.Errorf("workers from env over file %d, want 1", c.Workers)
	}
}

func TestStateDirectory(t *testing.T) {
	tests := []struct {
		name, configured string
		env              []string
		want             string
		err              bool
	}{
		{"configured wins", "/srv/svcdns/", []string{"STATE_DIRECTORY=/var/lib/svcdns"}, "/srv/svcdns", false},
		{"systemd", "", []string{"HOME=/root", "STATE_DIRECTORY=/var/lib/svcdns:/var/lib/other"}, "/var/lib/svcdns", false},
		{"xdg", "", []string{"HOME=/home/u", "XDG_STATE_HOME=/home/u/state"}, "/home/u/state/svcdns", false},
		{"relative xdg ignored", "", []string{"HOME=/home/u", "XDG_STATE_HOME=state"}, "/home/u/.local/state/svcdns", false},
		{"home", "", []string{"HOME=/home/u"}, "/home/u/.local/state/svcdns", false},
		{"nothing", "", nil, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := StateDirectory(Config{StateDir: tc.configured}, tc.env)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("StateDirectory = %q, %v; want %q (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestDNSSECValidation: each DNSSEC key's bad values are errors naming the
// key; good ones from the file and the environment are canonicalized.
func TestDNSSECValidation(t *testing.T) {
	for _, tc := range []struct {
		yaml, want string
	}{
		{"dnssec:\n  algorithm: rsasha1\n", `dnssec.algorithm "rsasha1": must be one of ecdsap256sha256, ecdsap384sha384, ed25519, rsasha256`},
		{"dnssec:\n  keys: zsk\n", `dnssec.keys "zsk": must be one of csk, ksk+zsk`},
		{"dnssec:\n  validity: 60\n", `dnssec.validity "60": must be in 3600..31536000 seconds`},
		{"dnssec:\n  validity: 86400\n  refresh: 86000\n", `dnssec.refresh "86000": must be in 1..85800 seconds`},
		{"dnssec:\n  refresh: 0\n", `dnssec.refresh "0"`},
		{"dnssec:\n  inception_offset: 9999999\n", `dnssec.inception_offset "9999999": must be at most 604800 seconds`},
		{"dnssec:\n  dnskey_ttl: 2147483648\n", `dnssec.dnskey_ttl "2147483648"`},
		{"dnssec:\n  denial: nsec5\n", `dnssec.denial "nsec5": must be one of nsec, nsec3`},
		{"dnssec:\n  nsec3: {iterations: 150}\n", `dnssec.nsec3.iterations "150": must be at most 100`},
		{"dnssec:\n  nsec3: {salt: xyz}\n", `dnssec.nsec3.salt "xyz": not hex`},
		{"dnssec:\n  key_directory: /keys\n  key_files: [/keys/Kx]\n", `dnssec.key_files "/keys/Kx": set dnssec.key_directory or dnssec.key_files, not both`},
		{"dnssec:\n  enabled: sometimes\n", `dnssec.enabled "sometimes": want true or false`},
	} {
		path := writeFile(t, "svcdns.yaml", tc.yaml)
		_, err := Load(path, nil, nil)
		if !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.yaml, err, tc.want)
		}
	}
	path := writeFile(t, "svcdns.yaml", "dnssec:\n  enabled: true\n  algorithm: Ed25519\n  keys: KSK+ZSK\n  denial: NSEC3\n  nsec3: {salt: C0FFEE}\n")
	c, err := Load(path, []string{"SVCDNS_DNSSEC_VALIDITY=864000", "SVCDNS_DNSSEC_KEY_FILES=/k/a.key,/k/b.key"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DNSSEC{Enabled: true, KeyFiles: []string{"/k/a.key", "/k/b.key"}, Algorithm: "ed25519", Keys: "ksk+zsk", Validity: 864000,
		Refresh: 604800, InceptionOffset: 3600, DNSKEYTTL: 3600, SignatureCache: 100000, Denial: "nsec3", NSEC3: NSEC3{Salt: "c0ffee"}}
	if !reflect.DeepEqual(c.DNSSEC, want) {
		t.Errorf("dnssec =\n%+v\nwant\n%+v", c.DNSSEC, want)
	}
}

// TestPortNamesAndJournal sets the keys of zone transfers' content and
// journal from each source: the mode is read in any case, and a journal
// of size 0 (off) or of no age limit is a valid setting.
func TestPortNamesAndJournal(t *testing.T) {
	c := mustLoad(t, "", []string{"SVCDNS_PORT_NAMES=Registered", "SVCDNS_TRANSFER_JOURNAL_MAX_SIZE=0"}, nil)
	if c.PortNames != "registered" || c.Transfer.Journal.MaxSize != 0 || c.Transfer.Journal.MaxAge != 2592000 {
		t.Errorf("from the environment: port_names %q, journal %+v", c.PortNames, c.Transfer.Journal)
	}
	c = mustLoad(t, writeFile(t, "svcdns.yaml", "port_names: all\ntransfer:\n  journal: {max_size: 1048576, max_age: 0}\n"), nil, nil)
	if c.PortNames != "all" || c.Transfer.Journal != (Journal{MaxSize: 1 << 20}) {
		t.Errorf("from a file: port_names %q, journal %+v", c.PortNames, c.Transfer.Journal)
	}
	// Unset, the mode follows DNSSEC: every port name signed costs the
	// secondaries' zone tens of seconds of CPU at each re-signing.
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "all"},
		{[]string{"SVCDNS_DNSSEC_ENABLED=true"}, "registered"},
		{[]string{"SVCDNS_DNSSEC_ENABLED=true", "SVCDNS_PORT_NAMES=all"}, "all"},
	} {
		if c := mustLoad(t, "", tc.env, nil); c.PortNames != tc.want {
			t.Errorf("%v: port_names %q, want %q", tc.env, c.PortNames, tc.want)
		}
	}
	fs := pflag.NewFlagSet("zone", pflag.ContinueOnError)
	AddZoneFlags(fs)
	if err := fs.Parse([]string{"--port-names", "registered"}); err != nil {
		t.Fatal(err)
	}
	if c := mustLoad(t, "", nil, fs); c.PortNames != "registered" {
		t.Errorf("--port-names registered: port_names %q", c.PortNames)
	}
}
