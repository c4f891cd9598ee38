package pgserver

import (
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// serverUser returns the credential to run initdb and the server with:
// nil when chaoscheck is not root. As root it picks the "postgres" user
// (Debian's package creates it), else "nobody", and makes dir reachable
// by that user: dir is created, and each ancestor lacking o+x gets it
// (traverse only; nothing becomes listable or writable).
func serverUser(log *slog.Logger, dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, os.MkdirAll(dir, 0o755)
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("running as root and PostgreSQL refuses to: no postgres or nobody user to run it as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %s: uid %q gid %q", u.Username, u.Uid, u.Gid)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var opened []string
	for d := abs; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return nil, err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o001); err != nil {
				return nil, fmt.Errorf("letting user %s reach %s: %w", u.Username, dir, err)
			}
			opened = append(opened, d)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	log.Info("running PostgreSQL as user "+u.Username+": it refuses to run as root",
		"uid", uid, "gid", gid, "dirs_made_traversable", opened)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
