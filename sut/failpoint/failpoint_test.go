package failpoint

import (
	"net/http/httptest"
	"testing"

	gofail "go.etcd.io/gofail/runtime"
)

var testFP = gofail.NewFailpoint("failpointTestPoint")

func TestEnableDisableOverHTTP(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	base := srv.URL // the handler is mounted at the root here; Prefix is in the path

	if _, err := testFP.Acquire(); err == nil {
		t.Fatalf("failpoint active before Enable")
	}
	if err := Enable(srv.Client(), base, "failpointTestPoint", `return("boom")`); err != nil {
		t.Fatal(err)
	}
	v, err := testFP.Acquire()
	if err != nil || v != "boom" {
		t.Fatalf("Acquire after Enable = %v, %v; want boom", v, err)
	}
	if err := Disable(srv.Client(), base, "failpointTestPoint"); err != nil {
		t.Fatal(err)
	}
	if _, err := testFP.Acquire(); err == nil {
		t.Fatalf("failpoint still active after Disable")
	}
	if err := Enable(srv.Client(), base, "noSuchFailpoint", "off"); err == nil {
		t.Fatalf("enabling an unknown failpoint succeeded")
	}
}
