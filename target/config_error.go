package target

// ConfigError is a bad target flag or config file found by Boot (a
// missing --config, a typo in it): the user's input, not a failure of
// chaoscheck or of the system. The runner reports it as bad input (exit
// 254).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// OptionChecker is a Target that can judge its flags, the cluster size
// and the seeded bugs before anything is booted. The runner calls
// CheckOptions before it makes the run directory, so a bad --isolation or
// --nodes is refused with exit 254 and nothing written, as every other
// bad flag is; Boot still reports what only booting can find (endpoints
// that do not answer). A non-nil error is the user's input.
type OptionChecker interface {
	CheckOptions(opts Options, nodes int, workload string, bugs []string) error
}
