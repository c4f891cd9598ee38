package runner

import (
	"context"
	"errors"

	"github.com/chaoscheck/chaoscheck/store"
	"github.com/chaoscheck/chaoscheck/workload"
)

// boot starts the clusters spec asks for, each node's data dir and
// node.log under the run's nodes/<node>/.
func boot(ctx context.Context, spec workload.BootSpec, dir *store.Run, cfg Config) (*sut, error) {
	return nil, errors.New("booting the SUT needs sut/cluster's StartRaft and StartTwoPC, which are not built yet")
}
