package tlscert

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchSettle is how long the files must be quiet before a reload, so
// that a certificate and key replaced one after the other (certbot, a
// Kubernetes secret's symlink swap) are read as one pair.
const watchSettle = 500 * time.Millisecond

// Watch reloads the store whenever its certificate or key file changes,
// until ctx ends. It watches their directories, so that a file replaced by
// rename is seen too. A pair that does not load (a key written before its
// certificate, a bad file) is logged and the certificate served so far
// stays; the next change tries again. onReload, when not nil, is called
// after each attempt with its error.
func (s *Store) Watch(ctx context.Context, log *slog.Logger, onReload func(error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	files := map[string]bool{filepath.Clean(s.certFile): true, filepath.Clean(s.keyFile): true}
	dirs := map[string]bool{}
	for f := range files {
		dirs[filepath.Dir(f)] = true
	}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			w.Close()
			return err
		}
	}
	go func() {
		defer w.Close()
		var timer *time.Timer
		fire := make(chan struct{}, 1)
		for {
			select {
			case <-ctx.Done():
				if timer != nil {
					timer.Stop()
				}
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Op == fsnotify.Chmod || !files[filepath.Clean(ev.Name)] && !isSymlinkSwap(ev.Name) {
					continue
				}
				if timer == nil {
					timer = time.AfterFunc(watchSettle, func() {
						select {
						case fire <- struct{}{}:
						default:
						}
					})
				} else {
					timer.Reset(watchSettle)
				}
			case <-fire:
				timer = nil
				err := s.Reload()
				if err != nil {
					log.Error("certificate reload failed; still serving the previous certificate", "err", err)
				} else {
					log.Info("certificate reloaded", "file", s.certFile, "spki_pin", SPKIPin(s.Leaf()), "not_after", s.Leaf().NotAfter)
				}
				if onReload != nil {
					onReload(err)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("certificate watch error", "err", err)
			}
		}
	}()
	return nil
}

// isSymlinkSwap recognises the "..data" link that Kubernetes swaps to
// replace a mounted secret's files at once.
func isSymlinkSwap(name string) bool { return filepath.Base(name) == "..data" }
