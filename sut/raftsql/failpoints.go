package raftsql

import gofail "go.etcd.io/gofail/runtime"

// Failpoints in the Ready loop, the appender and the applier, switched at run time over /failpoints/ or
// GOFAIL_FAILPOINTS. A `panic` term crashes the node the way a real crash
// would (the process dies mid-loop, nothing is flushed on the way out); a
// `sleep` term stalls the loop. They are package variables because the
// gofail runtime panics when a name is registered twice.
var (
	// raftBeforeSave: the appender holds a write (one or more
	// MsgStorageAppend) with something to persist; nothing of it is
	// durable yet.
	fpBeforeSave = gofail.NewFailpoint("raftBeforeSave")
	// raftAfterSave: entries and hard state are durable, none of the
	// acknowledgements that depend on them sent.
	fpAfterSave = gofail.NewFailpoint("raftAfterSave")
	// raftBeforeApply: the Ready loop holds a Ready with committed
	// entries, has sent its messages and queued its entries to persist;
	// the committed ones are about to go to the applier (evaluated only on
	// a Ready that has some). A sleep here stalls the whole loop, as a slow
	// node does: once the appender has saved and acknowledged what it
	// holds, the node takes no new entries.
	fpBeforeApply = gofail.NewFailpoint("raftBeforeApply")
	// raftAfterApply: the applier has applied a batch of committed
	// entries (the loop may be a Ready or two ahead).
	fpAfterApply = gofail.NewFailpoint("raftAfterApply")
)

// evalFailpoint evaluates fp's terms; sleep and panic act inside Acquire, and
// a returned value has no meaning at these points.
func evalFailpoint(fp *gofail.Failpoint) {
	_, _ = fp.Acquire()
}
