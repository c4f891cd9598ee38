package etcd

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chaoscheck/chaoscheck/history"
)

// definite lists the error descriptions that prove a write did not take
// effect, each with where etcd returns it (server v3.5 and v3.7 read
// alike). Anything else a write returns is info: the proposal may have
// been appended to the Raft log and may commit later.
var definite = map[string]string{
	// v3_server.go processInternalRaftRequestOnce: checked before the
	// proposal is built.
	rpctypes.ErrorDesc(rpctypes.ErrGRPCRequestTooManyRequests): "apply lags commit; refused before proposing",
	rpctypes.ErrorDesc(rpctypes.ErrGRPCRequestTooLarge):        "refused before proposing",
	// v3rpc interceptor: with WithRequireLeader (our clients set it) a
	// member without a leader refuses the RPC before its handler runs;
	// waitLeader (lease and read paths) returns it before forwarding.
	rpctypes.ErrorDesc(rpctypes.ErrGRPCNoLeader): "refused before the handler (require-leader)",
	// raft Step returns ErrProposalDropped only when it neither appended
	// nor forwarded the proposal (no leader, leadership transfer, removed
	// member, uncommitted-size limit); etcd passes it through uncoded.
	"raft proposal dropped": "raft neither appended nor forwarded it",
	// Request validation in v3rpc/key.go, before any proposal.
	rpctypes.ErrorDesc(rpctypes.ErrGRPCEmptyKey):     "request validation",
	rpctypes.ErrorDesc(rpctypes.ErrGRPCTooManyOps):   "request validation",
	rpctypes.ErrorDesc(rpctypes.ErrGRPCDuplicateKey): "request validation",
	// Applied with the NOSPACE alarm raised, the write is refused by the
	// capped applier: committed to the log, no effect on the keyspace.
	rpctypes.ErrorDesc(rpctypes.ErrGRPCNoSpace): "refused by the capped applier",
}

// classify says what a failed request's error proves. A read changes
// nothing, so any error makes it fail. A write is fail only when the
// error is one of definite; a timeout, a lost connection, a server-side
// timeout after proposing, or anything unknown is info.
func classify(err error, write bool) history.Type {
	if err == nil {
		return history.OK
	}
	if !write {
		return history.Fail
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return history.Info
	}
	if s, ok := status.FromError(err); ok && (s.Code() == codes.DeadlineExceeded || s.Code() == codes.Canceled) {
		return history.Info
	}
	if _, ok := definite[rpctypes.ErrorDesc(err)]; ok {
		return history.Fail
	}
	return history.Info
}

// complete fills done's type and error from err (nil: ok).
func complete(done history.Op, err error, write bool) history.Op {
	done.Type = classify(err, write)
	if err != nil {
		done.Error = err.Error()
	}
	return done
}
