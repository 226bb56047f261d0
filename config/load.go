package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

const envPrefix = "SVCDNS_"

// envIgnored are SVCDNS_ variables that are not settings: SVCDNS_SHARED
// locates test data, and SVCDNS_CONFIG is left for the cmd layer to use as
// the file path.
var envIgnored = []string{"SVCDNS_SHARED", "SVCDNS_CONFIG"}

// flagKeys maps the flags of AddFlags to keys; --config is the file path and
// is not a key.
var flagKeys = []struct{ flag, key string }{
	{"listen", "listen"},
	{"origin", "origin"},
	{"registry", "registry"},
	{"metrics-listen", "metrics_listen"},
	{"log-level", "log_level"},
	{"log-format", "log_format"},
	{"query-log", "query_log"},
	{"origins", "origins"},
	{"mdns-interfaces", "mdns.interfaces"},
	{"port-names", "port_names"},
}

var fileTypes = []string{"yaml", "yml", "toml", "json"}

// Load reads the optional file at path (YAML, TOML or JSON by extension; ""
// means no file), the SVCDNS_* variables in env (in os.Environ form; nil
// means none) and the flags of AddFlags that are Changed in flags (nil means
// none). Precedence is flags > env > file > defaults. Defaults that depend on
// the origin (ns1.<origin>, svc.<origin>, hostmaster.<origin>) are computed
// from the final origin, for whichever of those was not configured.
//
// On error the Config is the zero value and the error lists every problem
// found; each wraps [ErrUnknownKey] or [ErrBadValue] and names its source
// (file path, variable or flag), the key and the value. Errors reading or
// parsing the file wrap the underlying error instead.
func Load(path string, env []string, flags *pflag.FlagSet) (Config, error) {
	v := viper.New()
	// sources maps a key, as viper flattens it ("ttl.srv", "services.rets/tcp"),
	// to where its winning value came from, for error messages.
	sources := map[string]string{}
	var errs []*fieldError

	if path != "" {
		if err := readFile(v, path); err != nil {
			return Config{}, err
		}
		for _, u := range unknownKeys(settings(v), configType, "") {
			errs = append(errs, unknown(path, u.key, u.suggestion, ""))
		}
		// Prefixes too: a value of the wrong shape ("rets/tcp: {host: x}")
		// flattens to keys below the one the decoder complains about.
		for _, k := range v.AllKeys() {
			segs := strings.Split(k, ".")
			for i := range segs {
				sources[strings.Join(segs[:i+1], ".")] = path
			}
		}
	}
	setDefaults(v, staticDefaults())
	errs = append(errs, applyEnv(v, env, sources)...)
	applyFlags(v, flags, sources)
	if len(errs) > 0 {
		return Config{}, joinErrors(errs)
	}

	var c Config
	if err := v.UnmarshalExact(&c, viper.DecodeHook(decodeHook)); err != nil {
		return Config{}, joinErrors(attribute(decodeErrors(err), sources))
	}
	var ov validator
	if !c.validateOrigin(&ov) {
		return Config{}, joinErrors(attribute(ov.errs, sources))
	}
	c.deriveDefaults(v.IsSet)
	if errs := c.validate(); len(errs) > 0 {
		return Config{}, joinErrors(attribute(errs, sources))
	}
	return c, nil
}

// AddFlags registers every flag of Load on fs: [AddZoneFlags] and
// [AddServeFlags]. Their defaults are shown in help only; Load takes a
// flag's value only when the user changed it. Load does not read --config:
// the caller passes its value as Load's path.
func AddFlags(fs *pflag.FlagSet) {
	AddZoneFlags(fs)
	AddServeFlags(fs)
}

// AddZoneFlags registers the flags every command that builds the zone takes
// (serve, lookup, zone export): --config, --origin, --registry,
// --origins and --port-names.
func AddZoneFlags(fs *pflag.FlagSet) {
	d := staticDefaults()
	fs.String("config", "", "configuration file, .yaml, .yml, .toml or .json (SVCDNS_* variables and flags override it)")
	fs.String("origin", d.Origin, "zone origin")
	fs.String("registry", d.Registry, "IANA service-name/port registry file (default: the cache that 'svcdns registry update' fills, when it exists, else the embedded copy)")
	fs.StringSlice("origins", d.Origins, "more zone origins served with the same content (ports.home.arpa.); repeat or comma-separate")
	fs.String("port-names", "", "which _PORT._PROTO names the zone has, and transfers and export carry: "+strings.Join(portNameModes, ", ")+
		" (default all, or registered with dnssec.enabled)")
}

// AddServeFlags registers the flags only a running server takes: --listen,
// --metrics-listen, --log-level, --log-format, --query-log and
// --mdns-interfaces.
func AddServeFlags(fs *pflag.FlagSet) {
	d := staticDefaults()
	fs.StringSlice("listen", d.Listen, "UDP+TCP listen address ip:port; repeat or comma-separate for several")
	fs.String("metrics-listen", d.MetricsListen, `address of /metrics, /healthz and /readyz, e.g. 127.0.0.1:9153 ("": off)`)
	fs.String("log-level", d.LogLevel, "log level: "+strings.Join(logLevels, ", "))
	fs.String("log-format", d.LogFormat, "log format: "+strings.Join(logFormats, ", "))
	fs.Bool("query-log", d.QueryLog, "log every query")
	fs.StringSlice("mdns-interfaces", d.MDNS.Interfaces, "answer multicast DNS for .local origins on these interfaces; repeat or comma-separate")
}

// staticDefaults are the defaults that do not depend on the origin.
func staticDefaults() Config {
	return Config{
		Listen:         []string{defaultListen},
		Origin:         defaultOrigin,
		RegistryURL:    defaultRegistryURL,
		TTL:            TTLs{Default: defaultTTL},
		SOA:            SOA{Refresh: defaultRefresh, Retry: defaultRetry, Expire: defaultExpire, Minimum: defaultMinimum},
		EDNSBufferSize: defaultEDNSBufferSize,
		MetricsListen:  defaultMetricsListen,
		LogLevel:       defaultLogLevel,
		LogFormat:      defaultLogFormat,
		Transfer:       Transfer{AllowNetworks: slices.Clone(defaultAllowNetworks), Journal: Journal{MaxSize: defaultJournalMaxSize, MaxAge: defaultJournalMaxAge}},
		RRL:            RRL{Rate: defaultRRLRate, Window: defaultRRLWindow, Slip: defaultRRLSlip, IPv4Prefix: 24, IPv6Prefix: 56, TableSize: defaultRRLTableSize},
		Cookies:        Cookies{Enabled: true},
		TCP:            TCP{MaxConnections: 1000, MaxPerSource: 100, IdleTimeout: 10},
		TLS: TLS{MinVersion: defaultTLSMinVersion, HandshakeTimeout: 5,
			MaxConnections: 1000, MaxPerSource: 100, IdleTimeout: 10},
		HTTPS: Encrypted{MaxConnections: 1000, MaxPerSource: 100, IdleTimeout: 30, MaxStreams: 100},
		QUIC:  Encrypted{MaxConnections: 1000, MaxPerSource: 100, IdleTimeout: 30, MaxStreams: 100},
		DNSSEC: DNSSEC{Algorithm: defaultDNSSECAlgorithm, Keys: defaultDNSSECKeys, Validity: defaultDNSSECValidity,
			Refresh: defaultDNSSECRefresh, InceptionOffset: defaultDNSSECInception, DNSKEYTTL: defaultDNSSECDNSKEYTTL,
			SignatureCache: defaultDNSSECSignatureCache, Denial: defaultDNSSECDenial},
	}
}

// setDefaults gives viper every non-zero field of d as a default. Zero fields
// stay unset, so IsSet tells what the user configured.
func setDefaults(v *viper.Viper, d Config) {
	var walk func(rv reflect.Value, prefix string)
	walk = func(rv reflect.Value, prefix string) {
		for i := range rv.NumField() {
			f := rv.Type().Field(i)
			key := prefix + f.Tag.Get("mapstructure")
			if f.Type.Kind() == reflect.Struct {
				walk(rv.Field(i), key+".")
				continue
			}
			if !rv.Field(i).IsZero() {
				v.SetDefault(key, rv.Field(i).Interface())
			}
		}
	}
	walk(reflect.ValueOf(d), "")
}

func readFile(v *viper.Viper, path string) error {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if !slices.Contains(fileTypes, ext) {
		return fmt.Errorf("config: %s: unsupported file type %q (want .yaml, .yml, .toml or .json)", path, filepath.Ext(path))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	v.SetConfigType(ext)
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return fileSyntaxError(path, ext, data, err)
	}
	return nil
}

// settings rebuilds the nested document viper holds, keeping keys whose value
// is empty (AllSettings drops them, and "orgin:" is still a typo).
func settings(v *viper.Viper) map[string]any {
	m := map[string]any{}
	for _, k := range v.AllKeys() {
		path := strings.Split(k, ".")
		cur := m
		for _, p := range path[:len(path)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[path[len(path)-1]] = v.Get(k)
	}
	return m
}

// applyEnv sets the SVCDNS_ variables of env into v's override layer; viper's
// own environment support reads the process environment, which Load must not.
func applyEnv(v *viper.Viper, env []string, sources map[string]string) []*fieldError {
	leaves := leafKeys()
	keyOf := make(map[string]string, len(leaves))
	names := make([]string, 0, len(leaves))
	for k := range leaves {
		keyOf[envName(k)] = k
		names = append(names, envName(k))
	}
	values := map[string]string{}
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, envPrefix) && !slices.Contains(envIgnored, name) {
			values[name] = val // the last of duplicates wins, as in os/exec
		}
	}

	var errs []*fieldError
	for _, name := range sortedKeysOf(values) {
		val := values[name]
		key, ok := keyOf[name]
		if !ok {
			e := unknown("", name, closest(name, names), "environment variable")
			errs = append(errs, e)
			continue
		}
		t := leaves[key]
		switch {
		case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
			v.Set(key, splitList(val))
		case t.Kind() == reflect.Slice || t.Kind() == reflect.Map:
			var doc any
			if err := json.Unmarshal([]byte(val), &doc); err != nil {
				shown := val
				if key == "transfer.tsig_keys" {
					shown = fmt.Sprintf("<%d characters, redacted>", len(val))
				}
				errs = append(errs, &fieldError{kind: ErrBadValue, source: name, key: key, value: shown, why: "want JSON: " + err.Error()})
				continue
			}
			for _, u := range unknownKeys(doc, t, key) {
				errs = append(errs, unknown(name, u.key, u.suggestion, ""))
			}
			if m, ok := doc.(map[string]any); ok && t.Kind() == reflect.Map {
				for mk := range m {
					sources[key+"."+strings.ToLower(mk)] = name
				}
			}
			v.Set(key, doc)
		default:
			v.Set(key, val)
		}
		sources[key] = name
	}
	return errs
}

func sortedKeysOf(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// splitList splits a comma-separated variable; "" is the empty list.
func splitList(s string) []string {
	out := []string{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// applyFlags sets the changed flags into v's override layer after the
// environment, so that they win.
func applyFlags(v *viper.Viper, fs *pflag.FlagSet, sources map[string]string) {
	if fs == nil {
		return
	}
	for _, fk := range flagKeys {
		f := fs.Lookup(fk.flag)
		if f == nil || !f.Changed {
			continue
		}
		var val any = f.Value.String()
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			val = sv.GetSlice()
		}
		v.Set(fk.key, val)
		sources[fk.key] = "--" + fk.flag
	}
}

func unknown(source, key, suggestion, what string) *fieldError {
	e := &fieldError{kind: ErrUnknownKey, source: source, key: key, what: what}
	if suggestion != "" {
		e.why = fmt.Sprintf("did you mean %q?", suggestion)
	}
	return e
}

// decodeErrors turns mapstructure's joined, named errors into fieldErrors.
func decodeErrors(err error) []*fieldError {
	var out []*fieldError
	var walk func(err error) bool
	walk = func(err error) bool {
		switch e := err.(type) {
		case interface {
			Name() string
			Unwrap() error
		}:
			inner := e.Unwrap()
			if walk(inner) {
				return true
			}
			fe := &fieldError{kind: ErrBadValue, key: e.Name(), why: inner.Error()}
			var he *hookError
			if errors.As(inner, &he) {
				fe.value, fe.why = valueText(he.value), he.why
			}
			if strings.HasPrefix(fe.why, "has invalid keys") {
				fe.kind = ErrUnknownKey // not reached: unknownKeys runs first
			}
			out = append(out, fe)
			return true
		case interface{ Unwrap() []error }:
			found := false
			for _, inner := range e.Unwrap() {
				found = walk(inner) || found
			}
			return found
		case interface{ Unwrap() error }:
			return walk(e.Unwrap())
		}
		return false
	}
	if !walk(err) {
		out = append(out, &fieldError{kind: ErrBadValue, why: err.Error()})
	}
	return out
}

// attribute names the source of each error's key: the longest prefix of the
// key that a file, variable or flag set.
func attribute(errs []*fieldError, sources map[string]string) []*fieldError {
	for _, e := range errs {
		if e.source != "" {
			continue
		}
		segs := keySegments(e.key)
		for n := len(segs); n > 0; n-- {
			if s, ok := sources[strings.Join(segs[:n], ".")]; ok {
				e.source = s
				break
			}
		}
	}
	return errs
}

// keySegments splits a mapstructure path into viper key segments, dropping
// list indexes: "services[rets/tcp][0].host" -> services, rets/tcp, host.
func keySegments(key string) []string {
	var segs []string
	for part := range strings.SplitSeq(key, ".") {
		name, rest, _ := strings.Cut(part, "[")
		segs = append(segs, name)
		for rest != "" {
			inner, after, _ := strings.Cut(rest, "]")
			if strings.Trim(inner, "0123456789") != "" {
				segs = append(segs, inner)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return segs
}
