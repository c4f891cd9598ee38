package pgserver

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// The process tree, read from /proc: PostgreSQL's backends are the
// postmaster's children but not in its process group.

// procStat returns the state letter and parent pid of pid from
// /proc/<pid>/stat; ok is false when there is no such process.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) S ppid …": comm may hold spaces and parentheses, so
	// parse after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(string(f[1]))
	if err != nil || len(f[0]) != 1 {
		return 0, 0, false
	}
	return f[0][0], ppid, true
}

// alive says whether pid exists and is not a zombie (an orphan reparented
// to a pid 1 that does not reap stays a zombie, and holds nothing).
func alive(pid int) bool {
	st, _, ok := procStat(pid)
	return ok && st != 'Z' && st != 'X'
}

// allPids lists every pid in /proc.
func allPids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// children lists the live children of pid.
func children(pid int) []int {
	var kids []int
	for _, p := range allPids() {
		if st, ppid, ok := procStat(p); ok && ppid == pid && st != 'Z' && st != 'X' {
			kids = append(kids, p)
		}
	}
	return kids
}
