package nemesis

import (
	"context"
	"errors"
	"math/rand"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/target"
)

func init() {
	Register("duplicate-retry", []target.Feature{target.ClientProxy}, func(o Options) Nemesis { return &duplicateRetry{seed: o.Seed} })
}

// duplicateRetry puts a fault Proxy in front of every API the workload's
// clients use (target.ClientRouter: the 2PC coordinator, each Raft node)
// and toggles its faults:
// while on, requests are sent twice and responses dropped, so clients time
// out and resubmit the same tx_id while an earlier copy may still be in
// flight. The retry workload is built for it.
type duplicateRetry struct {
	seed    int64
	routes  target.ClientRouter // whose client routes Setup changed
	proxies []*Proxy
	on      bool
}

// The fault rates while on: high enough that a few seconds of load see
// many duplicates and retries.
const (
	dupRate  = 0.3
	dropRate = 0.2
)

func (*duplicateRetry) Name() string { return "duplicate-retry" }

// Setup starts the proxies and routes the workload's clients through them.
func (d *duplicateRetry) Setup(_ context.Context, sys target.System) error {
	r, ok := sys.(target.ClientRouter)
	if !ok {
		return errors.New("duplicate-retry: the target cannot route its clients through a proxy")
	}
	apis := r.ClientAddrs()
	if len(apis) == 0 {
		return errors.New("duplicate-retry: no client API to put a proxy in front of")
	}
	for i, api := range apis {
		p, err := StartProxy(api, d.seed+int64(i))
		if err != nil {
			d.Close()
			return err
		}
		d.proxies = append(d.proxies, p)
		d.routes = r
		r.RouteClients(api, p.Addr())
	}
	return nil
}

func (d *duplicateRetry) Op(*rand.Rand) history.Op {
	if d.on {
		return history.Op{F: "stop-duplicate-retry"}
	}
	return history.Op{F: "start-duplicate-retry", Value: map[string]any{"duplicate": dupRate, "drop": dropRate}}
}

func (d *duplicateRetry) Invoke(_ context.Context, _ target.System, op history.Op) history.Op {
	switch op.F {
	case "start-duplicate-retry":
		d.set(true)
	case "stop-duplicate-retry":
		d.set(false)
	default:
		op.Error = "duplicate-retry: unknown f " + op.F
		return op
	}
	op.Value = d.counts()
	return op
}

func (d *duplicateRetry) set(on bool) {
	d.on = on
	for _, p := range d.proxies {
		if on {
			p.SetFaults(dupRate, dropRate)
		} else {
			p.SetFaults(0, 0)
		}
	}
}

// counts totals the faults the proxies injected so far.
func (d *duplicateRetry) counts() map[string]any {
	var dup, drop int64
	for _, p := range d.proxies {
		a, b := p.Counts()
		dup, drop = dup+a, drop+b
	}
	return map[string]any{"duplicated": dup, "dropped": drop}
}

// Heal turns the faults off; the proxies keep forwarding faithfully until
// Close.
func (d *duplicateRetry) Heal(context.Context, target.System) error {
	d.set(false)
	return nil
}

// Close stops the proxies; clients created afterwards dial the nodes
// directly.
func (d *duplicateRetry) Close() error {
	var errs []error
	for _, p := range d.proxies {
		if d.routes != nil {
			d.routes.RouteClients(p.Upstream(), "")
		}
		errs = append(errs, p.Close())
	}
	d.proxies = nil
	return errors.Join(errs...)
}
