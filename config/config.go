package config

import "slices"

// Config is the whole validated configuration. The mapstructure tags are the
// keys of the file; environment variables and flags are derived from them.
type Config struct {
	// Listen holds "host:port" addresses served on both UDP and TCP. The host
	// is an IP literal or empty (all addresses); port 0 picks a free port.
	Listen []string `mapstructure:"listen"`
	// Origin is the zone apex, lower-case and fully qualified.
	Origin string `mapstructure:"origin"`
	// Origins are further zone apexes served with the same content, each
	// with its own SOA and NS ("ports.home.arpa." beside "ports.local.").
	// Names configured inside Origin (name servers, target, service
	// targets, SOA names) are mirrored into each: ns1.ports.local. becomes
	// ns1.ports.home.arpa.; names outside it stay as they are. Listing
	// Origin itself here is allowed and changes nothing. Origins must not
	// be nested in one another.
	Origins []string `mapstructure:"origins"`
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
	// too). Unset, it is "all", or "registered" when DNSSEC is enabled:
	// signing every port name for secondaries takes about 30 s of CPU at
	// each re-signing and 270 MiB more memory (docs/transfers.md).
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
	// HTTP server; "" (the default) disables it.
	MetricsListen string `mapstructure:"metrics_listen"`
	// LogLevel is one of debug, info, warn, error.
	LogLevel string `mapstructure:"log_level"`
	// LogFormat is text or json.
	LogFormat string `mapstructure:"log_format"`
	// QueryLog logs every query at info level when true.
	QueryLog bool `mapstructure:"query_log"`
	// Transfer controls zone transfers (AXFR/IXFR) and NOTIFY.
	Transfer Transfer `mapstructure:"transfer"`
	// RRL is response rate limiting of UDP answers, classified as BIND, NSD
	// and Knot classify them (docs/rrl.md).
	RRL RRL `mapstructure:"rrl"`
	// Cookies are DNS Cookies (RFC 7873) with interoperable server cookies
	// (RFC 9018).
	Cookies Cookies `mapstructure:"cookies"`
	// TCP bounds what TCP clients may hold (RFC 7766 §6.2.3).
	TCP TCP `mapstructure:"tcp"`
	// TLS is DNS over TLS (RFC 7858) and the certificate that every
	// encrypted transport presents.
	TLS TLS `mapstructure:"tls"`
	// HTTPS is DNS over HTTPS (RFC 8484).
	HTTPS Encrypted `mapstructure:"https"`
	// QUIC is DNS over QUIC (RFC 9250).
	QUIC Encrypted `mapstructure:"quic"`
	// XoT protects zone transfers with TLS (RFC 9103).
	XoT XoT `mapstructure:"xot"`
	// DNSSEC signs the zone: every answer to a query with the DO bit,
	// online, and a fully signed zone for export and zone transfers.
	DNSSEC DNSSEC `mapstructure:"dnssec"`
	// MDNS is the multicast DNS responder (RFC 6762) for origins under
	// .local, off unless interfaces are named.
	MDNS MDNS `mapstructure:"mdns"`
}

// MDNS configures the multicast DNS responder.
type MDNS struct {
	// Interfaces are the network interfaces (by name, "eth0") on which
	// svcdns answers multicast DNS for the origins under .local, on UDP
	// port 5353 (224.0.0.251 and ff02::fb). Empty: no multicast DNS.
	Interfaces []string `mapstructure:"interfaces"`
}

// AllOrigins returns every origin served: Origin first, then the other
// Origins, each once.
func (c Config) AllOrigins() []string {
	out := []string{c.Origin}
	for _, o := range c.Origins {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// DNSSEC is how the zone is signed. Times are in seconds.
type DNSSEC struct {
	// Enabled turns signing on.
	Enabled bool `mapstructure:"enabled"`
	// KeyDirectory holds the zone's keys as BIND key files
	// (K<origin>+<alg>+<tag>.key and .private, as dnssec-keygen writes
	// them), used as their timing metadata says. "" means
	// <state_dir>/dnssec, where keys are generated on first start
	// (Algorithm, Keys) and reused after; with a directory set, svcdns
	// never generates keys.
	KeyDirectory string `mapstructure:"key_directory"`
	// KeyFiles lists key files one by one (the .key, the .private or their
	// common base name); when set, only these keys are used.
	KeyFiles []string `mapstructure:"key_files"`
	// Algorithm is the algorithm of generated keys: ecdsap256sha256,
	// ecdsap384sha384, ed25519 or rsasha256.
	Algorithm string `mapstructure:"algorithm"`
	// Keys is the set of keys generated: csk (one key signs everything) or
	// ksk+zsk (a key-signing key for the DNSKEY RRset, a zone-signing key
	// for the rest).
	Keys string `mapstructure:"keys"`
	// Validity is how long a signature is valid.
	Validity uint32 `mapstructure:"validity"`
	// Refresh is the validity every signature served still has: the zone
	// is re-signed every validity-refresh seconds.
	Refresh uint32 `mapstructure:"refresh"`
	// InceptionOffset backdates each signature's inception, for validators
	// whose clocks are behind.
	InceptionOffset uint32 `mapstructure:"inception_offset"`
	// DNSKEYTTL is the TTL of the DNSKEY, CDS and CDNSKEY records.
	DNSKEYTTL uint32 `mapstructure:"dnskey_ttl"`
	// SignatureCache is how many RRsets' signatures are kept for online
	// answers.
	SignatureCache uint32 `mapstructure:"signature_cache"`
	// Denial is the chain of the signed zone for export and transfers:
	// nsec or nsec3. Online answers use compact denial (RFC 9824) either way.
	Denial string `mapstructure:"denial"`
	// NSEC3 holds the NSEC3 parameters (RFC 5155; RFC 9276 asks for no
	// extra iterations and no salt).
	NSEC3 NSEC3 `mapstructure:"nsec3"`
}

// NSEC3 holds the NSEC3 hash parameters.
type NSEC3 struct {
	// Iterations is the number of extra hash iterations, 0..100.
	Iterations uint16 `mapstructure:"iterations"`
	// Salt is the salt in hex, at most 255 octets; "" for none.
	Salt string `mapstructure:"salt"`
}

// TLS is the DNS over TLS listener and the certificate of the encrypted
// transports (TLS, HTTPS, QUIC).
type TLS struct {
	// Listen holds "ip:port" addresses served with DNS over TLS (and zone
	// transfers over TLS); a bare IP means port 853. Empty: none.
	Listen []string `mapstructure:"listen"`
	// CertFile and KeyFile are PEM files: the certificate chain and its
	// private key, reloaded when they change and on SIGHUP. Both "" with
	// an encrypted listener configured: a self-signed lab certificate
	// generated once in the state directory.
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// MinVersion is the oldest TLS version accepted, "1.2" or "1.3"; 1.3
	// is negotiated whenever the client offers it (QUIC always uses 1.3).
	MinVersion string `mapstructure:"min_version"`
	// HandshakeTimeout bounds a TLS or QUIC handshake, in seconds, on
	// every encrypted transport.
	HandshakeTimeout uint32 `mapstructure:"handshake_timeout"`
	// MaxConnections, MaxPerSource, IdleTimeout and MaxQueries bound DNS
	// over TLS connections as the tcp keys bound TCP ones.
	MaxConnections uint32 `mapstructure:"max_connections"`
	MaxPerSource   uint32 `mapstructure:"max_per_source"`
	IdleTimeout    uint32 `mapstructure:"idle_timeout"`
	MaxQueries     uint32 `mapstructure:"max_queries"`
}

// Encrypted is a DNS over HTTPS or DNS over QUIC listener with its limits.
type Encrypted struct {
	// Listen holds "ip:port" addresses; a bare IP means port 443 for
	// HTTPS, 853 for QUIC. Empty: none.
	Listen []string `mapstructure:"listen"`
	// MaxConnections caps open connections, MaxPerSource those of one
	// source address; IdleTimeout closes an idle one (seconds).
	MaxConnections uint32 `mapstructure:"max_connections"`
	MaxPerSource   uint32 `mapstructure:"max_per_source"`
	IdleTimeout    uint32 `mapstructure:"idle_timeout"`
	// MaxStreams caps the queries one connection may have in flight at
	// once (QUIC streams, HTTP/2 streams).
	MaxStreams uint32 `mapstructure:"max_streams"`
}

// XoT holds the rules of zone transfers over TLS (RFC 9103), applied on
// top of transfer.allow_networks and transfer.tsig_keys.
type XoT struct {
	// RequireClientCert refuses a transfer over TLS unless the secondary
	// presents a certificate issued by ClientCAFile (mutual TLS).
	RequireClientCert bool `mapstructure:"require_client_cert"`
	// ClientCAFile is a PEM bundle of the CAs that issue secondaries'
	// client certificates.
	ClientCAFile string `mapstructure:"client_ca_file"`
	// TLSOnly refuses transfers over plain TCP: the zone leaves only
	// encrypted.
	TLSOnly bool `mapstructure:"tls_only"`
}

// RRL limits the UDP responses sent to one client prefix, per class of
// response and name, so that svcdns cannot be used to reflect a flood at a
// spoofed address while clients asking different questions are never
// limited. Each account is a token bucket earning its rate a second.
type RRL struct {
	// Rate is the positive answers per second to one prefix for one name
	// and type (BIND's responses-per-second); the per-class rates below
	// default to it, so 0 turns rate limiting off.
	Rate uint32 `mapstructure:"rate"`
	// NoDataRate limits NODATA answers per prefix and name; NXDomainRate
	// NXDOMAIN answers per prefix and zone (a random-subdomain flood is one
	// account); ErrorRate errors (REFUSED, FORMERR...) per prefix. Each
	// defaults to Rate; 0 leaves the class unlimited.
	NoDataRate   uint32 `mapstructure:"nodata_rate"`
	NXDomainRate uint32 `mapstructure:"nxdomain_rate"`
	ErrorRate    uint32 `mapstructure:"error_rate"`
	// AllRate limits all responses to one prefix together (BIND's
	// all-per-second); 0, the default, sets no such limit.
	AllRate uint32 `mapstructure:"all_rate"`
	// Window is how many seconds of its rate an account banks: a client
	// quiet for that long may burst Window*rate responses.
	Window uint32 `mapstructure:"window"`
	// Slip sends every Slip-th limited response as an empty truncated
	// reply (TC=1; BADCOOKIE with the server cookie to a client that sent
	// a DNS cookie), so that a real client behind a spoofed flood retries
	// over TCP or with its cookie; the others are dropped. 0 drops them all.
	Slip uint32 `mapstructure:"slip"`
	// IPv4Prefix and IPv6Prefix are the prefix lengths that group clients.
	IPv4Prefix uint8 `mapstructure:"ipv4_prefix"`
	IPv6Prefix uint8 `mapstructure:"ipv6_prefix"`
	// Exempt are CIDR prefixes never limited.
	Exempt []string `mapstructure:"exempt"`
	// LogOnly counts and logs the responses that would be limited, and
	// sends them.
	LogOnly bool `mapstructure:"log_only"`
	// TableSize is the number of accounts kept (8 bytes each), fixed so
	// that a flood of spoofed sources cannot grow it.
	TableSize uint32 `mapstructure:"table_size"`
}

// Cookies configures DNS Cookies (RFC 7873, RFC 9018 server cookies).
type Cookies struct {
	// Enabled answers a query's COOKIE option with a server cookie.
	Enabled bool `mapstructure:"enabled"`
	// Secrets are 128-bit server secrets in hex (32 digits), shared with
	// the other servers of an anycast set: the first makes the cookies
	// sent, every one is accepted (RFC 9018 §5). Empty: a secret generated
	// on first start and kept in the state directory.
	Secrets []string `mapstructure:"secrets"`
	// RequireCookie answers a UDP query that carries a DNS cookie but no
	// valid server cookie with BADCOOKIE and the cookie to retry with.
	RequireCookie bool `mapstructure:"require_cookie"`
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
	// Metrics are off unless asked for: a listener nobody asked for keeps
	// a second instance, started with only --listen changed, from starting.
	defaultMetricsListen = ""
	defaultLogLevel      = "info"
	defaultLogFormat     = "text"
	defaultGlue          = "127.0.0.1"
	defaultTSIGAlgorithm = "hmac-sha256"
	// The journal holds about as much as one full transfer of the full
	// registry with every port name, and a month: beyond the SOA expire
	// (7 days), a secondary has stopped answering anyway.
	defaultJournalMaxSize = 32 << 20
	defaultJournalMaxAge  = 30 * 24 * 3600
	// A lab default: far above what people and resolvers send, far below a
	// flood.
	defaultRRLRate      = 200
	defaultRRLWindow    = 5
	defaultRRLSlip      = 2
	defaultRRLTableSize = 1 << 18
	// Encrypted transports (RFC 7858 §3.1, RFC 8484, RFC 9250 §4.1.1).
	defaultDoTPort       = "853"
	defaultDoHPort       = "443"
	defaultDoQPort       = "853"
	defaultTLSMinVersion = "1.2"
	// DNSSEC: two weeks of validity re-signed weekly, as Knot and BIND
	// keep signatures, and the algorithm RFC 8624 recommends.
	defaultDNSSECAlgorithm      = "ecdsap256sha256"
	defaultDNSSECKeys           = "csk"
	defaultDNSSECValidity       = 14 * 86400
	defaultDNSSECRefresh        = 7 * 86400
	defaultDNSSECInception      = 3600
	defaultDNSSECDNSKEYTTL      = 3600
	defaultDNSSECSignatureCache = 100000
	defaultDNSSECDenial         = "nsec"
)

var defaultAllowNetworks = []string{"127.0.0.0/8", "::1/128"}

// Default returns the configuration used when nothing is configured; it
// equals what Load("", nil, nil) returns.
func Default() Config {
	c := staticDefaults()
	c.deriveDefaults(func(string) bool { return false })
	if err := c.Validate(); err != nil {
		panic("config: defaults do not validate: " + err.Error())
	}
	return c
}

// deriveDefaults fills the defaults that depend on the origin, so that moving
// the origin moves them, and the per-class rates that follow rrl.rate.
// Origin must already be canonical. isSet tells whether a key was
// configured (target.addresses even as an empty list, a rate even as 0).
func (c *Config) deriveDefaults(isSet func(key string) bool) {
	for _, r := range []struct {
		key string
		p   *uint32
	}{{"rrl.nodata_rate", &c.RRL.NoDataRate}, {"rrl.nxdomain_rate", &c.RRL.NXDomainRate}, {"rrl.error_rate", &c.RRL.ErrorRate}} {
		if !isSet(r.key) {
			*r.p = c.RRL.Rate
		}
	}
	if !isSet("port_names") {
		c.PortNames = "all"
		if c.DNSSEC.Enabled {
			c.PortNames = "registered"
		}
	}
	targetAddrsSet := isSet("target.addresses")
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
