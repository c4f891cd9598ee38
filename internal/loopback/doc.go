// Package loopback holds the one rule for where chaoscheck listens and
// what it lets nodes dial: an address on the loopback interface, never one
// reachable from another machine.
//
// The rule, kept by Check alone: host:port with a port from 1 to 65535
// and a host that is a loopback IP literal (127.0.0.0/8, ::1) or the name
// localhost (RFC 6761 §6.3: it resolves to loopback). Everything chaoscheck
// boots itself (Raft and 2PC nodes, faultnet's proxies, etcd members,
// PostgreSQL) is given 127.0.0.1 literally; the other spellings are
// accepted from a person's flags because they reach the same interface.
// An empty host (":8080") or 0.0.0.0 means every interface and is refused.
//
// faultnet (proxy upstreams), sut/raftsql (peer and API addresses),
// sut/twopc (node API addresses) and report's serve command (its listen
// address, unless --allow-remote) all call Check.
//
// loopback imports only the standard library.
package loopback
