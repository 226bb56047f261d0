package config

import (
	"errors"
	"path/filepath"
	"strings"
)

// StateDirectory resolves c.StateDir: the configured directory, else
// $STATE_DIRECTORY (the first, when systemd lists several), else
// $XDG_STATE_HOME/svcdns, else $HOME/.local/state/svcdns. env is in
// os.Environ form. It does not create the directory.
func StateDirectory(c Config, env []string) (string, error) {
	if c.StateDir != "" {
		return filepath.Clean(c.StateDir), nil
	}
	get := func(key string) string {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, key+"="); ok {
				return v
			}
		}
		return ""
	}
	if d := get("STATE_DIRECTORY"); d != "" {
		first, _, _ := strings.Cut(d, ":")
		return filepath.Clean(first), nil
	}
	if d := get("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "svcdns"), nil
	}
	if h := get("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "svcdns"), nil
	}
	return "", errors.New("config: state_dir is not set and neither STATE_DIRECTORY, XDG_STATE_HOME nor HOME is")
}
