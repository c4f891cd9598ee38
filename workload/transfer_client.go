package workload

import (
	"time"

	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// NewTransferClient is the bank and retry workloads' client of a 2PC
// coordinator at coordAddr, for targets other than the embedded one that
// run the same coordinator: transfer and read-balances ops, completions
// naming node.
func NewTransferClient(coordAddr, node string, timeout time.Duration) Client {
	return &transferClient{c: twopc.NewClient(coordAddr, timeout), coord: node}
}
