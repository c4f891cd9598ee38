package history

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestUnpackIndependentTuples(t *testing.T) {
	h, _, err := Read(strings.NewReader(`
{:type :invoke, :f :cas, :value [3 [1 2]], :process 0, :index 0}
{:type :info, :f :start, :value [:a :b], :process :nemesis, :index 1}
{:type :ok, :f :cas, :value [3 [1 2]], :process 0, :index 2}
{:type :invoke, :f :read, :value [:k nil], :process 1, :index 3}
{:type :ok, :f :read, :value [:k 7], :process 1, :index 4}
{:type :invoke, :f :read, :value [3.0 nil], :process 2, :index 5}
`), "ind.edn")
	if err != nil {
		t.Fatal(err)
	}
	u, ok := UnpackIndependent(h)
	if !ok {
		t.Fatal("not recognized as independent")
	}
	if u[0].Key != "3" || u[3].Key != "k" || u[5].Key != "3" || u[4].Value != json.Number("7") || u[3].Value != nil {
		t.Fatalf("unpacked %+v", u)
	}
	if v, _ := u[0].Value.([]any); len(v) != 2 || v[0] != json.Number("1") {
		t.Fatalf("cas value %v", u[0].Value)
	}
	if u[1].Key != "" || h[0].Key != "" {
		t.Fatalf("nemesis op changed, or the input was modified: %+v %+v", u[1], h[0])
	}
}

func TestUnpackIndependentLeavesOtherHistoriesAlone(t *testing.T) {
	cases := map[string]string{
		"register": `{:type :invoke, :f :write, :value 3, :process 0, :index 0}
{:type :ok, :f :write, :value 3, :process 0, :index 1}`,
		"cas with a plain read": `{:type :invoke, :f :cas, :value [1 2], :process 0, :index 0}
{:type :ok, :f :cas, :value [1 2], :process 0, :index 1}
{:type :invoke, :f :read, :value nil, :process 0, :index 2}
{:type :ok, :f :read, :value 2, :process 0, :index 3}`,
		"keyed already": `{"type":"invoke","f":"write","key":"x","value":[1,2],"process":0,"index":0}`,
	}
	for name, text := range cases {
		h, _, err := Read(strings.NewReader(text), name)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := UnpackIndependent(h); ok {
			t.Errorf("%s: unpacked", name)
		}
	}
}
