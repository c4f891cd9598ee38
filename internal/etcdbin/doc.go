// Package etcdbin finds or builds the etcd binaries chaoscheck's etcd
// target is tested against. Each etcd release it knows is a pinned build
// module under tools/etcd/<version>/ (its own go.mod, outside the main
// module, whose main calls etcdmain.Main); etcd itself cannot be `go
// install`ed because its go.mod has replace directives.
//
// Path returns $CHAOSCHECK_ETCD_BIN for the default version when it is
// set (CI builds it once); otherwise it builds the module into
// $HOME/.cache/chaoscheck/etcd-<version>/etcd once and reuses it. An
// exclusive file lock serializes the build, so test binaries running in
// parallel build each version at most once.
//
// It needs the repository's source tree (it finds tools/etcd from its own
// source path), so it is for tests and the bug-hunt entry points, not for
// an installed chaoscheck, whose users bring their own etcd binary.
package etcdbin
