// Package faultnet is chaoscheck's link-level fault layer: the network
// between the nodes of a cluster, made of loopback TCP proxies, so that a
// nemesis can partition, slow and lose traffic between nodes without root,
// iptables or any kernel support, for any system that lets it choose the
// addresses its nodes dial.
//
// A Net owns one proxy per directed link and upstream address: node `from`
// dials the address Via(from, to, addr) returns instead of addr, the
// address of node `to`. Every connection through that proxy carries bytes
// in two directions, from→to (the dialler's requests) and to→from (the
// replies); each direction obeys the fault of its own ordered pair of
// nodes. So a grudge in which n1 drops traffic from n2 silences n2's
// requests on connections n2 dialled to n1 AND n2's replies on connections
// n1 dialled to n2, as a real partition does, whichever side dialled.
//
// Faults, per ordered pair of nodes (src → dst, the direction bytes flow):
//   - pass;
//   - blackhole: bytes vanish, the connection stays open, nobody is told
//     (no reset, no FIN), as in a real partition;
//   - delay: every chunk is held for a fixed time ± uniform jitter, order
//     kept;
//   - loss: each chunk is lost with a probability.
//
// Grudges (grudge.go) are Jepsen's: for each node, the nodes it drops
// traffic from. Partition applies one, Slow delays every link, Set changes
// one ordered pair, Heal restores every link.
//
// # Invariants and who keeps them
//
// Stream integrity: what a connection delivers in one direction is always
// a prefix of what was sent, never a stream with a hole. TCP cannot deliver
// past a lost segment, so once a chunk of a direction is dropped (blackhole
// or loss) that direction is damaged: nothing more passes on it, its FIN
// included. When its pair becomes clean again (no blackhole, no loss) the
// connection is closed, on both sides; connections that lost nothing (an
// idle keep-alive connection across a partition) carry on. dir.drop marks
// the damage and Net.sweep closes damaged connections after every change
// of faults; each re-checks the other, so neither order of a concurrent
// drop and heal leaves a damaged connection open on a clean link.
//
// Order: delay never reorders a direction: a chunk is released no earlier
// than the one before it (dir.reader).
//
// Ownership: Close closes every listener and connection and returns only
// when every goroutine the Net started has ended; no proxy socket or
// goroutine outlives it (net_test.go counts both).
//
// Client traffic is not this package's business: clients dial nodes
// directly, as in Jepsen.
//
// faultnet imports only the standard library; it knows nothing of the
// systems whose links it carries.
package faultnet
