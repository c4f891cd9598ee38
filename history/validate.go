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
	v := newValidator(file)
	for i := range h {
		line := i + 1
		if i < len(lines) {
			line = lines[i]
		}
		if err := v.check(&h[i], line); err != nil {
			return err
		}
	}
	return nil
}

// validator applies Validate's rules one op at a time, in history order,
// remembering only the open invocations and the crashed processes: the
// readers that stream a history (Stream) use it as Validate does.
type validator struct {
	file     string
	n        int
	prev     int64 // the last op's index
	prevLine int
	procs    Processes[validProc]
}

// validProc is one client process's state.
type validProc struct {
	open    bool   // an invocation is open:
	f       string // its f
	line    int    // and its line
	crashed int    // the line of its info completion, 0 if none
}

func newValidator(file string) *validator { return &validator{file: file} }

// check judges the next op, found at line, and returns the first defect
// as a *ParseError.
func (v *validator) check(op *Op, line int) error {
	fail := func(format string, args ...any) error {
		msg := fmt.Sprintf("op %d (process %d): ", op.Index, op.Process) + fmt.Sprintf(format, args...)
		return &ParseError{File: v.file, Line: line, Msg: msg}
	}
	first := v.n == 0
	prev, prevLine := v.prev, v.prevLine
	v.n++
	v.prev, v.prevLine = op.Index, line
	switch op.Type {
	case Invoke, OK, Fail, Info:
	default:
		return fail("unknown type %q: want invoke, ok, fail or info", op.Type)
	}
	if op.Index < 0 {
		return fail("negative index")
	}
	if !first && op.Index <= prev {
		return fail("index %d does not follow index %d (line %d): indexes must ascend", op.Index, prev, prevLine)
	}
	if op.Process < NemesisProcess {
		return fail("process must be ≥ 0, or -1 for the nemesis")
	}
	if op.Process == NemesisProcess {
		return nil
	}
	p := v.procs.At(op.Process)
	if op.Type == Invoke {
		if p.open {
			return fail("invokes %q while its %q invoked at line %d is still open", op.F, p.f, p.line)
		}
		if p.crashed > 0 {
			return fail("invokes %q after its info completion at line %d; a crashed process must continue under a new process number", op.F, p.crashed)
		}
		p.open, p.f, p.line = true, op.F, line
		return nil
	}
	if !p.open {
		return fail("%s completion of %q has no open invocation", op.Type, op.F)
	}
	if p.f != op.F {
		return fail("%s completion has f %q but its invocation at line %d has f %q", op.Type, op.F, p.line, p.f)
	}
	p.open, p.f = false, ""
	if op.Type == Info {
		p.crashed = line
	}
	return nil
}
