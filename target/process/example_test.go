package process_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/target/process"
)

// A config names the nodes' command, their health check and the client
// program; what a booted system can do follows from it.
func ExampleParseConfig() {
	cfg, err := process.ParseConfig("/srv/kv/kv.toml", []byte(`
nodes = 3
ports = ["http"]

[node]
command = ["./kvd", "--name", "{node}", "--listen", "{addr:http}", "--peers", "{peers:http}", "--data", "{data_dir}"]

[health]
http_get = "http://{addr:http}/health"

[leader]
http_get = "http://{addr:http}/leader"

[client]
command = ["python3", "{config_dir}/client.py"]
workloads = ["register", "set"]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.NodeNames(0), cfg.NodeNames(5))
	fmt.Println(cfg.Features())
	// Output:
	// [n1 n2 n3] [n1 n2 n3 n4 n5]
	// [kill pause partition leader]
}

// A bad config is one line naming the file, the line and the key.
func ExampleParseConfig_error() {
	_, err := process.ParseConfig("/srv/kv/kv.toml", []byte(`
ports = ["http"]
[node]
command = ["./kvd", "--listen", "{addr:htp}"]
[health]
tcp = "{addr:http}"
[client]
command = ["./kv-client"]
workloads = ["register"]
`))
	fmt.Println(err)
	// Output:
	// config /srv/kv/kv.toml line 4: node.command: {addr:htp}: no port "htp" (ports = ["http"])
}

// Boot the pykv example (three Python nodes), then act as one client
// process through the user's client program: a write, then a read.
func ExampleTarget_Boot() {
	dir, _ := os.MkdirTemp("", "process-example-")
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sys, err := process.Target{}.Boot(ctx, target.Env{
		Dir: dir, Workload: "register",
		Options: target.Options{process.ConfigFlag: "../../examples/pykv/pykv.toml"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sys.Stop(true)
	if err := sys.Driver().Setup(ctx); err != nil {
		fmt.Println(err)
		return
	}
	c, err := sys.Driver().NewClient(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	w := c.Invoke(ctx, history.Op{Index: 0, Type: history.Invoke, Process: 0, F: "write", Key: "k1", Value: 7})
	r := c.Invoke(ctx, history.Op{Index: 2, Type: history.Invoke, Process: 0, F: "read", Key: "k1"})
	fmt.Println(sys.Nodes(), w.Type, r.Type, r.Value)
	// Output: [n1 n2 n3] ok ok 7
}
