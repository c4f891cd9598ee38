package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// n is a json.Number, the shape every reader gives numbers in values.
func n(s string) json.Number { return json.Number(s) }

func readString(t *testing.T, input string) (History, []Warning, error) {
	t.Helper()
	return Read(strings.NewReader(input), "h")
}

func TestReadNormalizesEveryFormat(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  History
	}{
		{
			name:  "jepsen edn line with cas value, time and index",
			input: "{:type :invoke, :f :cas, :value [1 2], :process 3, :time 12345, :index 7}\n",
			want:  History{{Index: 7, Time: 12345, Type: Invoke, Process: 3, F: "cas", Value: []any{n("1"), n("2")}}},
		},
		{
			name: "knossos edn lines without index or time get dense indexes",
			input: "{:process 0, :type :invoke, :f :read, :value nil}\n" +
				"{:process :nemesis, :type :info, :f :start, :value nil}\n" +
				"{:process 0, :type :ok, :f :read, :value 5}\n",
			want: History{
				{Index: 0, Type: Invoke, Process: 0, F: "read"},
				{Index: 1, Type: Info, Process: NemesisProcess, F: "start"},
				{Index: 2, Type: OK, Process: 0, F: "read", Value: n("5")},
			},
		},
		{
			name: "edn vector of maps over several lines with comments and commas",
			input: "; knossos test data\n[{:process 0,\n  :type :invoke, :f :write, :value 1} ; first\n" +
				",,{:process 0 :type :ok :f :write :value 1}\n]\n",
			want: History{
				{Index: 0, Type: Invoke, Process: 0, F: "write", Value: n("1")},
				{Index: 1, Type: OK, Process: 0, F: "write", Value: n("1")},
			},
		},
		{
			name:  "edn list of maps",
			input: "({:process 0 :type :invoke :f :read})",
			want:  History{{Index: 0, Type: Invoke, Process: 0, F: "read"}},
		},
		{
			name:  "jepsen.history.Op records read as maps",
			input: "#jepsen.history.Op{:index 0, :time 5, :type :invoke, :process 1, :f :txn, :value [[:append 5 1] [:r 5 nil]]}\n",
			want: History{{Index: 0, Time: 5, Type: Invoke, Process: 1, F: "txn",
				Value: []any{[]any{"append", n("5"), n("1")}, []any{"r", n("5"), nil}}}},
		},
		{
			name:  "edn key, node, error and tx-id become text",
			input: `{:type :invoke, :f :write, :process 2, :key 7, :node "n1", :error [:timeout "no reply"], :tx-id :t1}`,
			want:  History{{Index: 0, Type: Invoke, Process: 2, F: "write", Key: "7", Node: "n1", Error: `[:timeout "no reply"]`, TxID: "t1"}},
		},
		{
			name:  "edn tx_id spelling, keyword key",
			input: `{:type :invoke, :f :transfer, :process 2, :key :k1, :tx_id "t4-17"}`,
			want:  History{{Index: 0, Type: Invoke, Process: 2, F: "transfer", Key: "k1", TxID: "t4-17"}},
		},
		{
			name:  "edn scalars, sets, maps with non-keyword keys, tags and discards",
			input: `{:type :invoke, :f :x, :process 0, :value [true false nil 1.5 -2 +3 7N 1.25M 1/4 \a \newline "q\"\n" sym #{1} {1 :one, "s" 2, [1] 3} #inst "2020-01-01" #_ ignored ##Inf]}`,
			want: History{{Index: 0, Type: Invoke, Process: 0, F: "x", Value: []any{
				true, false, nil, n("1.5"), n("-2"), n("3"), n("7"), n("1.25"), n("0.25"), "a", "\n", "q\"\n", "sym",
				[]any{n("1")}, map[string]any{"1": "one", "s": n("2"), "[1]": n("3")}, "2020-01-01", "##Inf",
			}}},
		},
		{
			// Clojure's reader (and so Jepsen's) takes every character
			// name and octal escape; prn writes the names.
			name:  "edn character names and octal characters",
			input: `{:type :invoke, :f :x, :process 0, :value [\space \tab \return \backspace \formfeed \u00e9 \o101 \o0 \\ \(]}`,
			want: History{{Index: 0, Type: Invoke, Process: 0, F: "x", Value: []any{
				" ", "\t", "\r", "\b", "\f", "é", "A", "\x00", "\\", "(",
			}}},
		},
		{
			name:  "edn string keys for op fields",
			input: `{"type" "invoke" "f" "read" "process" 0}`,
			want:  History{{Index: 0, Type: Invoke, Process: 0, F: "read"}},
		},
		{
			name: "jsonl as the recorder writes it",
			input: `{"index":0,"time":1520333,"type":"invoke","process":2,"f":"write","key":"k7","value":3}` + "\n" +
				`{"index":1,"time":2871100,"type":"ok","process":2,"f":"write","key":"k7","value":3,"node":"n1"}` + "\n" +
				`{"index":2,"time":2990000,"type":"invoke","process":-1,"f":"kill","value":"n1"}` + "\n",
			want: History{
				{Index: 0, Time: 1520333, Type: Invoke, Process: 2, F: "write", Key: "k7", Value: n("3")},
				{Index: 1, Time: 2871100, Type: OK, Process: 2, F: "write", Key: "k7", Value: n("3"), Node: "n1"},
				{Index: 2, Time: 2990000, Type: Invoke, Process: NemesisProcess, F: "kill", Value: "n1"},
			},
		},
		{
			name: "jsonl numeric key, nemesis by name, blank lines, CRLF, tx-id spelling, object error",
			input: "\r\n" + `{"type":"invoke","process":"nemesis","f":"start"}` + "\r\n\r\n" +
				`{"type":"fail","process":"nemesis","f":"start","key":12,"tx-id":"t1","error":{"code": 3}}` + "\r\n",
			want: History{
				{Index: 0, Type: Invoke, Process: NemesisProcess, F: "start"},
				{Index: 1, Type: Fail, Process: NemesisProcess, F: "start", Key: "12", TxID: "t1", Error: `{"code":3}`},
			},
		},
		{
			name:  "jsonl values decode with UseNumber",
			input: `{"type":"ok","process":-1,"f":"x","value":{"a":[1,2.5,"s\u00e9",null,true],"b":{}}}`,
			want:  History{{Index: 0, Type: OK, Process: NemesisProcess, F: "x", Value: map[string]any{"a": []any{n("1"), n("2.5"), "sé", nil, true}, "b": map[string]any{}}}},
		},
		{
			name:  "json array over several lines",
			input: "[\n  {\"type\": \"invoke\", \"process\": 0, \"f\": \"cas\", \"value\": [1, 2]},\n  {\"type\": \"ok\", \"process\": 0, \"f\": \"cas\", \"value\": [1, 2]}\n]\n",
			want: History{
				{Index: 0, Type: Invoke, Process: 0, F: "cas", Value: []any{n("1"), n("2")}},
				{Index: 1, Type: OK, Process: 0, F: "cas", Value: []any{n("1"), n("2")}},
			},
		},
		{
			name:  "edn with a form feed and a vertical tab as space on its first line",
			input: "{:type :invoke,\f:process 0,\v:f :read}",
			want:  History{{Index: 0, Type: Invoke, Process: 0, F: "read"}},
		},
		{
			name:  "edn after a byte order mark",
			input: "\uFEFF{:type :invoke, :process 0, :f :read}",
			want:  History{{Index: 0, Type: Invoke, Process: 0, F: "read"}},
		},
		{
			name:  "byte order mark",
			input: "\uFEFF" + `{"type":"invoke","process":0,"f":"read"}`,
			want:  History{{Index: 0, Type: Invoke, Process: 0, F: "read"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := readString(t, tt.input)
			if err != nil || len(warnings) > 0 {
				t.Fatalf("Read(%q): warnings %v, error %v", tt.input, warnings, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Read(%q)\n got %#v\nwant %#v", tt.input, got, tt.want)
			}
		})
	}
}

func TestReadRejectsMalformedInputNamingTheLine(t *testing.T) {
	const (
		inv = `{"type":"invoke","process":0,"f":"read"}` + "\n"
		ok  = `{"type":"ok","process":0,"f":"read"}` + "\n"
	)
	tests := []struct {
		name    string
		input   string
		line    int
		message string
	}{
		{"unrecognized format", "\n\nhello", 3, "unrecognized history format"},
		{"unparsable jsonl line", inv + "{\"type\":\"ok\",,}\n" + ok, 2, "invalid JSON"},
		{"jsonl line that is not an object", inv + "[1]\n", 2, "want an op object"},
		{"two objects on one jsonl line", inv + ok[:len(ok)-1] + " " + ok, 2, "invalid JSON"},
		{"op cut off before the last line", `{"type":"invoke","process":0,` + "\n" + inv, 1, "ends before its closing }"},
		{"unknown type", `{"type":"done","process":0,"f":"read"}`, 1, `unknown type "done"`},
		{"missing type", inv + `{"process":0,"f":"read"}`, 2, "no type"},
		{"missing process", `{"type":"invoke","f":"read"}`, 1, "no process"},
		{"null process", `{"type":"invoke","process":null,"f":"read"}`, 1, "no process"},
		{"missing f", `{"type":"invoke","process":0}`, 1, "no f"},
		{"index not an integer", `{"index":"0","type":"invoke","process":0,"f":"read"}`, 1, "index: want an integer"},
		{"negative index", `{"index":-1,"type":"invoke","process":0,"f":"read"}`, 1, "non-negative"},
		{"time a float", `{"time":1.5,"type":"invoke","process":0,"f":"read"}`, 1, "time: want an integer"},
		{"process a boolean", `{"type":"invoke","process":true,"f":"read"}`, 1, "process: want an integer"},
		{"process another name", `{"type":"invoke","process":"client","f":"read"}`, 1, "process: want an integer"},
		{"f a number", `{"type":"invoke","process":0,"f":3}`, 1, "f: want a string"},
		{"type a number", `{"type":1,"process":0,"f":"read"}`, 1, "type: want a string"},
		{"index missing after ops with one", `{"index":0,"type":"invoke","process":0,"f":"read"}` + "\n" + ok, 2, "no index"},
		{"index present after ops without", inv + `{"index":1,"type":"ok","process":0,"f":"read"}`, 2, "has an index"},
		{"index not ascending", `{"index":4,"type":"invoke","process":0,"f":"read"}` + "\n" + `{"index":4,"type":"ok","process":0,"f":"read"}`, 2, "indexes must ascend"},
		{"completion without invocation", inv + ok + ok, 3, "no open invocation"},
		{"process below the nemesis", `{"type":"invoke","process":-2,"f":"read"}`, 1, "process must be"},
		{"json array element not an object", "[\n" + strings.TrimSpace(inv) + ",\n 3\n]", 3, "want an op object"},
		{"json array bad element", "[\n" + strings.TrimSpace(inv) + ",\n {\"type\" 1}\n]", 3, "invalid JSON"},
		{"data after the json array", "[" + strings.TrimSpace(inv) + "]\n[]", 2, "after the JSON array"},
		{"edn unknown type", "{:type :done, :process 0, :f :read}", 1, `unknown type "done"`},
		{"edn process a string of digits", "{:type :invoke, :process \"3\", :f :read}", 1, "process: want an integer or :nemesis"},
		{"edn index a keyword", "{:index :zero, :type :invoke, :process 0, :f :read}", 1, "index: want an integer"},
		{"edn f a number", "{:type :invoke, :process 0, :f 3}", 1, "f: want a keyword"},
		{"edn index too large", "{:index 99999999999999999999, :type :invoke, :process 0, :f :read}", 1, "64 bits"},
		{"edn not a map", "{:type :invoke, :process 0, :f :read}\n42\n", 2, "want an op map"},
		{"edn vector holding a non-map", "[{:type :invoke, :process 0, :f :read}\n :x]", 2, "want an op map"},
		{"edn unbalanced closer", "{:type :invoke, :process 0, :f :read]}", 1, "unexpected ']'"},
		{"edn map key without value", "{:type :invoke, :process 0, :f}", 1, "has no value"},
		{"edn bad number", "{:type :invoke, :process 0, :f :read, :value 1x}", 1, "invalid number"},
		{"edn octal-looking number", "{:type :invoke, :process 0, :f :read, :value 017}", 1, "invalid number"},
		{"edn bad escape", `{:type :invoke, :process 0, :f :read, :value "a\qb"}`, 1, `bad escape`},
		{"edn unterminated string before the last line", "{:type :invoke, :process 0, :f :read, :value \"abc}\n{:type :ok}\n", 1, "unterminated string"},
		{"edn error on a later line of a multi-line op names both", "{:type :invoke,\n :process 0,\n :f 3}", 1, "(line 3)"},
		{"edn nesting too deep", "{:type :invoke, :process 0, :f :read, :value " + strings.Repeat("[", 2000) + "}", 1, "nesting deeper"},
		{"edn discard nesting too deep", strings.Repeat("#_ ", 2000) + "{}", 1, "nesting deeper"},
		{"edn unknown character", "{:type :invoke, :process 0, :f :read, :value \\bogus}", 1, "unknown character"},
		{"invalid UTF-8 in a jsonl key", `{"type":"invoke","process":0,"f":"read","key":"k` + "\xff" + `"}`, 1, "UTF-8"},
		{"invalid UTF-8 on a later jsonl line", inv + ok + `{"type":"invoke","process":0,"f":"read","error":"` + "\xfe" + `"}`, 3, "UTF-8"},
		{"lone surrogate escape in a jsonl key", `{"type":"invoke","process":0,"f":"read","key":"k\ud800"}`, 1, "surrogate"},
		{"invalid UTF-8 in a json array", "[\n" + `{"type":"invoke","process":0,"f":"read","key":"` + "\xff" + `"}]`, 2, "UTF-8"},
		{"invalid UTF-8 in an edn string", "{:type :invoke, :process 0, :f :read}\n{:type :ok, :process 0, :f :read, :value \"\xff\"}", 2, "UTF-8"},
		{"invalid UTF-8 in an edn keyword", "{:type :invoke, :process 0, :f :r\xfe}", 1, "UTF-8"},
		{"lone surrogate escape in an edn string", `{:type :invoke, :process 0, :f :read, :value "\udc00"}`, 1, "surrogate"},
		{"binary zeros", strings.Repeat("\x00", 300), 1, "unrecognized history format"},
		{"binary after an edn opener", "#" + strings.Repeat("\x00", 300), 1, "unrecognized history format"},
		{"the only op cut off", `{"index":0,"type":"invoke","pro`, 1, "last op is cut off"},
		{"the only edn op cut off", `{:index 0, :type :invoke, :pro`, 1, "last op is cut off"},
		{"edn validation names the line", "{:process 0, :type :invoke, :f :read}\n\n{:process 0, :type :ok, :f :write}\n", 3, `has f "write"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _, err := readString(t, tt.input)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Read(%q) = %d ops, error %v; want a *ParseError", tt.input, len(h), err)
			}
			if pe.File != "h" || pe.Line != tt.line || !strings.Contains(pe.Msg, tt.message) {
				t.Errorf("Read(%q): error %q; want h:%d: …%s…", tt.input, err, tt.line, tt.message)
			}
			if h != nil {
				t.Errorf("Read(%q) returned %d ops with its error", tt.input, len(h))
			}
		})
	}
}

func TestReadRejectsInputWithoutOps(t *testing.T) {
	for _, input := range []string{"", "\n  \n", "[]", "[\n]", "; just a comment\n", "()", "\uFEFF"} {
		h, _, err := readString(t, input)
		if !errors.Is(err, ErrNoOps) || h != nil {
			t.Errorf("Read(%q) = %d ops, error %v; want ErrNoOps", input, len(h), err)
		}
	}
}

func TestReadWarnsOnTruncatedLastLine(t *testing.T) {
	const (
		inv    = `{"index":0,"type":"invoke","process":0,"f":"write","value":1}` + "\n"
		ednInv = "{:index 0, :type :invoke, :process 0, :f :write, :value 1}\n"
	)
	tests := []struct {
		name  string
		input string
		ops   int
		line  int
	}{
		{"jsonl cut mid-object", inv + `{"index":1,"type":"ok","pro`, 1, 2},
		{"jsonl cut mid-string with a newline after", inv + `{"index":1,"type":"o` + "\n", 1, 2},
		{"jsonl cut mid-number then blank lines", inv + `{"index":1` + "\n\n", 1, 2},
		{"edn line cut mid-map", ednInv + "{:index 1, :type :ok, :proc", 1, 2},
		{"edn line cut mid-string", ednInv + `{:index 1, :type :ok, :error "time`, 1, 2},
		{"edn vector cut mid-map", "[" + ednInv + " {:index 1, :type", 1, 2},
		{"edn vector without its closing bracket", "[" + ednInv, 1, 2},
		{"json array cut mid-object", "[\n" + strings.TrimSpace(inv) + ",\n" + `{"index":1,"ty`, 1, 3},
		{"json array without its closing bracket", "[\n" + strings.TrimSpace(inv) + "\n", 1, 3},
		{"json array on one line cut", "[" + strings.TrimSpace(inv) + `,{"index":1,"ty`, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, warnings, err := readString(t, tt.input)
			if err != nil {
				t.Fatalf("Read(%q): %v", tt.input, err)
			}
			if len(h) != tt.ops {
				t.Errorf("Read(%q) = %d ops, want %d", tt.input, len(h), tt.ops)
			}
			if len(warnings) != 1 || warnings[0].Line != tt.line || warnings[0].File != "h" {
				t.Errorf("Read(%q): warnings %v; want one at h:%d", tt.input, warnings, tt.line)
			}
		})
	}
}

func TestReadFileNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.edn")
	if err := os.WriteFile(path, []byte("{:type :invoke, :process 0, :f :read}\n{:type :bogus}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := ReadFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: ") {
		t.Errorf("ReadFile(%s) error %v; want it to start with %s:2:", path, err, path)
	}
	if _, _, err := ReadFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v; want os.ErrNotExist", err)
	}
}

func TestReadTestdataRoundTripsThroughWriteJSONL(t *testing.T) {
	files, err := filepath.Glob("testdata/*.*")
	if err != nil || len(files) < 5 {
		t.Fatalf("testdata files %v, %v", files, err)
	}
	for _, file := range files {
		h, warnings, err := ReadFile(file)
		if err != nil || len(warnings) > 0 {
			t.Errorf("ReadFile(%s): warnings %v, error %v", file, warnings, err)
			continue
		}
		var buf bytes.Buffer
		if err := WriteJSONL(&buf, h); err != nil {
			t.Fatalf("WriteJSONL(%s): %v", file, err)
		}
		again, _, err := Read(&buf, file+".jsonl")
		if err != nil {
			t.Fatalf("reading back %s: %v\n%s", file, err, buf.String())
		}
		if !reflect.DeepEqual(h, again) {
			t.Errorf("%s changed through WriteJSONL:\n got %#v\nwant %#v", file, again, h)
		}
	}
}

func TestReadLongJSONLLines(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // beyond the reader's 64 KiB buffer
	input := `{"type":"invoke","process":0,"f":"write","value":"` + long + `"}` + "\n" +
		`{"type":"ok","process":0,"f":"write","value":"` + long + `"}` + "\n"
	h, _, err := readString(t, input)
	if err != nil || len(h) != 2 || h[1].Value != long {
		t.Fatalf("Read of two 200 KiB lines = %d ops, error %v", len(h), err)
	}
}

func TestReadLargeHistoryKeepsEveryOp(t *testing.T) {
	want := registerHistory(3*sizeAfter + 7) // past the point where the reader sizes its history
	var jsonl bytes.Buffer
	if err := WriteJSONL(&jsonl, want); err != nil {
		t.Fatal(err)
	}
	array := "[" + strings.ReplaceAll(strings.TrimSpace(jsonl.String()), "\n", ",\n") + "]"
	tests := []struct {
		name   string
		reader func() io.Reader
	}{
		{"jsonl of known size", func() io.Reader { return bytes.NewReader(jsonl.Bytes()) }},
		{"jsonl of unknown size", func() io.Reader { return struct{ io.Reader }{bytes.NewReader(jsonl.Bytes())} }},
		{"json array", func() io.Reader { return strings.NewReader(array) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := Read(tt.reader(), "big")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read %d ops, want the %d written", len(got), len(want))
			}
		})
	}
}

// TestReadFileWithinRefusesAHistoryBeyondTheLimit: a history that would
// not fit the limit is refused before it is held, whatever its format,
// and one that fits reads as ReadFile reads it.
func TestReadFileWithinRefusesAHistoryBeyondTheLimit(t *testing.T) {
	h := registerHistory(3 * sizeAfter)
	var jsonl bytes.Buffer
	if err := WriteJSONL(&jsonl, h); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string][]byte{
		"h.jsonl": jsonl.Bytes(),
		"h.json":  []byte("[" + strings.ReplaceAll(strings.TrimSpace(jsonl.String()), "\n", ",\n") + "]"),
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if got, _, err := ReadFileWithin(path, 1<<20); !errors.Is(err, ErrTooLarge) || got != nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s (%d ops) within 1 MiB: %d ops, error %v; want ErrTooLarge naming the file", name, len(h), len(got), err)
		}
		if got, _, err := ReadFileWithin(path, 1<<30); err != nil || !reflect.DeepEqual(got, h) {
			t.Errorf("%s within 1 GiB: %d ops, error %v; want the %d ops", name, len(got), err, len(h))
		}
	}
}

// TestReadKeepsTextThatLooksOdd: the checks that refuse binary input and
// invalid UTF-8 accept what real histories hold: a byte order mark, tabs
// between fields, keys in any script, and two keys that
// differ only in Unicode normalization, which stay two keys.
func TestReadKeepsTextThatLooksOdd(t *testing.T) {
	input := "\uFEFF{\"type\":\"invoke\",\t\"process\":0,\"f\":\"write\",\"key\":\"é\",\"value\":\"日本\"}\n" +
		`{"type":"ok","process":0,"f":"write","key":"é","value":"日本"}` + "\n" +
		`{"type":"invoke","process":1,"f":"read","key":"e\u0301"}` + "\n"
	h, _, err := readString(t, input)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[0].Key != "é" || h[0].Value != "日本" || h[2].Key != "e\u0301" || h[0].Key == h[2].Key {
		t.Fatalf("read %#v", h)
	}
}
