package target

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

var (
	mu       sync.RWMutex
	registry = map[string]Target{}
	// auto lists, in order, the targets that may be chosen when --target
	// is not given: the embedded ones, which need nothing installed.
	auto []string
)

// Register adds t under t.Name(). autoSelect says t may be chosen when the
// user names no target (only for targets that need nothing installed).
// Registering a name twice panics: it is a programming error.
func Register(t Target, autoSelect bool) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[t.Name()]; dup {
		panic("target: " + t.Name() + " registered twice")
	}
	registry[t.Name()] = t
	if autoSelect {
		auto = append(auto, t.Name())
	}
}

// Names lists the registered targets, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return slices.Sorted(maps.Keys(registry))
}

// ByName returns the target registered as name.
func ByName(name string) (Target, error) {
	mu.RLock()
	defer mu.RUnlock()
	t, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown target %q (want one of %s)", name, strings.Join(slices.Sorted(maps.Keys(registry)), ", "))
	}
	return t, nil
}

// Auto lists the targets chosen from when --target is not given, in order
// of preference.
func Auto() []Target {
	mu.RLock()
	defer mu.RUnlock()
	ts := make([]Target, len(auto))
	for i, n := range auto {
		ts[i] = registry[n]
	}
	return ts
}

// Supports says whether t has a driver for workload w.
func Supports(t Target, w string) bool { return slices.Contains(t.Workloads(), w) }
