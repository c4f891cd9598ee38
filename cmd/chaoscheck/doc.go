// Command chaoscheck is the CLI: cobra commands only. Each command turns
// its flags into a config struct and calls into runner, checker, history or
// sut; no test logic lives here.
//
// Exit codes (Jepsen's): 0 valid, 1 invalid, 2 unknown, 254 bad arguments
// or unreadable input, 255 internal error.
package main
