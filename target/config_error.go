package target

// ConfigError is a bad target flag or config file found by Boot (a
// missing --config, a typo in it): the user's input, not a failure of
// chaoscheck or of the system. The runner reports it as bad input (exit
// 254).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
