package runner

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
)

type nopRecorder struct{ n int64 }

func (r *nopRecorder) Record(op history.Op) history.Op { op.Index = r.n; r.n++; return op }

func TestCountingRecorderTalliesCompletionsAndTheLatestFault(t *testing.T) {
	c := &countingRecorder{rec: &nopRecorder{}}
	for _, typ := range []history.Type{history.Invoke, history.OK, history.Invoke, history.Fail, history.Invoke, history.Info} {
		c.Record(history.Op{Type: typ, Process: 1, F: "write"})
	}
	c.Record(history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: "kill"})
	if got := c.currentFault(); !strings.HasPrefix(got, "kill…") {
		t.Errorf("fault in progress shown as %q", got)
	}
	c.Record(history.Op{Type: history.Info, Process: history.NemesisProcess, F: "kill", Value: map[string]any{"node": "n2"}})
	if c.ok.Load() != 1 || c.fail.Load() != 1 || c.info.Load() != 1 || c.faults.Load() != 1 {
		t.Errorf("ok %d fail %d info %d faults %d, want 1 each", c.ok.Load(), c.fail.Load(), c.info.Load(), c.faults.Load())
	}
	if got := c.currentFault(); !strings.HasPrefix(got, `kill {"node":"n2"} (`) {
		t.Errorf("completed fault shown as %q", got)
	}
}

func TestProgressLogsLinesWhenNotATerminal(t *testing.T) {
	var logs, out bytes.Buffer
	c := &countingRecorder{rec: &nopRecorder{}}
	c.Record(history.Op{Type: history.OK, Process: 0, F: "read"})
	cfg := Defaults()
	cfg.Progress, cfg.Rounds, cfg.TimeLimit = &out, 4, 0
	p := newProgress(cfg, slog.New(slog.NewTextHandler(&logs, nil)), c)
	if p.tty {
		t.Fatal("a bytes.Buffer taken for a terminal")
	}
	if line := p.line(); !strings.Contains(line, "0/4 rounds") || !strings.Contains(line, "ok 1") || !strings.Contains(line, "fault: none yet") {
		t.Errorf("progress line %q", line)
	}
	if p.every < time.Second {
		t.Errorf("non-terminal progress every %s: CI logs would fill up", p.every)
	}
	p.every = 20 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	p.run(ctx)
	if !strings.Contains(logs.String(), "msg=progress") || !strings.Contains(logs.String(), "ok=1") || out.Len() != 0 {
		t.Errorf("non-terminal progress: log %q, direct output %q", logs.String(), out.String())
	}
}
