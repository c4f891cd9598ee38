package workload

import (
	"reflect"
	"testing"
)

// register-per-node is the register workload in all but where its
// clients connect: same boot, same op stream, same checkers.
func TestRegisterPerNodeIsTheRegisterWorkload(t *testing.T) {
	w, err := ByName("register-per-node", Options{RaftNodes: 5, Keys: 3})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ByName("register", Options{RaftNodes: 5, Keys: 3})
	if w.Name() != "register-per-node" || w.Boot() != r.Boot() {
		t.Fatalf("name %q boot %+v; want register-per-node booting %+v", w.Name(), w.Boot(), r.Boot())
	}
	if a, b := take(w.Generator(7), 100), take(r.Generator(7), 100); !reflect.DeepEqual(a, b) {
		t.Errorf("op stream differs from register's for the same seed")
	}
	var names []string
	for _, c := range w.Checkers(t.TempDir()) {
		names = append(names, c.Name())
	}
	if want := []string{"linearizable", "stats"}; !reflect.DeepEqual(names, want) {
		t.Errorf("checkers %v, want %v", names, want)
	}
}
