package raftsql

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestCommandRoundTripKeepsArgumentTypes(t *testing.T) {
	tests := []struct {
		name string
		in   []any
		want []any
	}{
		{"integers stay integers", []any{1, int64(-7), uint32(9)}, []any{int64(1), int64(-7), int64(9)}},
		{"floats stay floats", []any{1.5, float32(0.25), 1e300}, []any{1.5, 0.25, 1e300}},
		{"integral float becomes integer", []any{2.0}, []any{int64(2)}},
		{"largest int64", []any{int64(math.MaxInt64)}, []any{int64(math.MaxInt64)}},
		{"null, bool and text", []any{nil, true, "héllo", ""}, []any{nil, true, "héllo", ""}},
		{"json.Number", []any{json.Number("12"), json.Number("0.5"), json.Number("1e3")}, []any{int64(12), 0.5, int64(1000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Command{RequestID: "r-1", Stmts: []Stmt{{SQL: "INSERT INTO t VALUES (?)", Args: tt.in}}}
			b, err := EncodeCommand(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := DecodeCommand(b)
			if err != nil {
				t.Fatal(err)
			}
			if out.RequestID != "r-1" || len(out.Stmts) != 1 || out.Stmts[0].SQL != in.Stmts[0].SQL {
				t.Fatalf("decoded %+v from %s", out, b)
			}
			if !reflect.DeepEqual(out.Stmts[0].Args, tt.want) {
				t.Errorf("args %#v decoded as %#v, want %#v", tt.in, out.Stmts[0].Args, tt.want)
			}
		})
	}
}

func TestEncodeCommandRefusesWhatCannotRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
		want string
	}{
		{"no statements", Command{RequestID: "x"}, "no statements"},
		{"blob argument", Command{Stmts: []Stmt{{SQL: "?", Args: []any{[]byte("b")}}}}, "unsupported argument type []uint8"},
		{"nested argument", Command{Stmts: []Stmt{{SQL: "?", Args: []any{map[string]any{}}}}}, "unsupported argument type"},
		{"NaN", Command{Stmts: []Stmt{{SQL: "?", Args: []any{math.NaN()}}}}, "cannot be encoded"},
		{"uint64 overflow", Command{Stmts: []Stmt{{SQL: "?", Args: []any{uint64(math.MaxUint64)}}}}, "overflows int64"},
		{"long request id", Command{RequestID: strings.Repeat("r", MaxRequestIDLen+1), Stmts: []Stmt{{SQL: "SELECT 1"}}}, "request id is"},
		{"invalid UTF-8", Command{Stmts: []Stmt{{SQL: "SELECT '\xff'"}}}, "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodeCommand(tt.cmd)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("EncodeCommand error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestDecodeCommandRefusesMalformedEntries(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", ``, "EOF"},
		{"not JSON", `raft`, "invalid character"},
		{"stmts not a list", `{"stmts": 3}`, "cannot unmarshal"},
		{"no statements", `{"request_id": "a", "stmts": []}`, "no statements"},
		{"object argument", `{"stmts": [{"sql": "?", "args": [{"a": 1}]}]}`, "unsupported argument type"},
		{"list argument", `{"stmts": [{"sql": "?", "args": [[1]]}]}`, "unsupported argument type"},
		{"number out of range", `{"stmts": [{"sql": "?", "args": [1e999]}]}`, "out of range"},
		{"trailing data", `{"stmts": [{"sql": "SELECT 1"}]} {}`, "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeCommand([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DecodeCommand(%s) error = %v, want one containing %q", tt.data, err, tt.want)
			}
		})
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte(`{"request_id":"r","stmts":[{"sql":"INSERT INTO t VALUES (?, ?)","args":[1, "x"]}]}`))
	f.Add([]byte(`{"stmts":[{"sql":"?","args":[1e308, -0.0, null, true]}]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			return
		}
		// Whatever decodes must encode and decode to the same command.
		b, err := EncodeCommand(c)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", c, err)
		}
		c2, err := DecodeCommand(b)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed %+v into %+v (%v)", c, c2, err)
		}
	})
}
