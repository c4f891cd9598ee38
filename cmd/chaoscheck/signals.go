package main

import (
	"os"
	"syscall"
)

// stopSignals are the signals that stop a command the way Ctrl-C does, in
// every phase of run, soak, selftest, serve and the node commands: SIGINT
// from a terminal, SIGTERM from `timeout`, systemd, CI runners and
// `docker stop`. Each command decides what stopping means (run: check and
// store what was recorded; soak: finish the current run first) but reacts
// to both alike.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}
