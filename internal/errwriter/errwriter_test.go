package errwriter

import (
	"errors"
	"fmt"
	"testing"
)

type failAfter struct {
	n   int
	got []byte
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("closed")
	}
	f.n--
	f.got = append(f.got, p...)
	return len(p), nil
}

func TestWriterKeepsTheFirstErrorAndStops(t *testing.T) {
	f := &failAfter{n: 1}
	w := &Writer{W: f}
	fmt.Fprint(w, "a")
	fmt.Fprint(w, "b")
	fmt.Fprint(w, "c")
	if w.Err == nil || w.Err.Error() != "closed" || string(f.got) != "a" {
		t.Errorf("err %v, written %q; want the first error and only %q", w.Err, f.got, "a")
	}
}
