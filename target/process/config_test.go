package process

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/target"
)

const minimalConfig = `
nodes = 3
ports = ["http", "raft"]

[node]
command = ["mynode", "--id", "{node}", "--listen", "{addr:raft}", "--peers", "{peers:raft}", "--data", "{data_dir}"]
env = { MY_API = "{addr:http}" }

[health]
http_get = "http://{addr:http}/health"

[client]
command = ["python3", "{config_dir}/client.py", "{addrs:http}"]
workloads = ["register"]
`

func TestConfigErrorsNameFileLineAndKey(t *testing.T) {
	cases := []struct {
		name, old, new, want string // new replaces old in minimalConfig (old "": new is the whole file)
	}{
		{"toml syntax", "", "nodes = 3\nports = [\"http\"\n", "line 2"},
		{"unknown key", "[health]", "[helth]", `line 9: helth: unknown key`},
		{"unknown key in a table", `http_get = "http://{addr:http}/health"`, `htp_get = "x"`, `line 10: health.htp_get: unknown key`},
		{"unknown placeholder", `{addr:raft}`, `{adr:raft}`, `line 6: node.command: {adr:raft}: unknown placeholder`},
		{"unknown port", `{addr:raft}`, `{addr:rpc}`, `node.command: {addr:rpc}: no port "rpc"`},
		{"node placeholder in client", `{addrs:http}"]`, `{peers:http}"]`, `line 13: client.command: {peers:http}: unknown in the client's scope`},
		{"addrs in a node", `{peers:raft}`, `{addrs:raft}`, `node.command: {addrs:raft}: client scope only`},
		{"two health checks", `[health]`, "[health]\ntcp = \"{addr:http}\"", `health: set exactly one`},
		{"no workloads", `workloads = ["register"]`, `workloads = []`, `client.workloads: missing`},
		{"unsupported workload", `workloads = ["register"]`, `workloads = ["register-per-node"]`, `"register-per-node" is not a workload the process target carries`},
		{"bad duration", "[health]", "start_timeout = \"soon\"\n[health]", `line 9: time: invalid duration "soon"`},
		{"peer of a missing node", `{peers:raft}`, `{peer:n9:raft}`, `{peer:n9:raft}: no node "n9"`},
		{"duplicate port", `ports = ["http", "raft"]`, `ports = ["http", "http"]`, `ports: "http" is not a distinct name`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.new
			if tc.old != "" {
				if !strings.Contains(minimalConfig, tc.old) {
					t.Fatalf("test bug: %q not in the config", tc.old)
				}
				src = strings.Replace(minimalConfig, tc.old, tc.new, 1)
			}
			_, err := ParseConfig("/etc/my.toml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "config /etc/my.toml") {
				t.Fatalf("error %v, want one starting with the file and containing %q\n%s", err, tc.want, src)
			}
		})
	}
}

func TestPlaceholdersGiveEachNodeItsOwnViewOfItsPeers(t *testing.T) {
	cfg, err := ParseConfig("/etc/sys/my.toml", []byte(minimalConfig))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.layout(cfg.NodeNames(0), []int{1001, 1002, 2001, 2002, 3001, 3002})
	l.root = "/run/nodes"
	// A fake partition layer whose addresses say which link they are.
	var links []string
	via := func(from, to, addr string) (string, error) {
		links = append(links, from+">"+to)
		return fmt.Sprintf("proxy-%s-%s(%s)", from, to, addr), nil
	}
	spec, err := cfg.nodeSpec(l, "n2", via)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mynode", "--id", "n2", "--listen", "127.0.0.1:2002",
		"--peers", "n1=proxy-n2-n1(127.0.0.1:1002),n3=proxy-n2-n3(127.0.0.1:3002)", "--data", "/run/nodes/n2/data"}
	if !slices.Equal(spec.argv, want) {
		t.Errorf("n2's argv\n got %q\nwant %q", spec.argv, want)
	}
	if !slices.Equal(spec.env, []string{"MY_API=127.0.0.1:2001"}) {
		t.Errorf("n2's env %q", spec.env)
	}
	if spec.health.HTTPGet != "http://127.0.0.1:2001/health" {
		t.Errorf("n2's health URL %q", spec.health.HTTPGet)
	}
	if !slices.Equal(links, []string{"n2>n1", "n2>n3"}) {
		t.Errorf("links asked of the partition layer: %q", links)
	}
	argv, _, err := cfg.expandClient(l)
	if err != nil {
		t.Fatal(err)
	}
	if want := "n1=127.0.0.1:1001,n2=127.0.0.1:2001,n3=127.0.0.1:3001"; argv[1] != "/etc/sys/client.py" || argv[2] != want {
		t.Errorf("client argv %q: the client dials nodes directly, want %q", argv, want)
	}
}

func TestFeaturesFollowTheConfig(t *testing.T) {
	cfg, err := ParseConfig("/x.toml", []byte(minimalConfig))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Features(); !slices.Equal(got, []target.Feature{target.Kill, target.Pause, target.Partition}) {
		t.Errorf("features %q", got)
	}
	noPeers := strings.Replace(minimalConfig, `"--peers", "{peers:raft}", `, "", 1) + "\n[leader]\nhttp_get = \"http://{addr:http}/leader\"\n"
	cfg, err = ParseConfig("/x.toml", []byte(noPeers))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Features(); !slices.Equal(got, []target.Feature{target.Kill, target.Pause, target.LeaderFeature}) {
		t.Errorf("features without peers, with a leader question: %q", got)
	}
}
