package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// byteSize is a flag holding a number of bytes, written as 512MiB, 4GiB,
// 1.5G or a plain number of bytes.
type byteSize int64

func (b *byteSize) String() string {
	if *b == 0 {
		return ""
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (*byteSize) Type() string { return "bytes" }

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1e3, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1e6, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1e9, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1e12, "tib": 1 << 40,
}

func (b *byteSize) Set(s string) error {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	if i < 0 {
		i = len(t)
	}
	n, err := strconv.ParseFloat(t[:i], 64)
	unit, ok := byteUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if err != nil || !ok || n*unit < 1<<20 || n*unit > math.MaxInt64/2 {
		return fmt.Errorf("want a size of at least 1MiB such as 512MiB or 4GiB, got %q", s)
	}
	*b = byteSize(n * unit)
	return nil
}

// defaultMemoryBudget is half the memory available now (MemAvailable, or
// the cgroup's limit when that is lower), and never above a GOMEMLIMIT
// the user set: a budget the machine can give without swapping or the OOM
// killer, leaving the other half to everything else running. Without
// /proc (not Linux) it is 4 GiB.
func defaultMemoryBudget() int64 {
	avail := memAvailable()
	if limit := cgroupLimit(); limit > 0 && (avail == 0 || limit < avail) {
		avail = limit
	}
	budget := int64(4 << 30)
	if avail > 0 {
		budget = avail / 2
	}
	if limit := debug.SetMemoryLimit(-1); limit < budget {
		budget = limit
	}
	return max(budget, 64<<20)
}

// memAvailable reads MemAvailable from /proc/meminfo, in bytes; 0 if it
// cannot.
func memAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// cgroupLimit is the cgroup v2 memory limit of this process, 0 if none.
func cgroupLimit() int64 {
	b, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil { // "max"
		return 0
	}
	return n
}
