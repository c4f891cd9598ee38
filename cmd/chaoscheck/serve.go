package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaoscheck/chaoscheck/report"
	"github.com/chaoscheck/chaoscheck/runner"
)

var serveFlags struct {
	store       string
	addr        string
	allowRemote bool
}

var serveCmd = &cobra.Command{
	Use:   "serve",
	Short: "Browse the store: runs newest first with verdicts, each run's report.html and files (read-only)",
	Long: `Serve the store over HTTP, read-only. The front page lists the runs newest
first (test, start time, verdict, duration, seed, ops) with links to each
run's report.html, linear.html and files; every other URL is the store file
at that path, e.g. /latest/report.html.

Nothing outside the store is served: paths with "..", absolute paths and
symlinks that lead out of the store are refused (the store's own latest
links point inside it and work).

--addr is 127.0.0.1:8080 by default. The server has no authentication and
the store holds every history and node log, so an address that is not
loopback is refused unless --allow-remote is given as well; then put it
behind something that authenticates, or on a network you trust.`,
	Example: `  chaoscheck serve
  chaoscheck serve --store /var/lib/chaoscheck/store --addr 127.0.0.1:9000
  chaoscheck serve --addr 0.0.0.0:8080 --allow-remote   # every interface: read the help first`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		return runServe(cmd)
	},
}

func init() {
	f := serveCmd.Flags()
	f.StringVar(&serveFlags.store, "store", "./"+runner.DefaultStore, "the store to serve")
	f.StringVar(&serveFlags.addr, "addr", "127.0.0.1:8080", "address to listen on (loopback unless --allow-remote)")
	f.BoolVar(&serveFlags.allowRemote, "allow-remote", false, "allow an --addr that is not loopback: the store is then readable from the network, unauthenticated")
	rootCmd.AddCommand(serveCmd)
}

func runServe(cmd *cobra.Command) error {
	if err := report.CheckAddr(serveFlags.addr, serveFlags.allowRemote); err != nil {
		return badInput(err)
	}
	srv, err := report.NewServer(serveFlags.store)
	if err != nil {
		return badInput(err)
	}
	defer srv.Close()
	// A port out of range, a host that does not resolve, an address in
	// use: each is what the user gave in --addr, so 254.
	ln, err := net.Listen("tcp", serveFlags.addr)
	if err != nil {
		return badInput(fmt.Errorf("--addr: %w", err))
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()

	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(cmd.OutOrStdout(), "serving %s read-only at http://%s/ (Ctrl-C to stop)\n", srv.Dir(), ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return &exitError{code: exitInternal, err: err}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return &exitError{code: exitInternal, err: err}
	}
	return nil
}
