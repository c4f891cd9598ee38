package checker

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
)

func member(rev, hash string) map[string]any {
	return map[string]any{"revision": json.Number(rev), "hash": json.Number(hash)}
}

func TestReplicaHash(t *testing.T) {
	cases := []struct {
		name     string
		value    any
		typ      history.Type
		want     Validity
		diverged string // the anomaly's Key: replicas outside the largest group
	}{
		{"all agree", map[string]any{"n1": member("40", "7"), "n2": member("40", "7"), "n3": member("40", "7")}, history.OK, Valid, ""},
		{"one hash differs", map[string]any{"n1": member("40", "7"), "n2": member("40", "9"), "n3": member("40", "7")}, history.OK, Invalid, "n2"},
		{"one revision behind (skipped an entry)", map[string]any{"n1": member("40", "7"), "n2": member("40", "7"), "n3": member("39", "7")}, history.OK, Invalid, "n3"},
		{"all differ", map[string]any{"n1": member("40", "1"), "n2": member("40", "2"), "n3": member("40", "3")}, history.OK, Invalid, "n2,n3"},
		{"single replica", map[string]any{"n1": member("4", "1")}, history.OK, Valid, ""},
		{"observation never completed", nil, history.Info, Unknown, ""},
		{"malformed value", []any{1, 2}, history.OK, Unknown, ""},
		{"replica without hash", map[string]any{"n1": map[string]any{"revision": json.Number("3")}}, history.OK, Unknown, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := history.History{
				{Index: 0, Type: history.Invoke, Process: 9, F: ReplicaHashF},
				{Index: 1, Type: c.typ, Process: 9, F: ReplicaHashF, Value: c.value},
			}
			res := NewReplicaHash().Check(context.Background(), h)
			if res.Valid != c.want {
				t.Fatalf("valid = %s, want %s (%+v)", res.Valid, c.want, res)
			}
			if c.want != Invalid {
				if len(res.Anomalies) != 0 {
					t.Fatalf("anomalies on a %s verdict: %+v", res.Valid, res.Anomalies)
				}
				return
			}
			if len(res.Anomalies) != 1 || res.Anomalies[0].Kind != "replica-divergence" || res.Anomalies[0].Key != c.diverged || res.Anomalies[0].Ops[0] != 1 {
				t.Fatalf("anomalies = %+v, want one replica-divergence on op 1 naming %s", res.Anomalies, c.diverged)
			}
		})
	}
}
