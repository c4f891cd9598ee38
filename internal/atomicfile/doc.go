// Package atomicfile replaces a file so that a reader, or a crash at any
// moment, sees the old content or the new content, never a mixture and
// never nothing.
//
// Invariant, kept by Write alone: the new content goes to a temporary file
// in the same directory; that file is fsynced before the rename (so the
// name never points at data still in the page cache), renamed over the
// target (rename(2) is atomic within a directory), and then the directory
// is fsynced (so the rename itself survives a power cut). This is the
// strictest of the rules chaoscheck used in four places before; every file
// chaoscheck replaces (results.json, config.json, report.html, soak.json,
// JUnit XML) goes through it.
//
// atomicfile imports only the standard library.
package atomicfile
