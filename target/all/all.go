// Package all imports every built-in target for its registration.
package all

import (
	_ "github.com/chaoscheck/chaoscheck/target/process"
)
