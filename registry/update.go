package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/svcdns/svcdns/internal/atomicfile"
)

// DefaultURL is IANA's official XML registry.
const DefaultURL = "https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.xml"

// DefaultMaxBytes caps a download. The real registry is about 4 MB; a body
// far larger is not the registry, and reading it all would only waste memory.
const DefaultMaxBytes = 64 << 20

// DefaultMinRatio is how small, relative to the current file, a new
// registry may be before Update refuses it. IANA deprecates entries but
// does not delete thousands at once; a registry 10% smaller is more likely
// a broken export or a wrong URL than a real change.
const DefaultMinRatio = 0.9

// metaSuffix names the sidecar that holds the HTTP validators of the file
// it sits beside.
const metaSuffix = ".meta"

// ErrTooSmall means a downloaded registry has drastically fewer records
// than the current file; UpdateOptions.Force replaces it anyway.
var ErrTooSmall = errors.New("downloaded registry is drastically smaller than the current one")

// DefaultCachePath is where `svcdns registry update` writes and `serve`
// looks first: svcdns/service-names-port-numbers.xml under
// os.UserCacheDir ($XDG_CACHE_HOME, else ~/.cache on Unix). It is an error
// when no cache directory can be determined. The file may hold CSV even
// though it is named .xml: formats are detected by content.
func DefaultCachePath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("registry: no cache directory: %w", err)
	}
	return filepath.Join(dir, "svcdns", "service-names-port-numbers.xml"), nil
}

// UpdateOptions says what Update fetches and where it writes.
type UpdateOptions struct {
	URL  string // http or https; "" means DefaultURL
	Path string // file to replace; "" means DefaultCachePath()
	// Force replaces the current file even with a drastically smaller
	// registry. A download that does not parse is refused regardless.
	Force bool
	// Client performs the request; nil means a client with the default
	// transport (proxy from the environment, transparent gzip). Deadlines
	// come from the context.
	Client *http.Client
	// MinRatio: a registry with fewer than MinRatio × the current file's
	// records is refused unless Force. 0 means DefaultMinRatio.
	MinRatio float64
	// MaxBytes caps the body; 0 means DefaultMaxBytes.
	MaxBytes int64
}

// UpdateResult says what Update did.
type UpdateResult struct {
	// Changed: the file at Path was replaced.
	Changed bool
	// NotModified: the server answered 304 to the stored validators.
	NotModified bool
	// Records is the number of records now at Path; PreviousRecords the
	// number before (0 when there was no file or it did not parse).
	Records, PreviousRecords int
	// Format of the file now at Path; FormatUnknown when none parses.
	Format Format
	Path   string
	// MetaErr is set when the registry was replaced but its sidecar (the
	// HTTP validators) could not be written. The update itself succeeded;
	// the next one will simply not be conditional.
	MetaErr error
}

// updateMeta is the sidecar PATH.meta. The validators apply only while the
// file still holds the bytes they were served with (SHA256), and only to
// the URL they came from: a file replaced by hand, or a different --url,
// gets an unconditional request rather than a wrong 304.
type updateMeta struct {
	URL          string    `json:"url"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	SHA256       string    `json:"sha256"`
	Size         int64     `json:"size"`
	Fetched      time.Time `json:"fetched"`
}

// Update fetches the registry at o.URL and atomically replaces o.Path with
// it, after checking that it parses and is not drastically smaller than
// the current file. It sends the validators stored beside o.Path by the
// previous update (If-None-Match, If-Modified-Since); a 304 leaves every
// file untouched. After an error the file at o.Path is as it was, unless
// the result says Changed: then only syncing the directory after the
// rename failed, and the new file is in place but perhaps not durable.
func Update(ctx context.Context, o UpdateOptions) (UpdateResult, error) {
	o, err := o.withDefaults()
	if err != nil {
		return UpdateResult{}, fmt.Errorf("registry: update: %w", err)
	}
	res := UpdateResult{Path: o.Path}

	cur, err := readCurrent(o.Path)
	if err != nil {
		return res, fmt.Errorf("registry: update: %w", err)
	}
	res.PreviousRecords, res.Records, res.Format = cur.records, cur.records, cur.format
	meta := cur.validators(o.URL)

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.URL, nil)
	if err != nil {
		return res, fmt.Errorf("registry: update: %w", err)
	}
	req.Header.Set("User-Agent", "svcdns-registry-update")
	req.Header.Set("Accept", "application/xml, text/xml;q=0.9, text/csv;q=0.8, */*;q=0.1")
	if meta != nil {
		// RFC 9110 §13.1.3: a server that knows the ETag ignores
		// If-Modified-Since, so sending both costs nothing.
		if meta.ETag != "" {
			req.Header.Set("If-None-Match", meta.ETag)
		}
		if meta.LastModified != "" {
			req.Header.Set("If-Modified-Since", meta.LastModified)
		}
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return res, fmt.Errorf("registry: update: %w", err)
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		if meta == nil {
			return res, fmt.Errorf("registry: update: GET %s: %s to a request without validators", o.URL, resp.Status)
		}
		res.NotModified = true
		return res, nil
	default:
		return res, fmt.Errorf("registry: update: GET %s: %s", o.URL, resp.Status)
	}

	body, err := readBody(resp, o.MaxBytes)
	if err != nil {
		return res, fmt.Errorf("registry: update: GET %s: %w; keeping %s", o.URL, err, o.Path)
	}
	reg, err := Parse(o.URL, body)
	if err != nil {
		return res, fmt.Errorf("registry: update: the download does not parse, keeping %s: %w", o.Path, err)
	}
	n := len(reg.Records)
	if !o.Force && cur.records > 0 && float64(n) < o.MinRatio*float64(cur.records) {
		return res, fmt.Errorf("registry: update: %s has %d records, the current %s has %d (less than %.0f%%); keeping it: %w",
			o.URL, n, o.Path, cur.records, 100*o.MinRatio, ErrTooSmall)
	}

	sum := sha256.Sum256(body)
	newMeta := updateMeta{
		URL: o.URL, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"),
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body)), Fetched: time.Now().UTC(),
	}
	res.Records, res.Format = n, reg.Format
	// A server that ignores validators sends the same bytes again; leave
	// the file (and its mtime, which `serve` watches) alone.
	if cur.data == nil || cur.sha256 != newMeta.SHA256 {
		renamed, err := atomicfile.Write(o.Path, body, cur.perm)
		res.Changed = renamed
		if err != nil {
			return res, fmt.Errorf("registry: update: %w", err)
		}
	}
	// Only after the rename: until then the old sidecar describes the old
	// file, and its hash no longer matches a replaced one.
	if mb, err := json.MarshalIndent(newMeta, "", "  "); err != nil {
		res.MetaErr = err
	} else if _, err := atomicfile.Write(o.Path+metaSuffix, append(mb, '\n'), 0o644); err != nil {
		res.MetaErr = fmt.Errorf("registry: update: %w", err)
	}
	return res, nil
}

func (o UpdateOptions) withDefaults() (UpdateOptions, error) {
	if o.URL == "" {
		o.URL = DefaultURL
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return o, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return o, fmt.Errorf("URL %q: scheme must be http or https", o.URL)
	}
	if o.Path == "" {
		if o.Path, err = DefaultCachePath(); err != nil {
			return o, err
		}
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.MinRatio == 0 {
		o.MinRatio = DefaultMinRatio
	}
	if o.MinRatio < 0 || o.MinRatio > 1 {
		return o, fmt.Errorf("MinRatio %v: must be between 0 and 1", o.MinRatio)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxBytes < 0 {
		return o, fmt.Errorf("MaxBytes %d: must not be negative", o.MaxBytes)
	}
	return o, nil
}

// current is the file Update may replace.
type current struct {
	data    []byte // nil: no file
	sha256  string
	perm    fs.FileMode
	records int // 0 when it does not parse
	format  Format
	meta    *updateMeta
}

// readCurrent reads the file at path and its sidecar. A missing file is
// no error; an unreadable one is, since it could not be compared.
func readCurrent(path string) (current, error) {
	c := current{perm: 0o644}
	data, err := os.ReadFile(path)
	// ENOTDIR: a parent is a file; then there is no current registry, and
	// creating the directory will report the problem.
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("reading the current registry: %w", err)
	}
	if fi, err := os.Stat(path); err == nil {
		c.perm = fi.Mode().Perm()
	}
	c.data = data
	sum := sha256.Sum256(data)
	c.sha256 = hex.EncodeToString(sum[:])
	// A current file with unreadable rows is not a baseline worth
	// protecting: serve refuses it too.
	if reg, err := Parse(path, data); err == nil {
		c.records, c.format = len(reg.Records), reg.Format
	}
	if mb, err := os.ReadFile(path + metaSuffix); err == nil {
		var m updateMeta
		if json.Unmarshal(mb, &m) == nil {
			c.meta = &m
		}
	}
	return c, nil
}

// validators returns the stored validators when they still describe the
// current file as fetched from u, else nil.
func (c current) validators(u string) *updateMeta {
	m := c.meta
	if c.data == nil || c.records == 0 || m == nil || m.URL != u || m.SHA256 != c.sha256 || (m.ETag == "" && m.LastModified == "") {
		return nil
	}
	return m
}

// readBody reads the whole body, refusing one larger than max or shorter
// than its Content-Length.
func readBody(resp *http.Response, max int64) ([]byte, error) {
	if resp.ContentLength > max {
		return nil, fmt.Errorf("body of %d bytes exceeds the %d-byte cap", resp.ContentLength, max)
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, max+1))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("connection closed after %d bytes, before the body was complete: %w", buf.Len(), err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the body after %d bytes: %w", buf.Len(), err)
	}
	if int64(buf.Len()) > max {
		return nil, fmt.Errorf("body exceeds the %d-byte cap", max)
	}
	// net/http already fails a short body with ErrUnexpectedEOF; this
	// guards a transport that does not.
	if resp.ContentLength >= 0 && int64(buf.Len()) != resp.ContentLength {
		return nil, fmt.Errorf("got %d of %d bytes (Content-Length): %w", buf.Len(), resp.ContentLength, io.ErrUnexpectedEOF)
	}
	return buf.Bytes(), nil
}
