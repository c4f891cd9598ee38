package etcdbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
)

// Default is the etcd release the target's tests run against.
const Default = "v3.7.3"

// Versions lists the releases with a build module under tools/etcd:
// Default, v3.5.2 (carries etcd issue #13766, inconsistent revisions
// after kill -9 under load) and v3.5.3 (the release that fixed it).
var Versions = []string{"v3.5.2", "v3.5.3", Default}

// EnvBin names the environment variable that points at a prebuilt etcd
// of the Default version.
const EnvBin = "CHAOSCHECK_ETCD_BIN"

// Path returns an etcd binary of version, building it if need be.
func Path(version string) (string, error) {
	if !slices.Contains(Versions, version) {
		return "", fmt.Errorf("etcdbin: no build module for etcd %s (have %v)", version, Versions)
	}
	if b := os.Getenv(EnvBin); b != "" && version == Default {
		if _, err := os.Stat(b); err != nil {
			return "", fmt.Errorf("etcdbin: $%s: %w", EnvBin, err)
		}
		return b, nil
	}
	mod, err := moduleDir(version)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("etcdbin: %w", err)
	}
	dir := filepath.Join(cache, "chaoscheck", "etcd-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("etcdbin: %w", err)
	}
	bin := filepath.Join(dir, "etcd")
	unlock, err := lock(filepath.Join(dir, "build.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	// Build beside the final name and rename, so a build cut short never
	// leaves a half-written binary under the name the next caller trusts.
	tmp := bin + ".tmp"
	cmd := exec.Command("go", "build", "-C", mod, "-o", tmp, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("etcdbin: build etcd %s (go build -C %s -o %s .): %v\n%s", version, mod, tmp, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("etcdbin: %w", err)
	}
	return bin, nil
}

// moduleDir is tools/etcd/<version> in the source tree this file was
// compiled from.
func moduleDir(version string) (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("etcdbin: cannot locate the source tree")
	}
	dir := filepath.Join(filepath.Dir(self), "..", "..", "tools", "etcd", version)
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("etcdbin: build module for etcd %s not found (set $%s to an etcd binary): %w", version, EnvBin, err)
	}
	return filepath.Clean(dir), nil
}

// lock takes an exclusive flock on path, waiting for another build.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("etcdbin: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("etcdbin: lock %s: %w", path, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
