// Package errwriter lets a function print many lines without checking
// each write and still report the first error (a closed stdout, a full
// disk): Writer keeps the first error and writes nothing after it.
//
// errwriter imports only the standard library.
package errwriter

import "io"

// Writer writes to W until a write fails; Err is that first error.
type Writer struct {
	W   io.Writer
	Err error
}

func (e *Writer) Write(p []byte) (int, error) {
	if e.Err != nil {
		return 0, e.Err
	}
	n, err := e.W.Write(p)
	e.Err = err
	return n, err
}
