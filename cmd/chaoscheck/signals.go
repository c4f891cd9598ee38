package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// stopSignals are the signals that stop a command the way Ctrl-C does, in
// every phase of run, soak, selftest, serve and the node commands: SIGINT
// from a terminal, SIGTERM from `timeout`, systemd, CI runners and
// `docker stop`. Each command decides what stopping means (run: check and
// store what was recorded; soak: finish the current run first) but reacts
// to both alike.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// stopOnSignal returns cmd's context, cancelled by the first of
// stopSignals. After that first signal the default handling is back, so
// a second one ends chaoscheck at once (the nodes die with it: they carry
// a parent-death signal). run and selftest use it; soak counts signals
// itself, since its first one means "after this run".
func stopOnSignal(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}
