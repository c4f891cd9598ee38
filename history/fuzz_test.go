package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// addTestdata seeds f with every reader input in testdata, whole and cut
// in half (the truncated-write path).
func addTestdata(f *testing.F) {
	files, err := filepath.Glob("testdata/*.*")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files in testdata: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
}

// FuzzRead: any input gives a history or an error naming a line that
// exists, never a panic; and a history read survives WriteJSONL unchanged.
func FuzzRead(f *testing.F) {
	addTestdata(f)
	for _, s := range []string{
		"", "[]", "{}", "[{}]", "#_ {} {:type :invoke :process 0 :f :r}",
		`{"type":"invoke","process":"nemesis","f":"x","value":[1,{"a":null}]}`,
		`{:type :invoke, :process 0, :f :r, :value #{\a "b" 1/3 1.5M ##NaN #inst "x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		h, warnings, err := Read(bytes.NewReader(data), "fuzz")
		for _, w := range warnings {
			if w.File != "fuzz" || w.Line < 1 || w.Line > lines {
				t.Fatalf("warning %v on input of %d lines %q", w, lines, data)
			}
		}
		if err != nil {
			if errors.Is(err, ErrNoOps) {
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "fuzz" || pe.Line < 1 || pe.Line > lines {
				t.Fatalf("error %#v on input of %d lines %q", err, lines, data)
			}
			if h != nil {
				t.Fatalf("history of %d ops returned with error %v", len(h), err)
			}
			return
		}
		if len(h) == 0 {
			t.Fatalf("no ops and no error for %q", data)
		}
		if err := Validate(h, nil, "fuzz"); err != nil {
			t.Fatalf("Read returned a history Validate rejects: %v", err)
		}
		var buf bytes.Buffer
		if err := WriteJSONL(&buf, h); err != nil {
			t.Fatalf("WriteJSONL of a history read from %q: %v", data, err)
		}
		again, warnings, err := Read(&buf, "again")
		if err != nil || len(warnings) > 0 {
			t.Fatalf("reading back %q: warnings %v, error %v", buf.Bytes(), warnings, err)
		}
		if !reflect.DeepEqual(h, again) {
			t.Fatalf("history changed through WriteJSONL:\n got %#v\nwant %#v\ninput %q", again, h, data)
		}
	})
}

// FuzzEDNValue: every EDN value the parser accepts is already in the
// shape encoding/json gives with UseNumber, so checkers see one
// representation whatever the format.
func FuzzEDNValue(f *testing.F) {
	for _, s := range []string{
		"nil", "[1 -2 +3 4N 1.5 1.5M 1e3 -0.0 1/3 1. 7/0]", `{:a "b\u00e9\n" "c" #{\a \newline \u0041}}`,
		"(#inst \"2020\" #_ x sym :ns/kw ##Inf)", `"\ud83d\ude00 \ud800"`, "{[1 2] {nil true}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newEDNParser(data)
		if done, err := p.atEOF(); done || err != nil {
			return
		}
		v, _, err := p.value()
		if err != nil {
			if _, ok := err.(*ednError); !ok {
				t.Fatalf("error %#v is not an *ednError", err)
			}
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("value %#v from %q does not encode as JSON: %v", v, data, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var back any
		if err := dec.Decode(&back); err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("value %#v from %q reads back from JSON %s as %#v (%v)", v, data, b, back, err)
		}
	})
}

// FuzzJSONValue: the hand-written walker over valid JSON decodes exactly
// as encoding/json does into an interface with UseNumber.
func FuzzJSONValue(f *testing.F) {
	for _, s := range []string{
		`null`, `[1, -2.5e3, "a\"b\u00e9", true, false, null, [], {}]`,
		`{"a": {"b": [1, {"c": "d"}]}, "a": 2, "\u0061": 3, "x\\y": "\ud800"}`, ` "s" `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("Decode(%q): %v", data, err)
		}
		got := jsonValue(bytes.TrimSpace(data))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("jsonValue(%q) = %#v, encoding/json gives %#v", data, got, want)
		}
	})
}

// FuzzScanOpMatchesDecodeJSONOp: the one-pass scanner accepts only lines
// decodeJSONOp accepts, and decodes them to the same op: it is a fast path,
// never a second opinion.
func FuzzScanOpMatchesDecodeJSONOp(f *testing.F) {
	for _, s := range []string{
		`{"index":0,"time":168,"type":"invoke","process":5,"f":"cas","key":"k3","value":[3,0]}`,
		`{"index":2,"time":1645,"type":"ok","process":6,"f":"write","key":"k65","value":4,"node":"n1"}`,
		`{"type":"info","process":"nemesis","f":"kill","value":{"n1":["n2","n3"]},"error":"timeout"}`,
		`{"type":"ok","process":-1,"f":"x","tx_id":12,"key":7,"value":[true,false,null,-0.5e+3,"é",{}]}`,
		`{"type":"ok","process":1,"f":"x","index":1,"index":2,"debug":{"a":[1,2,[3]]}}`,
		`{"type":"ok","process":1,"f":"x","value":"k` + "\xff" + `"}`,
		`{"type":"ok","process":1,"f":"x","value":01}`, `{"type":"ok","process":1,"f":"x","value":1.}`,
		`{"type":"ok","process":1,"f":"x"} {}`, `{"type":"ok","process":1,"f":"x","tx-id":"t"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			return
		}
		got, gotHas, ok := newOpScanner(interner{}).scanOp(line)
		if !ok {
			return
		}
		want, wantHas, err := decodeJSONOp(line, interner{})
		if err != nil {
			t.Fatalf("scanOp accepted %q, decodeJSONOp rejects it: %s", line, err.msg)
		}
		if !reflect.DeepEqual(got, want) || gotHas != wantHas {
			t.Fatalf("scanOp(%q) = %#v %+v\ndecodeJSONOp gives %#v %+v", line, got, gotHas, want, wantHas)
		}
	})
}
