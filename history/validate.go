package history

import "fmt"

// Validate checks that h is a well-formed Jepsen history, which every
// checker and Pairs assume:
//
//   - every type is invoke, ok, fail or info;
//   - indexes are non-negative and strictly ascending;
//   - every process is ≥ 0, or -1 for the nemesis;
//   - a client process completes only an open invocation, with the same f;
//   - a client process never invokes while an invocation is open, nor
//     after an info completion (Jepsen: the worker continues under a new
//     process number, because the crashed op may still take effect).
//
// Nemesis ops are not paired (Jepsen records them as info/info or
// invoke/info pairs); only their type is checked. Invocations still open
// at the end are legal: they are indeterminate.
//
// lines[i] is the source line of h[i], for the error; when lines is nil
// (or too short) the line is taken to be the index in h plus one. The
// first defect is returned as a *ParseError naming file and line.
func Validate(h History, lines []int, file string) error {
	lineOf := func(i int) int {
		if i < len(lines) {
			return lines[i]
		}
		return i + 1
	}
	fail := func(i int, format string, args ...any) error {
		msg := fmt.Sprintf("op %d (process %d): ", h[i].Index, h[i].Process) + fmt.Sprintf(format, args...)
		return &ParseError{File: file, Line: lineOf(i), Msg: msg}
	}
	open := make(map[int64]int)    // process → position of its open invocation
	crashed := make(map[int64]int) // process → position of its info completion
	for i, op := range h {
		switch op.Type {
		case Invoke, OK, Fail, Info:
		default:
			return fail(i, "unknown type %q: want invoke, ok, fail or info", op.Type)
		}
		if op.Index < 0 {
			return fail(i, "negative index")
		}
		if i > 0 && op.Index <= h[i-1].Index {
			return fail(i, "index %d does not follow index %d (line %d): indexes must ascend", op.Index, h[i-1].Index, lineOf(i-1))
		}
		if op.Process < NemesisProcess {
			return fail(i, "process must be ≥ 0, or -1 for the nemesis")
		}
		if op.Process == NemesisProcess {
			continue
		}
		if op.Type == Invoke {
			if j, ok := open[op.Process]; ok {
				return fail(i, "invokes %q while its %q invoked at line %d is still open", op.F, h[j].F, lineOf(j))
			}
			if j, ok := crashed[op.Process]; ok {
				return fail(i, "invokes %q after its info completion at line %d; a crashed process must continue under a new process number", op.F, lineOf(j))
			}
			open[op.Process] = i
			continue
		}
		j, ok := open[op.Process]
		if !ok {
			return fail(i, "%s completion of %q has no open invocation", op.Type, op.F)
		}
		if h[j].F != op.F {
			return fail(i, "%s completion has f %q but its invocation at line %d has f %q", op.Type, op.F, lineOf(j), h[j].F)
		}
		delete(open, op.Process)
		if op.Type == Info {
			crashed[op.Process] = i
		}
	}
	return nil
}
