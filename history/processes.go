package history

// Processes maps process numbers to values of T, each created zero on
// first use. Checkers and readers that follow every client process through
// a history of millions of ops look one up per op; a map did that in
// about a fifth of a streamed analysis. Recorders and Jepsen number
// processes densely from 0, so those live in a slice; any other number
// (the nemesis's -1, Elle's anonymous processes) in a map.
type Processes[T any] struct {
	dense  []T
	sparse map[int64]*T
}

// denseProcesses bounds the slice: 65536 processes of a few dozen bytes.
const denseProcesses = 1 << 16

// At returns process p's value. The pointer is valid until the next call
// of At, which may move the values.
func (t *Processes[T]) At(p int64) *T {
	if p >= 0 && p < denseProcesses {
		if p >= int64(len(t.dense)) {
			n := min(max(2*len(t.dense), int(p)+1, 64), denseProcesses)
			t.dense = append(t.dense, make([]T, n-len(t.dense))...)
		}
		return &t.dense[p]
	}
	if t.sparse == nil {
		t.sparse = map[int64]*T{}
	}
	v := t.sparse[p]
	if v == nil {
		v = new(T)
		t.sparse[p] = v
	}
	return v
}

// Each calls fn with every process's value, dense ones first; values never
// looked up are zero and included for the dense numbers.
func (t *Processes[T]) Each(fn func(p int64, v *T)) {
	for i := range t.dense {
		fn(int64(i), &t.dense[i])
	}
	for p, v := range t.sparse {
		fn(p, v)
	}
}
