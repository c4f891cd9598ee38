package etcd

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chaoscheck/chaoscheck/history"
)

// TestClassify is the error table of docs/etcd.md: a write is fail only
// when the error proves etcd did not apply it; everything else a write
// returns is info; a read's error is always fail.
func TestClassify(t *testing.T) {
	cases := []struct {
		name  string
		err   error
		write history.Type
	}{
		{"no error", nil, history.OK},
		{"too many requests (refused before proposing)", rpctypes.ErrGRPCRequestTooManyRequests, history.Fail},
		{"too many requests, client form", rpctypes.ErrTooManyRequests, history.Fail},
		{"request too large", rpctypes.ErrGRPCRequestTooLarge, history.Fail},
		{"no leader (require-leader interceptor)", rpctypes.ErrGRPCNoLeader, history.Fail},
		{"no leader, client form", rpctypes.ErrNoLeader, history.Fail},
		{"raft proposal dropped", status.Error(codes.Unknown, "raft proposal dropped"), history.Fail},
		{"empty key", rpctypes.ErrGRPCEmptyKey, history.Fail},
		{"duplicate key in txn", rpctypes.ErrGRPCDuplicateKey, history.Fail},
		{"too many ops in txn", rpctypes.ErrGRPCTooManyOps, history.Fail},
		{"no space (capped applier)", rpctypes.ErrGRPCNoSpace, history.Fail},

		{"server timeout after proposing", rpctypes.ErrGRPCTimeout, history.Info},
		{"timeout due to leader fail", rpctypes.ErrGRPCTimeoutDueToLeaderFail, history.Info},
		{"timeout due to connection lost", rpctypes.ErrGRPCTimeoutDueToConnectionLost, history.Info},
		{"timeout waiting applied index", rpctypes.ErrGRPCTimeoutWaitAppliedIndex, history.Info},
		{"leader changed", rpctypes.ErrGRPCLeaderChanged, history.Info},
		{"server stopped", rpctypes.ErrGRPCStopped, history.Info},
		{"server canceled", rpctypes.ErrGRPCCanceled, history.Info},
		{"server deadline exceeded", rpctypes.ErrGRPCDeadlineExceeded, history.Info},
		{"client deadline", context.DeadlineExceeded, history.Info},
		{"client deadline, wrapped", fmt.Errorf("put: %w", context.DeadlineExceeded), history.Info},
		{"client canceled", context.Canceled, history.Info},
		{"grpc deadline status", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), history.Info},
		{"connection refused", status.Error(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused\""), history.Info},
		{"connection lost mid-call", status.Error(codes.Unavailable, "error reading from server: EOF"), history.Info},
		{"unknown grpc error", status.Error(codes.Unknown, "something new"), history.Info},
		{"internal", status.Error(codes.Internal, "transport is closing"), history.Info},
		{"plain error", errors.New("boom"), history.Info},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := classify(c.err, true); got != c.write {
				t.Errorf("write with %v: %s, want %s", c.err, got, c.write)
			}
			want := history.Fail
			if c.err == nil {
				want = history.OK
			}
			if got := classify(c.err, false); got != want {
				t.Errorf("read with %v: %s, want %s", c.err, got, want)
			}
		})
	}
}
