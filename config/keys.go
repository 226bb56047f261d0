package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// The keys of the file are the mapstructure tags of Config; everything here
// derives from them so that a new field needs no second list.

var configType = reflect.TypeFor[Config]()

// fieldByKey finds the struct field of t whose tag is key, ignoring case as
// viper and mapstructure do.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if strings.EqualFold(f.Tag.Get("mapstructure"), key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tags(t reflect.Type) []string {
	out := make([]string, t.NumField())
	for i := range out {
		out[i] = t.Field(i).Tag.Get("mapstructure")
	}
	return out
}

// leafKeys returns every settable key ("ttl.srv", "services", ...) with its
// type: all fields except the nested groups, which are walked into.
func leafKeys() map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			key := prefix + f.Tag.Get("mapstructure")
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, key+".")
				continue
			}
			out[key] = f.Type
		}
	}
	walk(configType, "")
	return out
}

// envName is the environment variable of a key: ttl.srv -> SVCDNS_TTL_SRV.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// unknownKey is a key found where type t has no such field.
type unknownKey struct{ key, suggestion string }

// unknownKeys walks a decoded document (maps, lists, scalars) along type t and
// returns the keys t does not have, spelled as mapstructure spells paths.
// Values of the wrong shape are left to the decoder, which reports them.
func unknownKeys(val any, t reflect.Type, path string) []unknownKey {
	var out []unknownKey
	switch t.Kind() {
	case reflect.Struct:
		m, ok := val.(map[string]any)
		if !ok {
			return nil
		}
		keys := sortedKeys(m)
		for _, k := range keys {
			p := joinPath(path, k)
			f, ok := fieldByKey(t, k)
			if !ok {
				u := unknownKey{key: p}
				if s := closest(strings.ToLower(k), tags(t)); s != "" {
					u.suggestion = joinPath(path, s)
				}
				out = append(out, u)
				continue
			}
			out = append(out, unknownKeys(m[k], f.Type, p)...)
		}
	case reflect.Slice:
		// TOML arrays of tables decode as []map[string]any, YAML and JSON
		// lists as []any.
		list := reflect.ValueOf(val)
		if list.Kind() != reflect.Slice {
			return nil
		}
		for i := range list.Len() {
			out = append(out, unknownKeys(list.Index(i).Interface(), t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	case reflect.Map:
		m, ok := val.(map[string]any)
		if !ok {
			return nil
		}
		// Map keys are free-form (services: "name/proto"); Validate checks them.
		for _, k := range sortedKeys(m) {
			out = append(out, unknownKeys(m[k], t.Elem(), path+"["+k+"]")...)
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// closest returns the candidate nearest to s, if it is near enough to be a
// typo (edit distance at most 2, and less than half of s).
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD && 2*d < len(s) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance counting an adjacent swap as one
// edit (optimal string alignment), since "orgin" and "orign" are both typos.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// hookError is a decode failure found by decodeHook; it keeps the value so
// the message can show it.
type hookError struct {
	value any
	why   string
}

func (e *hookError) Error() string { return e.why }

// decodeHook makes decoding strict where mapstructure's weak typing would
// silently change a value: reflect's SetUint truncates, so 70000 would become
// a uint16 of 4464 and -1 a uint32 of 4294967295. It also rejects lists or
// maps where a scalar belongs, and scalars where a group belongs.
func decodeHook(from, to reflect.Type, data any) (any, error) {
	switch to.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return toUint(data, to.Bits())
	case reflect.Bool:
		switch d := data.(type) {
		case bool:
			return d, nil
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(d)); err == nil {
				return b, nil
			}
		}
		return nil, &hookError{data, "want true or false"}
	case reflect.String:
		switch from.Kind() {
		case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct:
			return nil, &hookError{data, "want a single value, not a list or mapping"}
		}
	case reflect.Struct, reflect.Map:
		if from.Kind() != reflect.Map {
			return nil, &hookError{data, "want a mapping of keys to values"}
		}
	case reflect.Slice:
		if from.Kind() == reflect.Map {
			return nil, &hookError{data, "want a list"}
		}
	}
	return data, nil
}

func toUint(data any, bits int) (any, error) {
	limit := uint64(math.MaxUint64) >> (64 - bits)
	want := fmt.Sprintf("want an integer in 0..%d", limit)
	var n uint64
	switch d := reflect.ValueOf(data); d.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if d.Int() < 0 {
			return nil, &hookError{data, want}
		}
		n = uint64(d.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n = d.Uint()
	case reflect.Float32, reflect.Float64:
		// JSON numbers arrive as float64.
		f := d.Float()
		if f < 0 || f != math.Trunc(f) || f > float64(limit) {
			return nil, &hookError{data, want}
		}
		n = uint64(f)
	case reflect.String:
		u, err := strconv.ParseUint(strings.TrimSpace(d.String()), 10, 64)
		if err != nil {
			return nil, &hookError{data, want}
		}
		n = u
	default:
		return nil, &hookError{data, want}
	}
	if n > limit {
		return nil, &hookError{data, want}
	}
	return n, nil
}

// Closest returns the candidate nearest to s by edit distance (an adjacent
// swap counting as one edit) when it is near enough to be a typo of it, and
// "" otherwise. Config keys use it for "did you mean"; so do the command
// line's flags.
func Closest(s string, candidates []string) string { return closest(s, candidates) }
