// Package elle is chaoscheck's transactional checker, after "Elle:
// Inferring Isolation Anomalies from Experimental Observations" (Kingsbury
// and Alvaro, VLDB 2020) and Jepsen's elle library, written anew in Go.
//
// It judges histories of transactions (ops with f "txn" whose value is a
// list of micro-ops) in Elle's two workloads:
//
//   - list-append: ["append", k, v] appends a value unique to the key;
//     ["r", k, [v1 v2 …]] reads the whole list;
//   - rw-register: ["w", k, v] writes a value unique to the key;
//     ["r", k, v] reads it (nil: the initial state).
//
// Use it from Go:
//
//	c, err := elle.NewChecker(elle.Options{
//		Workload: "list-append",
//		Models:   []string{"serializable"},
//		Timeout:  time.Minute,
//	})
//	res := c.Check(ctx, h) // a checker.Result; res.Details is *elle.Details
//
// Files, one concern each: history.go (txns and micro-ops decoded from the
// history), listappend.go and rwregister.go (dependency inference and the
// anomalies found without cycles), graph.go (the dependency graph, process
// and realtime orders, strongly connected components), cycles.go (cycle
// search and naming), models.go (the consistency-model lattice), explain.go
// (the proof of each cycle step), checker.go (Options, the verdict).
//
// Invariants:
//   - fail txns never happened: their writes are in no version order and
//     reading one is G1a; info txns may have happened: their writes count
//     once a read shows them, and nothing is concluded from their reads;
//   - the verdict is Invalid only for an anomaly the requested models
//     forbid, and Valid only when every search finished: a check or a
//     cycle search cut off by its timeout, or input skipped as malformed,
//     leaves the verdict Unknown;
//   - the work is linear in the history apart from sorting (n log n):
//     the version order, readers and writers are indexed once, realtime
//     order costs O(n) edges through tick nodes (graph.go), and cycle
//     searches run only inside strongly connected components, which a
//     valid history does not have.
//
// elle imports checker and history; checker cannot import it back, so it
// registers its checkers with checker.Register from an init function
// (register.go): a binary gets them by importing this package.
package elle
