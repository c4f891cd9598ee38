package twopc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestIsIndeterminate(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/txn":
			writeCodedError(w, http.StatusConflict, codeConflict, "tx_id t1 was already used with different ops")
		case "/status":
			writeError(w, http.StatusInternalServerError, "disk on fire")
		case "/read-balances":
			<-release // answers only after the client gave up
		}
	}))
	defer srv.Close()
	defer close(release)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens here now: connection refused

	ctx := context.Background()
	c := NewClient(srv.URL, 200*time.Millisecond)
	_, conflictErr := c.Submit(ctx, Txn{TxID: "t1"})
	_, serverErr := c.Status(ctx)
	_, timeoutErr := c.ReadBalances(ctx)
	_, refusedErr := NewClient(closed, time.Second).Submit(ctx, Txn{TxID: "t1"})
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"no error", nil, false},
		{"409 conflict", conflictErr, false},
		{"500", serverErr, true},
		{"timeout", timeoutErr, true},
		{"connection refused", refusedErr, false},
	}
	for _, tc := range cases {
		if got := IsIndeterminate(tc.err); got != tc.want {
			t.Errorf("%s: IsIndeterminate(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	if !errors.Is(conflictErr, ErrConflict) {
		t.Errorf("409 with code %s: errors.Is(err, ErrConflict) false: %v", codeConflict, conflictErr)
	}
}
