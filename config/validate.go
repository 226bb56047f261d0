package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// maxRRLRate is the largest rate limit: the limiter's clock counts
// microseconds.
const maxRRLRate = 1_000_000

// maxTTL is the largest TTL: RFC 2181 §8 makes TTLs 31-bit values and tells
// receivers to treat larger ones as 0.
const maxTTL = math.MaxInt32

var (
	logLevels      = []string{"debug", "info", "warn", "error"}
	logFormats     = []string{"text", "json"}
	serviceProtos  = []string{"tcp", "udp", "sctp", "dccp"}
	portNameModes  = []string{"all", "registered"}
	tsigAlgorithms = []string{"hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"}
	// The DNSSEC algorithms RFC 8624 §3.1 has signers implement.
	dnssecAlgorithms = []string{"ecdsap256sha256", "ecdsap384sha384", "ed25519", "rsasha256"}
	dnssecKeys       = []string{"csk", "ksk+zsk"}
	dnssecDenials    = []string{"nsec", "nsec3"}
)

// Validate checks every field and reports all problems at once, joined; each
// wraps [ErrBadValue] and names the key and the value. It also puts c in
// canonical form (see the package doc): names lower-case with a trailing dot,
// TTLs of 0 replaced by TTL.Default, service keys lower-case, and so on, which
// is why it takes a pointer. It does not fill origin-derived defaults; that is
// Load's job, or [Default]'s.
func (c *Config) Validate() error { return joinErrors(c.validate()) }

type validator struct{ errs []*fieldError }

func (v *validator) add(key string, value any, format string, args ...any) {
	v.errs = append(v.errs, badValue(key, value, format, args...))
}

func (c *Config) validate() []*fieldError {
	var v validator
	c.validateListeners(&v)
	originOK := c.validateOrigin(&v)
	c.validateTTLs(&v)
	c.validateNames(&v, originOK)
	c.validateServices(&v, originOK)
	if c.EDNSBufferSize < 512 || c.EDNSBufferSize > 4096 {
		// RFC 6891 §6.2.5: below 512 is treated as 512; above 4096 invites
		// fragmentation, which is what EDNS buffer sizes exist to avoid.
		v.add("edns_buffer_size", c.EDNSBufferSize, "must be in 512..4096")
	}
	if c.Workers > maxWorkers {
		v.add("workers", c.Workers, "must be in 0..%d (0: one per CPU)", maxWorkers)
	}
	c.LogLevel = strings.ToLower(c.LogLevel)
	if !slices.Contains(logLevels, c.LogLevel) {
		v.add("log_level", c.LogLevel, "must be one of %s", strings.Join(logLevels, ", "))
	}
	c.LogFormat = strings.ToLower(c.LogFormat)
	if !slices.Contains(logFormats, c.LogFormat) {
		v.add("log_format", c.LogFormat, "must be one of %s", strings.Join(logFormats, ", "))
	}
	c.PortNames = strings.ToLower(c.PortNames)
	if !slices.Contains(portNameModes, c.PortNames) {
		v.add("port_names", c.PortNames, "must be one of %s", strings.Join(portNameModes, ", "))
	}
	c.validateTransfer(&v)
	c.validateLimits(&v)
	c.validateEncrypted(&v)
	c.validateDNSSEC(&v)
	if originOK {
		c.validateOrigins(&v)
	}
	return v.errs
}

// validateOrigins checks the further origins and the multicast DNS
// interfaces, which need an origin under .local to answer for.
func (c *Config) validateOrigins(v *validator) {
	seen := []string{c.Origin}
	for i := range c.Origins {
		key := fmt.Sprintf("origins[%d]", i)
		o := canonicalName(c.Origins[i])
		c.Origins[i] = o
		switch why := checkHostName(o); {
		case why != "":
			v.add(key, o, "%s", why)
		case o == c.Origin:
			// the origin itself: allowed, nothing more served
		case slices.Contains(seen, o):
			v.add(key, o, "listed twice")
		default:
			for _, other := range seen {
				if inZone(o, other) || inZone(other, o) {
					v.add(key, o, "overlaps %s: origins must not be nested", other)
					break
				}
			}
		}
		seen = append(seen, o)
	}
	c.Origins = nilIfEmpty(c.Origins)
	c.MDNS.Interfaces = nilIfEmpty(c.MDNS.Interfaces)
	for i, name := range c.MDNS.Interfaces {
		key := fmt.Sprintf("mdns.interfaces[%d]", i)
		// Linux interface names: 1-15 bytes, no '/', ':' or white space.
		switch {
		case name == "" || len(name) > 15 || strings.ContainsAny(name, "/: \t\n") || name == "." || name == "..":
			v.add(key, name, "not a network interface name")
		case slices.Contains(c.MDNS.Interfaces[:i], name):
			v.add(key, name, "listed twice")
		}
	}
	if len(c.MDNS.Interfaces) > 0 && !slices.ContainsFunc(c.AllOrigins(), func(o string) bool { return inZone(o, "local.") }) {
		v.add("mdns.interfaces", strings.Join(c.MDNS.Interfaces, ","), "multicast DNS answers names under .local (RFC 6762), and no origin is: add one (origins: [ports.local.])")
	}
}

func (c *Config) validateLimits(v *validator) {
	if u, err := url.Parse(c.RegistryURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.add("registry_url", c.RegistryURL, "must be an http(s) URL")
	}
	if c.RegistryRefresh != 0 && c.RegistryRefresh < 60 {
		v.add("registry_refresh", c.RegistryRefresh, "must be 0 (off) or at least 60 seconds")
	}
	if c.RRL.IPv4Prefix < 8 || c.RRL.IPv4Prefix > 32 {
		v.add("rrl.ipv4_prefix", c.RRL.IPv4Prefix, "must be in 8..32")
	}
	if c.RRL.IPv6Prefix < 16 || c.RRL.IPv6Prefix > 128 {
		v.add("rrl.ipv6_prefix", c.RRL.IPv6Prefix, "must be in 16..128")
	}
	for i, n := range c.RRL.Exempt {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			v.add(fmt.Sprintf("rrl.exempt[%d]", i), n, "is not a CIDR prefix")
			continue
		}
		c.RRL.Exempt[i] = p.Masked().String()
	}
	c.RRL.Exempt = nilIfEmpty(c.RRL.Exempt)
	for _, r := range []struct {
		key  string
		rate uint32
	}{{"rrl.rate", c.RRL.Rate}, {"rrl.nodata_rate", c.RRL.NoDataRate}, {"rrl.nxdomain_rate", c.RRL.NXDomainRate},
		{"rrl.error_rate", c.RRL.ErrorRate}, {"rrl.all_rate", c.RRL.AllRate}} {
		if r.rate > maxRRLRate {
			v.add(r.key, r.rate, "must be in 0..%d responses a second", maxRRLRate)
		}
	}
	if c.RRL.Window < 1 || c.RRL.Window > 3600 {
		v.add("rrl.window", c.RRL.Window, "must be in 1..3600 seconds")
	}
	if c.RRL.Slip > 100 {
		v.add("rrl.slip", c.RRL.Slip, "must be in 0..100")
	}
	if c.RRL.TableSize < 1024 || c.RRL.TableSize > 1<<26 {
		v.add("rrl.table_size", c.RRL.TableSize, "must be in 1024..%d accounts", 1<<26)
	}
	seen := map[string]int{}
	for i, s := range c.Cookies.Secrets {
		key := fmt.Sprintf("cookies.secrets[%d]", i)
		c.Cookies.Secrets[i] = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "0x")
		if b, err := hex.DecodeString(c.Cookies.Secrets[i]); err != nil || len(b) != 16 {
			v.add(key, "(secret)", "must be 128 bits in hex (32 hex digits)")
		} else if j, dup := seen[c.Cookies.Secrets[i]]; dup {
			v.add(key, "(secret)", "duplicate of cookies.secrets[%d]", j)
		} else {
			seen[c.Cookies.Secrets[i]] = i
		}
	}
	c.Cookies.Secrets = nilIfEmpty(c.Cookies.Secrets)
	if c.TCP.MaxConnections == 0 {
		v.add("tcp.max_connections", c.TCP.MaxConnections, "must be at least 1")
	}
	if c.TCP.MaxPerSource == 0 || c.TCP.MaxPerSource > c.TCP.MaxConnections {
		v.add("tcp.max_per_source", c.TCP.MaxPerSource, "must be in 1..tcp.max_connections")
	}
	if c.TCP.IdleTimeout == 0 || c.TCP.IdleTimeout > 3600 {
		v.add("tcp.idle_timeout", c.TCP.IdleTimeout, "must be in 1..3600 seconds")
	}
}

// nilIfEmpty makes "configured as empty" and "not configured" the same
// value, so that two equal configurations are reflect.DeepEqual (a reload
// can skip rebuilding the zone when nothing changed).
func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

func (c *Config) validateListeners(v *validator) {
	if len(c.Listen) == 0 {
		v.add("listen", "", "at least one address is required")
	}
	for i, a := range c.Listen {
		key := fmt.Sprintf("listen[%d]", i)
		if why := checkHostPort(a, true, false); why != "" {
			v.add(key, a, "%s", why)
		} else if j := slices.Index(c.Listen[:i], a); j >= 0 {
			v.add(key, a, "duplicate of listen[%d]", j)
		}
	}
	if c.MetricsListen != "" {
		if why := checkHostPort(c.MetricsListen, true, false); why != "" {
			v.add("metrics_listen", c.MetricsListen, "%s", why)
		}
	}
}

// validateOrigin reports whether the origin is usable, since names derived
// from or checked against a bad origin would only add noise.
func (c *Config) validateOrigin(v *validator) bool {
	c.Origin = canonicalName(c.Origin)
	if why := checkName(c.Origin); why != "" {
		v.add("origin", c.Origin, "%s", why)
		return false
	}
	if c.Origin == "." {
		v.add("origin", c.Origin, "must not be the root")
		return false
	}
	return true
}

func (c *Config) validateTTLs(v *validator) {
	t := &c.TTL
	fields := []struct {
		key string
		p   *uint32
	}{
		{"ttl.default", &t.Default}, {"ttl.soa", &t.SOA}, {"ttl.ns", &t.NS},
		{"ttl.address", &t.Address}, {"ttl.srv", &t.SRV}, {"ttl.txt", &t.TXT},
		{"ttl.ptr", &t.PTR}, {"ttl.cname", &t.CNAME},
		{"soa.refresh", &c.SOA.Refresh}, {"soa.retry", &c.SOA.Retry},
		{"soa.expire", &c.SOA.Expire}, {"soa.minimum", &c.SOA.Minimum},
	}
	for _, f := range fields {
		if *f.p > maxTTL {
			v.add(f.key, *f.p, "out of range 0..%d (RFC 2181 §8)", maxTTL)
		}
	}
	for _, f := range fields[1:8] {
		if *f.p == 0 {
			*f.p = t.Default
		}
	}
}

func (c *Config) validateNames(v *validator, originOK bool) {
	if len(c.NameServers) == 0 {
		// RFC 1035 §5.2: a zone's apex has NS records.
		v.add("name_servers", "", "at least one name server is required")
	}
	for i := range c.NameServers {
		key := fmt.Sprintf("name_servers[%d]", i)
		c.validateHost(v, key, &c.NameServers[i], originOK)
		for j := range i {
			if c.NameServers[j].Name == c.NameServers[i].Name {
				v.add(key+".name", c.NameServers[i].Name, "duplicate of name_servers[%d]", j)
				break
			}
		}
	}
	c.validateHost(v, "target", &c.Target, originOK)

	c.SOA.MName = canonicalName(c.SOA.MName)
	if why := checkHostName(c.SOA.MName); why != "" {
		v.add("soa.mname", c.SOA.MName, "%s", why)
	}
	// RFC 1035 §8: the mailbox local part becomes the first label.
	if local, domain, ok := strings.Cut(c.SOA.RName, "@"); ok {
		if strings.Contains(local, ".") {
			v.add("soa.rname", c.SOA.RName, "a local part with a dot needs an escape; write the domain-name form")
			return
		}
		c.SOA.RName = local + "." + domain
	}
	c.SOA.RName = canonicalName(c.SOA.RName)
	if why := checkHostName(c.SOA.RName); why != "" {
		v.add("soa.rname", c.SOA.RName, "%s", why)
	}
}

func (c *Config) validateHost(v *validator, key string, h *Host, originOK bool) {
	h.Name = canonicalName(h.Name)
	h.Addresses = nilIfEmpty(h.Addresses)
	if why := checkHostName(h.Name); why != "" {
		v.add(key+".name", h.Name, "%s", why)
		return
	}
	c.validateGlue(v, key+".addresses", h.Name, h.Addresses, originOK)
}

// validateGlue checks addresses for name: the zone can serve A/AAAA only for
// names at or below its origin.
func (c *Config) validateGlue(v *validator, key, name string, addrs []string, originOK bool) {
	if len(addrs) > 0 && originOK && !inZone(name, c.Origin) {
		v.add(key, strings.Join(addrs, ","), "addresses are only served for names inside %s, not %s", c.Origin, name)
		return
	}
	for i, a := range addrs {
		ip, err := netip.ParseAddr(a)
		switch {
		case err != nil:
			v.add(fmt.Sprintf("%s[%d]", key, i), a, "not an IP address")
		case ip.Zone() != "":
			v.add(fmt.Sprintf("%s[%d]", key, i), a, "a zoned address cannot be served in A/AAAA records")
		default:
			addrs[i] = ip.String()
		}
	}
}

func (c *Config) validateServices(v *validator, originOK bool) {
	keys := make([]string, 0, len(c.Services))
	for k := range c.Services {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string][]ServiceTarget, len(c.Services))
	for _, k := range keys {
		targets := c.Services[k]
		lk := strings.ToLower(k)
		key := "services[" + lk + "]"
		if why := checkServiceKey(lk); why != "" {
			v.add(key, k, "%s", why)
			continue
		}
		if _, dup := out[lk]; dup {
			v.add(key, k, "duplicate service (keys are case-insensitive)")
			continue
		}
		if len(targets) == 0 {
			v.add(key, "", "at least one target is required")
		}
		for i := range targets {
			t := &targets[i]
			tkey := fmt.Sprintf("%s[%d]", key, i)
			t.Host = canonicalName(t.Host)
			t.Addresses = nilIfEmpty(t.Addresses)
			if t.Host == "." {
				// RFC 2782: a target of "." means the service is decidedly
				// not available at this domain, so it stands alone.
				if len(targets) > 1 || len(t.Addresses) > 0 {
					v.add(tkey+".host", t.Host, `"." (service not available) must be the only target and have no addresses`)
				}
				continue
			}
			if why := checkHostName(t.Host); why != "" {
				v.add(tkey+".host", t.Host, "%s", why)
				continue
			}
			c.validateGlue(v, tkey+".addresses", t.Host, t.Addresses, originOK)
		}
		out[lk] = targets
	}
	c.Services = out
	if len(out) == 0 {
		c.Services = nil
	}
}

func (c *Config) validateTransfer(v *validator) {
	t := &c.Transfer
	t.AllowNetworks = nilIfEmpty(t.AllowNetworks)
	t.TSIGKeys = nilIfEmpty(t.TSIGKeys)
	t.Notify = nilIfEmpty(t.Notify)
	for i, s := range t.AllowNetworks {
		key := fmt.Sprintf("transfer.allow_networks[%d]", i)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if ip, err := netip.ParseAddr(s); err == nil {
				v.add(key, s, "not a CIDR prefix; for one host write %s/%d", ip, ip.BitLen())
			} else {
				v.add(key, s, "not a CIDR prefix")
			}
			continue
		}
		t.AllowNetworks[i] = p.String()
	}
	for i := range t.TSIGKeys {
		k := &t.TSIGKeys[i]
		key := fmt.Sprintf("transfer.tsig_keys[%d]", i)
		k.Name = canonicalName(k.Name)
		if why := checkName(k.Name); why != "" {
			v.add(key+".name", k.Name, "%s", why)
		} else if k.Name == "." {
			v.add(key+".name", k.Name, "must not be the root")
		}
		for j := range i {
			if t.TSIGKeys[j].Name == k.Name {
				v.add(key+".name", k.Name, "duplicate of transfer.tsig_keys[%d]", j)
				break
			}
		}
		// miekg/dns spells algorithms as names ("hmac-sha256."); accept both.
		k.Algorithm = strings.TrimSuffix(strings.ToLower(k.Algorithm), ".")
		if k.Algorithm == "" {
			k.Algorithm = defaultTSIGAlgorithm
		}
		if !slices.Contains(tsigAlgorithms, k.Algorithm) {
			v.add(key+".algorithm", k.Algorithm, "must be one of %s", strings.Join(tsigAlgorithms, ", "))
		}
		// The secret itself never goes into an error message: errors end up
		// in logs.
		redacted := fmt.Sprintf("<%d characters, redacted>", len(k.Secret))
		if b, err := base64.StdEncoding.DecodeString(k.Secret); err != nil {
			v.add(key+".secret", redacted, "not standard base64: %v", err)
		} else if len(b) == 0 {
			v.add(key+".secret", redacted, "empty secret")
		}
	}
	// Below 64 KiB not even the delta of a small registry change fits; the
	// journal is held in memory too.
	if t.Journal.MaxSize != 0 && (t.Journal.MaxSize < 64<<10 || t.Journal.MaxSize > 1<<40) {
		v.add("transfer.journal.max_size", t.Journal.MaxSize, "must be 0 (no journal) or 65536 to 1099511627776 bytes (1 TiB)")
	}
	for i, s := range t.Notify {
		key := fmt.Sprintf("transfer.notify[%d]", i)
		if ip, err := netip.ParseAddr(s); err == nil {
			t.Notify[i] = net.JoinHostPort(ip.String(), "53")
			continue
		}
		if why := checkHostPort(s, false, true); why != "" {
			v.add(key, s, "%s", why)
		}
	}
}

// checkHostPort returns why s is not a usable "ip:port", or "". The host must
// be an IP literal because listeners bind before any resolver is trusted.
func checkHostPort(s string, allowZeroPort, requireHost bool) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "want host:port: " + ae.Err
		}
		return "want host:port"
	}
	switch {
	case host == "" && requireHost:
		return "missing IP address"
	case host != "":
		if _, err := netip.ParseAddr(host); err != nil {
			return "host is not an IP address"
		}
	}
	n, err := strconv.ParseUint(port, 10, 64)
	switch {
	case err != nil && errors.Is(err, strconv.ErrRange), err == nil && n > math.MaxUint16:
		return "port out of range"
	case err != nil:
		return "port is not a number"
	case n == 0 && !allowZeroPort:
		return "port 0 is not allowed"
	}
	return ""
}

// canonicalName lower-cases a name and makes it fully qualified; names in
// configuration are always absolute.
func canonicalName(s string) string {
	s = strings.ToLower(s)
	if s != "" && !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// checkHostName is checkName for names that must not be the root.
func checkHostName(name string) string {
	if name == "." {
		return "must not be the root"
	}
	return checkName(name)
}

// checkName returns why a canonical name is not a valid domain name, or "".
// Labels are letters, digits, hyphens and underscores (underscores for names
// such as _tcp), without a leading or trailing hyphen.
func checkName(name string) string {
	switch {
	case name == "":
		return "empty name"
	case name == ".":
		return ""
	case len(name)+1 > 255:
		// RFC 1035 §2.3.4: 255 octets in wire form, one more than the text
		// form of an absolute name without escapes.
		return "name longer than 255 octets"
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		switch {
		case label == "":
			return "empty label"
		case len(label) > 63:
			return fmt.Sprintf("label %q longer than 63 octets", label)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Sprintf("label %q starts or ends with a hyphen", label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Sprintf("label %q has %q; use letters, digits, hyphens", label, r)
			}
		}
	}
	return ""
}

// checkServiceKey returns why k is not "name/proto", or "". The name follows
// RFC 6335 §5.1 loosely: 1-15 letters, digits and hyphens, at least one
// letter, no hyphen at either end.
func checkServiceKey(k string) string {
	name, proto, ok := strings.Cut(k, "/")
	if !ok {
		return `want "name/proto", e.g. "rets/tcp"`
	}
	if !slices.Contains(serviceProtos, proto) {
		return fmt.Sprintf("protocol %q is not one of %s", proto, strings.Join(serviceProtos, ", "))
	}
	if len(name) < 1 || len(name) > 15 {
		return "service name must be 1-15 characters (RFC 6335 §5.1)"
	}
	letter := false
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z':
			letter = true
		case r >= '0' && r <= '9', r == '-':
		default:
			return fmt.Sprintf("service name has %q; use letters, digits, hyphens (RFC 6335 §5.1)", r)
		}
	}
	switch {
	case !letter:
		return "service name needs a letter (RFC 6335 §5.1)"
	case name[0] == '-' || name[len(name)-1] == '-':
		return "service name starts or ends with a hyphen (RFC 6335 §5.1)"
	}
	return ""
}

// inZone reports whether canonical name is at or below canonical origin.
func inZone(name, origin string) bool {
	return name == origin || strings.HasSuffix(name, "."+origin)
}

// Bounds of the DNSSEC times: a signature valid for at least an hour and
// at most a year, re-signed no more often than every ten minutes (each
// re-signing rebuilds the zone), inception at most a week back.
const (
	minValidity        = 3600
	maxValidity        = 365 * 86400
	minResignInterval  = 600
	maxInceptionOffset = 7 * 86400
	maxNSEC3Iterations = 100
)

func (c *Config) validateDNSSEC(v *validator) {
	d := &c.DNSSEC
	d.KeyFiles = nilIfEmpty(d.KeyFiles)
	if d.KeyDirectory != "" && d.KeyFiles != nil {
		v.add("dnssec.key_files", strings.Join(d.KeyFiles, ","), "set dnssec.key_directory or dnssec.key_files, not both")
	}
	for i, f := range d.KeyFiles {
		if f == "" {
			v.add(fmt.Sprintf("dnssec.key_files[%d]", i), f, "empty path")
		}
	}
	d.Algorithm = strings.ToLower(d.Algorithm)
	if !slices.Contains(dnssecAlgorithms, d.Algorithm) {
		v.add("dnssec.algorithm", d.Algorithm, "must be one of %s", strings.Join(dnssecAlgorithms, ", "))
	}
	d.Keys = strings.ToLower(d.Keys)
	if !slices.Contains(dnssecKeys, d.Keys) {
		v.add("dnssec.keys", d.Keys, "must be one of %s", strings.Join(dnssecKeys, ", "))
	}
	if d.Validity < minValidity || d.Validity > maxValidity {
		v.add("dnssec.validity", d.Validity, "must be in %d..%d seconds", minValidity, maxValidity)
	} else if d.Refresh == 0 || d.Refresh+minResignInterval > d.Validity {
		v.add("dnssec.refresh", d.Refresh, "must be in 1..%d seconds (dnssec.validity less %d)", d.Validity-minResignInterval, minResignInterval)
	}
	if d.InceptionOffset > maxInceptionOffset {
		v.add("dnssec.inception_offset", d.InceptionOffset, "must be at most %d seconds", maxInceptionOffset)
	}
	if d.DNSKEYTTL > maxTTL {
		v.add("dnssec.dnskey_ttl", d.DNSKEYTTL, "must be at most %d (RFC 2181 §8)", maxTTL)
	}
	d.Denial = strings.ToLower(d.Denial)
	if !slices.Contains(dnssecDenials, d.Denial) {
		v.add("dnssec.denial", d.Denial, "must be one of %s", strings.Join(dnssecDenials, ", "))
	}
	if d.NSEC3.Iterations > maxNSEC3Iterations {
		// RFC 9276 §3.1: 0; validators give up on many (BIND and Unbound
		// treat more than 150 as insecure, some far fewer).
		v.add("dnssec.nsec3.iterations", d.NSEC3.Iterations, "must be at most %d; 0 is recommended (RFC 9276)", maxNSEC3Iterations)
	}
	d.NSEC3.Salt = strings.ToLower(d.NSEC3.Salt)
	if b, err := hex.DecodeString(d.NSEC3.Salt); err != nil {
		v.add("dnssec.nsec3.salt", d.NSEC3.Salt, "not hex")
	} else if len(b) > 255 {
		v.add("dnssec.nsec3.salt", d.NSEC3.Salt, "longer than 255 octets")
	}
}
