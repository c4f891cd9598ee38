package etcdbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPathBuildsThePinnedRelease(t *testing.T) {
	bin, err := Path(Default)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	if want := "etcd Version: " + strings.TrimPrefix(Default, "v"); !strings.Contains(string(out), want) {
		t.Fatalf("%s --version printed %q, want %q", bin, out, want)
	}
}

func TestPathRefusesUnknownVersions(t *testing.T) {
	if _, err := Path("v3.4.0"); err == nil || !strings.Contains(err.Error(), "no build module") {
		t.Fatalf("Path(v3.4.0) = %v, want a no-build-module error", err)
	}
}

func TestPathHonoursEnvBin(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "etcd")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvBin, fake)
	if got, err := Path(Default); err != nil || got != fake {
		t.Fatalf("Path with $%s set = %q, %v; want %q", EnvBin, got, err, fake)
	}
	t.Setenv(EnvBin, filepath.Join(t.TempDir(), "missing"))
	if _, err := Path(Default); err == nil {
		t.Fatalf("Path with $%s naming a missing file succeeded", EnvBin)
	}
}

func TestEveryVersionHasABuildModule(t *testing.T) {
	for _, v := range Versions {
		if _, err := moduleDir(v); err != nil {
			t.Error(err)
		}
	}
}
