// Package all imports every built-in target for its registration, so a
// program that imports all can run any of them by name.
package all

import (
	_ "github.com/chaoscheck/chaoscheck/target/etcd"
	_ "github.com/chaoscheck/chaoscheck/target/postgres"
	_ "github.com/chaoscheck/chaoscheck/target/process"
	_ "github.com/chaoscheck/chaoscheck/target/raft"
	_ "github.com/chaoscheck/chaoscheck/target/twopc"
	_ "github.com/chaoscheck/chaoscheck/target/twopcpostgres"
)
