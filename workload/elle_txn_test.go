package workload

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestParseTxnReadsGeneratedAndJSONValues(t *testing.T) {
	var fromJSON any
	d := json.NewDecoder(strings.NewReader(`[["append", 3, 1], ["r", 4, null], ["w", 5, 7]]`))
	d.UseNumber()
	if err := d.Decode(&fromJSON); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{
		"generated": []any{[]any{"append", int64(3), int64(1)}, []any{"r", int64(4), nil}, []any{"w", int64(5), int64(7)}},
		"json":      fromJSON,
	} {
		mops, err := ParseTxn(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := fmt.Sprint(TxnValue(mops)); got != "[[append 3 1] [r 4 <nil>] [w 5 7]]" {
			t.Errorf("%s: round trip %s", name, got)
		}
	}
}

func TestParseTxnRefusesMalformedValues(t *testing.T) {
	for _, tc := range []struct {
		value any
		want  string
	}{
		{"x", "not a list of micro-ops"},
		{[]any{[]any{"r", int64(1)}}, "is not [f, key, value]"},
		{[]any{[]any{"cas", int64(1), int64(2)}}, `f "cas" is not r, append or w`},
		{[]any{[]any{"r", "k", nil}}, "key"},
		{[]any{[]any{"append", int64(1), 1.5}}, "value"},
	} {
		if _, err := ParseTxn(tc.value); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTxn(%v) = %v, want an error containing %q", tc.value, err, tc.want)
		}
	}
}
