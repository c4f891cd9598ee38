package raftsql

import gofail "go.etcd.io/gofail/runtime"

// Failpoints in the Ready loop, switched at run time over /failpoints/ or
// GOFAIL_FAILPOINTS. A `panic` term crashes the node the way a real crash
// would (the process dies mid-loop, nothing is flushed on the way out); a
// `sleep` term stalls the loop. They are package variables because the
// gofail runtime panics when a name is registered twice.
var (
	// raftBeforeSave: a Ready with something to persist is in hand,
	// nothing of it is durable yet.
	fpBeforeSave = gofail.NewFailpoint("raftBeforeSave")
	// raftAfterSave: entries and hard state are durable, no message sent.
	fpAfterSave = gofail.NewFailpoint("raftAfterSave")
	// raftBeforeApply: the Ready loop has saved a Ready with committed
	// entries or a snapshot and sent its messages; they are about to go to
	// the applier (evaluated only on a Ready that has some). A sleep here
	// stalls the whole loop, as a slow node does: it takes no new entries.
	fpBeforeApply = gofail.NewFailpoint("raftBeforeApply")
	// raftAfterApply: the applier has applied a Ready's committed entries
	// (the loop may be a Ready or two ahead).
	fpAfterApply = gofail.NewFailpoint("raftAfterApply")
)

// evalFailpoint evaluates fp's terms; sleep and panic act inside Acquire, and
// a returned value has no meaning at these points.
func evalFailpoint(fp *gofail.Failpoint) {
	_, _ = fp.Acquire()
}
