// Package atomicfile replaces files so that a reader, or a crash, sees the
// old content or the new, never a part of either. The registry cache, and
// everything svcdns keeps in its state directory (keys, secrets,
// certificates, the transfer journal), is written through it.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Write replaces path with data, created with perm: a temporary file in the
// same directory (rename is atomic only within a file system) is written,
// synced and renamed over path, then the directory is synced so that the
// rename itself survives a crash. The directory is created (0755, or 0700
// when perm gives the group and others nothing) when missing. renamed
// tells whether path now holds data, which it does when only the final
// directory sync failed.
func Write(path string, data []byte, perm fs.FileMode) (renamed bool, err error) {
	dir := filepath.Dir(path)
	dirPerm := fs.FileMode(0o755)
	if perm&0o077 == 0 {
		dirPerm = 0o700
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return false, fmt.Errorf("cannot create the directory of %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("cannot write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) (bool, error) {
		f.Close()
		os.Remove(tmp)
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	// Chmod before writing, so that a secret is never readable by others,
	// not even while it is being written.
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("cannot replace %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return true, fmt.Errorf("replaced %s, but %w", path, err)
	}
	return true, nil
}

// SyncDir fsyncs a directory, so that the names created or renamed in it
// survive a crash.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for fsync there
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
