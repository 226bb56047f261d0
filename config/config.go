package config

// Config is the whole validated configuration. The mapstructure tags are the
// keys of the file; environment variables and flags are derived from them.
type Config struct {
	// Listen holds "host:port" addresses served on both UDP and TCP. The host
	// is an IP literal or empty (all addresses); port 0 picks a free port.
	Listen []string `mapstructure:"listen"`
	// Origin is the zone apex, lower-case and fully qualified.
	Origin string `mapstructure:"origin"`
	// Registry is the path of the IANA registry file; "" means the embedded
	// default. A relative path is relative to the working directory.
	Registry string `mapstructure:"registry"`
	// RegistryURL is where `registry update` and the periodic refresh
	// download the registry from.
	RegistryURL string `mapstructure:"registry_url"`
	// RegistryRefresh is how often, in seconds, serve downloads the
	// registry into its cache (conditional GET) when Registry is ""; 0
	// turns it off.
	RegistryRefresh uint32 `mapstructure:"registry_refresh"`
	// StateDir is where svcdns keeps what it makes for itself and must find
	// again after a restart (generated keys and secrets, a lab certificate,
	// the zone transfer journal). "" means the default that StateDirectory
	// resolves: $STATE_DIRECTORY (systemd's StateDirectory=), else
	// $XDG_STATE_HOME/svcdns, else ~/.local/state/svcdns.
	StateDir string `mapstructure:"state_dir"`
	// TTL holds the TTL of each record type.
	TTL TTLs `mapstructure:"ttl"`
	// SOA holds the fields of the apex SOA record other than the serial.
	SOA SOA `mapstructure:"soa"`
	// NameServers are the apex NS records, with glue addresses for the ones
	// inside the origin. Empty means one: ns1.<origin> at 127.0.0.1.
	NameServers []Host `mapstructure:"name_servers"`
	// Target is the SRV target of every service that has no entry in
	// Services. Its default is svc.<origin> at 127.0.0.1.
	Target Host `mapstructure:"target"`
	// Services overrides the SRV targets of single services. The key is
	// "name/proto" in lower case, e.g. "rets/tcp".
	Services map[string][]ServiceTarget `mapstructure:"services"`
	// PortNames selects the _PORT._PROTO names of the zone, which zone
	// transfers and `zone export` carry like every other name so that
	// secondaries answer them as svcdns does: "all" (every port of every
	// protocol, 262,144 names) or "registered" (only the ports a registry
	// row assigns or reserves; any other port name is NXDOMAIN, on svcdns
	// too).
	PortNames string `mapstructure:"port_names"`
	// EDNSBufferSize is the UDP payload size advertised in EDNS(0) OPT
	// records, 512..4096; the default 1232 avoids IP fragmentation (DNS Flag
	// Day 2020).
	EDNSBufferSize uint16 `mapstructure:"edns_buffer_size"`
	// Workers is how many cores answer queries, as Knot's udp-workers and
	// NSD's server-count: the Go scheduler's GOMAXPROCS and the number of
	// SO_REUSEPORT UDP sockets per listen address. 0 means one per CPU.
	Workers uint16 `mapstructure:"workers"`
	// MetricsListen is the "host:port" of the /metrics, /healthz and /readyz
	// HTTP server; "" disables it.
	MetricsListen string `mapstructure:"metrics_listen"`
	// LogLevel is one of debug, info, warn, error.
	LogLevel string `mapstructure:"log_level"`
	// LogFormat is text or json.
	LogFormat string `mapstructure:"log_format"`
	// QueryLog logs every query at info level when true.
	QueryLog bool `mapstructure:"query_log"`
	// Transfer controls zone transfers (AXFR/IXFR) and NOTIFY.
	Transfer Transfer `mapstructure:"transfer"`
	// RRL is response rate limiting of UDP answers, as NSD and Knot do it.
	RRL RRL `mapstructure:"rrl"`
	// TCP bounds what TCP clients may hold (RFC 7766 §6.2.3).
	TCP TCP `mapstructure:"tcp"`
}

// RRL limits the UDP responses sent to one source prefix, so that svcdns
// cannot be used to amplify a flood towards a spoofed address.
type RRL struct {
	// Rate is the responses per second allowed to one source prefix; 0
	// turns rate limiting off.
	Rate uint32 `mapstructure:"rate"`
	// Slip sends every Slip-th limited response as an empty truncated
	// reply (TC=1), so that a real client behind a spoofed flood retries
	// over TCP; the others are dropped. 0 drops them all.
	Slip uint32 `mapstructure:"slip"`
	// IPv4Prefix and IPv6Prefix are the prefix lengths that group sources.
	IPv4Prefix uint8 `mapstructure:"ipv4_prefix"`
	IPv6Prefix uint8 `mapstructure:"ipv6_prefix"`
	// Exempt are CIDR prefixes never limited.
	Exempt []string `mapstructure:"exempt"`
}

// TCP holds the limits of the TCP listener.
type TCP struct {
	// MaxConnections caps open TCP connections; more are closed at once.
	MaxConnections uint32 `mapstructure:"max_connections"`
	// MaxPerSource caps the open connections of one source address.
	MaxPerSource uint32 `mapstructure:"max_per_source"`
	// IdleTimeout closes a connection idle this many seconds.
	IdleTimeout uint32 `mapstructure:"idle_timeout"`
	// MaxQueries closes a connection after this many queries; 0: no cap.
	MaxQueries uint32 `mapstructure:"max_queries"`
}

// TTLs are record TTLs in seconds. A field left 0 takes Default; Load and
// Validate fill it in. Each is at most 2147483647 (RFC 2181 §8).
type TTLs struct {
	// Default is the TTL of every type whose own field is 0.
	Default uint32 `mapstructure:"default"`
	// SOA is the TTL of the SOA record itself (RFC 2308 §5 takes the
	// negative-caching TTL from min(SOA TTL, SOA.Minimum)).
	SOA uint32 `mapstructure:"soa"`
	// NS is the TTL of the apex NS records.
	NS uint32 `mapstructure:"ns"`
	// Address is the TTL of A and AAAA records.
	Address uint32 `mapstructure:"address"`
	// SRV is the TTL of SRV records.
	SRV uint32 `mapstructure:"srv"`
	// TXT is the TTL of TXT records.
	TXT uint32 `mapstructure:"txt"`
	// PTR is the TTL of PTR records (DNS-SD browsing).
	PTR uint32 `mapstructure:"ptr"`
	// CNAME is the TTL of CNAME records (service aliases).
	CNAME uint32 `mapstructure:"cname"`
}

// SOA holds the apex SOA fields (RFC 1035 §3.3.13); the serial comes from the
// registry version, not from configuration.
type SOA struct {
	// MName is the primary name server; default the first NameServers name.
	MName string `mapstructure:"mname"`
	// RName is the responsible mailbox in domain-name form; default
	// hostmaster.<origin>. "user@example.com" is accepted and stored as
	// "user.example.com.".
	RName string `mapstructure:"rname"`
	// Refresh is the secondaries' refresh interval in seconds.
	Refresh uint32 `mapstructure:"refresh"`
	// Retry is the secondaries' retry interval in seconds.
	Retry uint32 `mapstructure:"retry"`
	// Expire is when secondaries stop answering without a refresh, in seconds.
	Expire uint32 `mapstructure:"expire"`
	// Minimum is the negative-caching TTL in seconds (RFC 2308 §4).
	Minimum uint32 `mapstructure:"minimum"`
}

// Host is a name with optional addresses.
type Host struct {
	// Name is a fully qualified domain name; a missing trailing dot is added.
	Name string `mapstructure:"name"`
	// Addresses are IPv4/IPv6 literals served as A/AAAA records. They are
	// only allowed when Name is inside the origin: the zone is not
	// authoritative for other names.
	Addresses []string `mapstructure:"addresses"`
}

// ServiceTarget is one SRV record of a service (RFC 2782).
type ServiceTarget struct {
	// Host is the SRV target; "." means the service is decidedly not
	// available (RFC 2782).
	Host string `mapstructure:"host"`
	// Priority orders targets, lowest first.
	Priority uint16 `mapstructure:"priority"`
	// Weight spreads load among targets of equal priority.
	Weight uint16 `mapstructure:"weight"`
	// Port is the target port; 0 means the registry's port for the service.
	Port uint16 `mapstructure:"port"`
	// Addresses are optional glue A/AAAA records; only allowed when Host is
	// inside the origin.
	Addresses []string `mapstructure:"addresses"`
}

// Transfer controls outgoing zone transfers and NOTIFY.
type Transfer struct {
	// AllowNetworks are CIDR prefixes of clients allowed to transfer the zone.
	AllowNetworks []string `mapstructure:"allow_networks"`
	// TSIGKeys are the keys accepted on transfers (RFC 8945); when any is
	// set the caller decides whether a signature is required.
	TSIGKeys []TSIGKey `mapstructure:"tsig_keys"`
	// Notify are "ip:port" addresses of secondaries sent NOTIFY (RFC 1996)
	// when the zone changes; a bare IP gets port 53.
	Notify []string `mapstructure:"notify"`
	// Journal bounds the IXFR journal (RFC 1995), kept in the state
	// directory across restarts.
	Journal Journal `mapstructure:"journal"`
}

// Journal bounds the file of zone differences that IXFR is answered from.
type Journal struct {
	// MaxSize is the most bytes the journal keeps; the oldest differences
	// go first. 0 turns the journal off: IXFR is answered with the whole
	// zone.
	MaxSize uint64 `mapstructure:"max_size"`
	// MaxAge drops differences older than this many seconds; 0 keeps them
	// until MaxSize does.
	MaxAge uint32 `mapstructure:"max_age"`
}

// TSIGKey is a shared secret for transaction signatures (RFC 8945).
type TSIGKey struct {
	// Name is the key name, a fully qualified domain name.
	Name string `mapstructure:"name"`
	// Algorithm is one of hmac-sha1, hmac-sha256 (default), hmac-sha384,
	// hmac-sha512.
	Algorithm string `mapstructure:"algorithm"`
	// Secret is the standard base64 encoding of the key.
	Secret string `mapstructure:"secret"`
}

// Defaults that do not depend on the origin.
const (
	defaultListen         = "127.0.0.1:1053"
	defaultOrigin         = "ports.local."
	defaultRegistryURL    = "https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.xml"
	defaultTTL            = 3600
	defaultRefresh        = 3600
	defaultRetry          = 600
	defaultExpire         = 604800
	defaultMinimum        = 300
	defaultEDNSBufferSize = 1232
	maxWorkers            = 1024
	defaultMetricsListen  = "127.0.0.1:9153"
	defaultLogLevel       = "info"
	defaultLogFormat      = "text"
	defaultGlue           = "127.0.0.1"
	defaultTSIGAlgorithm  = "hmac-sha256"
	defaultPortNames      = "all"
	// The journal holds about as much as one full transfer of the full
	// registry with every port name, and a month: beyond the SOA expire
	// (7 days), a secondary has stopped answering anyway.
	defaultJournalMaxSize = 32 << 20
	defaultJournalMaxAge  = 30 * 24 * 3600
	// A lab default: far above what people and resolvers send, far below a
	// flood.
	defaultRRLRate = 1000
	defaultRRLSlip = 2
)

var defaultAllowNetworks = []string{"127.0.0.0/8", "::1/128"}

// Default returns the configuration used when nothing is configured; it
// equals what Load("", nil, nil) returns.
func Default() Config {
	c := staticDefaults()
	c.deriveDefaults(false)
	if err := c.Validate(); err != nil {
		panic("config: defaults do not validate: " + err.Error())
	}
	return c
}

// deriveDefaults fills the defaults that depend on the origin, so that moving
// the origin moves them. Origin must already be canonical. targetAddrsSet
// tells whether target.addresses was configured (even as an empty list).
func (c *Config) deriveDefaults(targetAddrsSet bool) {
	if len(c.NameServers) == 0 {
		c.NameServers = []Host{{Name: "ns1." + c.Origin, Addresses: []string{defaultGlue}}}
	}
	if c.Target.Name == "" {
		c.Target.Name = "svc." + c.Origin
		if !targetAddrsSet {
			c.Target.Addresses = []string{defaultGlue}
		}
	}
	if c.SOA.MName == "" {
		c.SOA.MName = c.NameServers[0].Name
	}
	if c.SOA.RName == "" {
		c.SOA.RName = "hostmaster." + c.Origin
	}
}
