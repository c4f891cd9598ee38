// Package checker decides whether a history is legal. Each checker looks at
// a history.History only, never at the system under test, so `chaoscheck
// analyze` reaches the same verdict later, on any machine, for histories
// from any system.
//
// Invariant: a checker reports Valid true only when it finished and found
// nothing wrong. A check that ran out of time, was cancelled, or lacked the
// observations it needs (no final read) is Unknown, never True.
//
// Invariant: every checker compares values by history.ValueKey and reads
// integers by history.Int, the one value rule (numbers by value, a string
// never equal to a number); none coerces values its own way.
// values_test.go holds each checker to it.
//
// A checker may also judge a history as it is read (stream.go): its
// Streamer's Result must be what Check gives on the same history, or say
// that it needs the whole history (complete false), never a different
// verdict. The linearizable and stats checkers stream. The linearizable
// checker decides keys with its own register search
// (linearizable_search.go) and trusts it only for valid verdicts; every
// other outcome goes to porcupine, the reference.
//
// checker imports history and its dependencies (porcupine); it must not
// import sut/, runner/, workload/ or nemesis/. A checker big enough for a
// package of its own (checker/elle) imports this one and makes itself
// known to New and ForWorkload with Register; set-full lives here
// (setfull.go).
package checker
