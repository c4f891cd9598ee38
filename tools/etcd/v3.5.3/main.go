// Command etcd is etcd v3.5.3 built from its released modules, so that
// chaoscheck's etcd target can be tested on a machine with only the Go
// module proxy. It is etcd's own main, nothing added.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
