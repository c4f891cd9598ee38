// logstore_recent.go: the newest entries of the log, kept in memory.

package raftsql

import (
	"slices"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// recentEntries is a contiguous tail of the log held in memory. With
// AsyncStorageWrites raft applies only entries that are durable, and by
// then they have left its unstable log, so it reads every committed entry
// back through Storage.Entries: from badger that was 4% of a replica's CPU
// under the raftvsetcd benchmark. Guarded by LogStore.mu; the entries are
// raft's own, which raft never changes once it has handed them over.
type recentEntries struct {
	ents  []*raftpb.Entry // indexes first … first+len-1, the last of the log
	first uint64
	bytes int
}

// Bounds on what is kept: enough for every entry committed but not yet
// applied under load, little enough to ignore.
const (
	maxRecentEntries = 4096
	maxRecentBytes   = 8 << 20
)

// appended records ents (contiguous), just made durable: any held entry
// at or after ents[0] is replaced.
func (r *recentEntries) appended(ents []*raftpb.Entry) {
	if len(ents) == 0 {
		return
	}
	lo := ents[0].GetIndex()
	if len(r.ents) == 0 || lo < r.first || lo > r.first+uint64(len(r.ents)) {
		r.clear()
		r.first = lo
	}
	for _, e := range r.ents[lo-r.first:] {
		r.bytes -= proto.Size(e)
	}
	r.ents = append(r.ents[:lo-r.first], ents...)
	for _, e := range ents {
		r.bytes += proto.Size(e)
	}
	drop := 0
	for len(r.ents)-drop > maxRecentEntries || (r.bytes > maxRecentBytes && drop < len(r.ents)) {
		r.bytes -= proto.Size(r.ents[drop])
		drop++
	}
	if drop > 0 {
		r.ents = slices.Clone(r.ents[drop:])
		r.first += uint64(drop)
	}
}

// compacted forgets the entries at or below index.
func (r *recentEntries) compacted(index uint64) {
	if len(r.ents) == 0 || index < r.first {
		return
	}
	if index >= r.first+uint64(len(r.ents))-1 {
		r.clear()
		return
	}
	drop := int(index - r.first + 1)
	for _, e := range r.ents[:drop] {
		r.bytes -= proto.Size(e)
	}
	r.ents = slices.Clone(r.ents[drop:])
	r.first = index + 1
}

func (r *recentEntries) clear() { *r = recentEntries{} }

// get returns the entries [lo, hi) as Storage.Entries would (at least one,
// then no more than maxSize bytes), or false when they are not all held.
// The slice is the caller's: raft appends to what Entries returns.
func (r *recentEntries) get(lo, hi, maxSize uint64) ([]*raftpb.Entry, bool) {
	if len(r.ents) == 0 || lo < r.first || hi > r.first+uint64(len(r.ents)) {
		return nil, false
	}
	ents := r.ents[lo-r.first : hi-r.first]
	var size uint64
	for i, e := range ents {
		size += uint64(proto.Size(e))
		if i > 0 && size > maxSize {
			ents = ents[:i]
			break
		}
	}
	return slices.Clip(ents), true
}
