package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, Jepsen's (docs/promises.md says what each means).
const (
	exitValid    = 0
	exitInvalid  = 1
	exitUnknown  = 2
	exitBadInput = 254
	exitInternal = 255
)

// exitError carries an exit code out of a command's RunE.
type exitError struct {
	code int
	err  error // nil when the command already printed what it had to say
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// badInput marks err as unusable input or arguments (exit 254).
func badInput(err error) error { return &exitError{code: exitBadInput, err: err} }

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

var rootCmd = &cobra.Command{
	Use:   "chaoscheck",
	Short: "Jepsen-style fault injection and history checking",
	Long: `chaoscheck drives a cluster with workloads while nemeses inject faults,
records every client operation in a history, and checks it: linearizability
(porcupine), exactly-once application of every tx_id, lost acknowledged
writes, conservation of money.

It ships its own system under test (a Raft-replicated SQLite store and a
two-phase-commit coordinator over SQLite participants) so it runs on a bare
machine, and its analyze command checks histories from any system,
Jepsen's EDN histories included.

Exit codes: 0 valid, 1 invalid, 2 unknown, 254 bad arguments or unreadable
input, 255 internal error.`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

var versionCmd = &cobra.Command{
	Use:   "version",
	Short: "Print the chaoscheck version",
	Args:  cobra.NoArgs,
	Run: func(cmd *cobra.Command, args []string) {
		fmt.Fprintf(cmd.OutOrStdout(), "chaoscheck %s\n", version)
	},
}

// nodeCmd is the parent of the embedded SUT's node commands (raft,
// coordinator, participant); each lives in its own file and adds itself.
var nodeCmd = &cobra.Command{
	Use:   "node",
	Short: "Run one node of the embedded system under test",
	Long: `Run one node of the embedded system under test in the foreground.
chaoscheck run starts these as child processes; run them by hand to poke
at the SUT with curl. Nodes listen on 127.0.0.1 only.`,
	// Without a Run, cobra prints help and exits 0 for `node bogus`; with
	// NoArgs an unknown node kind is an "unknown command" error: 254.
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		return badInput(fmt.Errorf("node: name a node kind: %s", nodeKinds(cmd)))
	},
}

// nodeKinds lists node's subcommands.
func nodeKinds(cmd *cobra.Command) string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return strings.Join(names, ", ")
}

func init() {
	rootCmd.AddCommand(versionCmd, nodeCmd)
	// Flag parse errors are bad arguments: exit 254, not 255.
	rootCmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return badInput(fmt.Errorf("%s: %w", c.CommandPath(), err))
	})
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the CLI and maps errors to exit codes.
func run(args []string) int {
	rootCmd.SetArgs(args)
	err := rootCmd.Execute()
	if err == nil {
		return exitValid
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "chaoscheck:", ee.err)
		}
		return ee.code
	}
	// cobra's own argument errors (unknown command, wrong arg count) are
	// bad arguments too.
	fmt.Fprintln(os.Stderr, "chaoscheck:", err)
	if isUsageError(err) {
		return exitBadInput
	}
	return exitInternal
}
