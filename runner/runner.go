package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/faultnet"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/nemesis"
	"github.com/chaoscheck/chaoscheck/report"
	"github.com/chaoscheck/chaoscheck/store"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// finalReadTimeout bounds the final reads and setupTimeout the workload's
// setup, both retried until the system answers. (The heal's bound is
// Config.HealTimeout.)
const (
	finalReadTimeout = time.Minute
	setupTimeout     = time.Minute
)

// Outcome is what a run produced.
type Outcome struct {
	Config  Config        // as run: defaults filled, the seed used
	Dir     string        // the run directory
	Results store.Results // as written to results.json
}

// Run performs one run as cfg says and returns its outcome. The error is
// nil whenever the run reached a verdict, whatever it is (an interrupted
// run's included); it is a *ConfigError for a config no run can start
// from, and any other error is chaoscheck's own failure (the SUT would not
// boot, the disk is full). When a run directory was made, Outcome.Dir is
// set and results.json is written even when Run fails.
func Run(ctx context.Context, cfg Config) (Outcome, error) {
	if err := cfg.Validate(); err != nil {
		return Outcome{Config: cfg}, err
	}
	cfg, tgt, bugs, err := cfg.target()
	if err != nil {
		return Outcome{Config: cfg}, err
	}
	cfg = cfg.withSeed()
	w, err := workload.ByName(cfg.Workload, cfg.workloadOptions())
	if err != nil {
		return Outcome{Config: cfg}, &ConfigError{Err: err}
	}
	// The partition layer exists when a nemesis cuts links: every
	// node-to-node link then goes through its proxies. It outlives the
	// nodes (closed after runWith has stopped them).
	nopts := cfg.nemesisOptions()
	var net target.Net
	if needs, _ := nemesis.Needs(cfg.Nemesis); slices.Contains(needs, target.Partition) {
		fn := faultnet.New(cfg.Log)
		defer fn.Close()
		nopts.Net, net = fn, fn
	}
	nem, err := nemesis.Parse(cfg.Nemesis, nopts)
	if err != nil {
		return Outcome{Config: cfg}, &ConfigError{Err: err}
	}
	return runWith(ctx, cfg, w, nem, func(ctx context.Context, dir *store.Run, cfg Config) (target.System, error) {
		return tgt.Boot(ctx, target.Env{
			Dir: filepath.Join(dir.Dir, store.NodesDir), Nodes: cfg.NodeCount,
			Workload: cfg.Workload, WorkloadOptions: cfg.workloadOptions(),
			Options: cfg.TargetOptions, Bugs: bugs, Net: net, Log: cfg.Log,
		})
	})
}

// bootFunc starts the system under test; tests replace it to run the
// phases without node processes.
type bootFunc func(ctx context.Context, dir *store.Run, cfg Config) (target.System, error)

// runWith is Run once the workload and nemesis are built.
func runWith(ctx context.Context, cfg Config, w workload.Workload, nem nemesis.Nemesis, boot bootFunc) (Outcome, error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	dir, err := store.Create(cfg.Store, store.TestName(cfg.Workload, cfg.Nemesis, cfg.SUTBugs...), start)
	if err != nil {
		return Outcome{Config: cfg}, storeError(cfg.Store, err)
	}
	// latest points at the run from its first moment, so a runner killed
	// with SIGKILL leaves `analyze store/latest` reading this run's
	// history, not the previous one's.
	if err := store.MarkLatest(dir); err != nil {
		return Outcome{Config: cfg, Dir: dir.Dir}, storeError(cfg.Store, err)
	}
	// A history that cannot be written ends the run at once (a full disk
	// would otherwise let the heal wait out its timeout on dead nodes).
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	r := &run{cfg: cfg, log: log, w: w, nem: nem, dir: dir, start: start, boot: boot, abort: abort}
	r.res = store.Results{Workload: cfg.Workload, Nemesis: cfg.Nemesis, Scenario: cfg.Scenario,
		Seed: cfg.Seed, Version: cfg.Version, Start: start, Dir: dir.Dir, History: dir.Path(store.HistoryFile)}
	runErr := r.execute(ctx)
	out, finErr := r.finish(ctx, runErr)
	return out, errors.Join(runErr, finErr)
}

// errRecordFailed is the cause a run ends with when its history cannot be
// written: every op after it would be lost, so going on is pointless.
var errRecordFailed = errors.New("the history cannot be written")

// createRecorder opens the run's history; tests put a failing device
// behind it.
var createRecorder = func(path string) (*history.Recorder, error) { return history.CreateRecorder(path) }

// storeError classifies a failure to make the run directory or its
// latest link: a store path that is a file, or one chaoscheck may not
// write, is the user's --store (a *ConfigError, exit 254); a full disk or
// an I/O error is not.
func storeError(storeDir string, err error) error {
	for _, user := range []error{syscall.ENOTDIR, syscall.EEXIST, syscall.EACCES, syscall.EPERM, syscall.EROFS, syscall.ENAMETOOLONG, syscall.ELOOP} {
		if errors.Is(err, user) {
			return &ConfigError{Err: fmt.Errorf("--store %s: %w", storeDir, err)}
		}
	}
	return err
}

// run is the state of one Run between its phases.
type run struct {
	cfg   Config
	log   *slog.Logger
	w     workload.Workload
	nem   nemesis.Nemesis
	dir   *store.Run
	start time.Time
	boot  bootFunc
	abort context.CancelCauseFunc // ends the run early with a cause (errRecordFailed)

	rec         *history.Recorder
	crec        *countingRecorder
	sys         target.System
	driver      workload.Driver
	nextProcess int64 // above every process the load used
	loadErr     error
	finalReadOK bool
	res         store.Results
}

// note adds a remark on the run to results.json and the log.
func (r *run) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.res.Notes = append(r.res.Notes, msg)
	r.log.Warn(msg)
}

// execute runs from config.json to the stopped cluster. Its error is
// chaoscheck's own failure; what the SUT does is for the checkers.
func (r *run) execute(ctx context.Context) error {
	cfg := r.cfg
	r.log.Info("run", "dir", r.dir.Dir, "workload", cfg.Workload, "nemesis", cfg.Nemesis, "scenario", cfg.Scenario, "seed", cfg.Seed)
	err := r.writeRecord(nil)
	if err != nil {
		return err
	}
	// The history file exists from the start, so a run that fails to
	// boot still has the complete set of files.
	if r.rec, err = createRecorder(r.dir.Path(store.HistoryFile)); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	r.crec = &countingRecorder{rec: r.rec, failed: func() {
		r.abort(fmt.Errorf("%w: %v", errRecordFailed, r.rec.Err()))
	}}

	r.log.Info("booting the system under test", "target", cfg.Target, "nodes", cfg.NodeCount)
	r.sys, err = r.boot(ctx, r.dir, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while booting: finish says so
		}
		return fmt.Errorf("runner: boot %s: %w", cfg.Target, err)
	}
	defer func() {
		if err := r.sys.Stop(ctx.Err() != nil); err != nil {
			r.note("stop %s: %v", cfg.Target, err)
		}
	}()
	if o, ok := r.sys.(target.Observer); ok {
		// config.json was written before boot; the target's own checkers
		// (etcd's replica-hash) join it now, so analyze of this run
		// re-judges with them too.
		var names []string
		for _, c := range o.Checkers() {
			names = append(names, c.Name())
		}
		if err := r.writeRecord(names); err != nil {
			return err
		}
	}
	r.driver = r.sys.Driver()
	// Drivers retry their setup until the system answers; a system that
	// refuses it for good must not hold the run forever.
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	err = r.driver.Setup(sctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("runner: workload %s setup: %w", cfg.Workload, err)
	}
	if err := r.nem.Setup(ctx, r.sys); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("runner: nemesis %s setup: %w", cfg.Nemesis, err)
	}
	defer func() {
		if err := r.nem.Close(); err != nil {
			r.note("nemesis close: %v", err)
		}
	}()

	r.load(ctx)
	if ctx.Err() != nil {
		// Interrupted: no heal, no final reads; the nodes die with the
		// deferred stop, and the checkers judge what was recorded.
		return nil
	}

	r.log.Info("healing", "nemesis", cfg.Nemesis)
	hctx, cancel := context.WithTimeout(ctx, r.cfg.HealTimeout)
	err = r.nem.Heal(hctx, r.sys)
	cancel()
	if err != nil {
		r.note("heal: %v", err)
	}
	if err := r.sys.WaitHealthy(ctx, r.cfg.HealTimeout); err != nil {
		r.note("cluster not healthy after heal: %v", err)
	}
	if ctx.Err() != nil {
		return nil
	}

	r.log.Info("final reads")
	fctx, cancel := context.WithTimeout(ctx, finalReadTimeout)
	// The workload's final reads, then the target's own observations
	// (etcd: every member's revision and KV hash), if it has any.
	ops := r.w.FinalOps()
	if o, ok := r.sys.(target.Observer); ok {
		ops = append(ops, o.FinalOps()...)
	}
	_, err = workload.FinalReads(fctx, ops, r.driver, r.crec, r.nextProcess, r.cfg.workloadOptions().WithDefaults().OpTimeout)
	cancel()
	switch {
	case err == nil:
		r.finalReadOK = true
	case ctx.Err() == nil:
		r.note("final reads: %v", err)
	}
	return nil
}

// writeRecord writes config.json, the run's record, with the target's own
// checkers (extra) after the workload's.
func (r *run) writeRecord(extra []string) error {
	raw, err := r.record(extra)
	if err != nil {
		return err
	}
	r.res.Config = raw
	return store.WriteJSON(r.dir.Path(store.ConfigFile), raw)
}

// record is config.json: the run's store.Record over its whole Config.
func (r *run) record(extra []string) (json.RawMessage, error) {
	cfg := r.cfg
	rec := store.Record{Workload: cfg.Workload, Nemesis: cfg.Nemesis, Scenario: cfg.Scenario, Target: cfg.Target,
		Seed: cfg.Seed, SUTBugs: cfg.SUTBugs, Reproduce: cfg.Command()}
	if j, ok := r.w.(workload.Judged); ok {
		jd := j.Judgement()
		names := jd.Checkers
		if !slices.Contains(names, "stats") {
			names = append(slices.Clone(names), "stats")
		}
		names = append(slices.Clone(names), extra...)
		if err := rec.SetJudgement(names, jd.Options); err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
		rec.InitialBalance = jd.InitialBalance
	}
	raw, err := store.EncodeRecord(rec, cfg)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	return raw, nil
}

// load runs the workload and the nemesis schedule together. The load
// lasts TimeLimit; with TimeLimit 0 it lasts until the nemesis has done
// its Rounds, and one more interval so the system's recovery from the
// last fault happens under load. The nemesis stops when the load does.
func (r *run) load(ctx context.Context) {
	cfg := r.cfg
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	// The schedule stops when the load does, but an action under way
	// finishes (only an interrupted run cancels it).
	stop := make(chan struct{})
	stopNemesis := sync.OnceFunc(func() { close(stop) })
	defer stopNemesis()
	progCtx, stopProgress := context.WithCancel(ctx)
	prog := newProgress(cfg, r.log, r.crec)
	progDone := make(chan struct{})
	go func() { defer close(progDone); prog.run(progCtx) }()

	r.log.Info("load", "time_limit", cfg.TimeLimit, "rounds", cfg.Rounds, "concurrency", cfg.Concurrency, "rate", cfg.Rate)
	nemDone := make(chan error, 1)
	go func() {
		nopts := cfg.nemesisOptions()
		nopts.Stop = stop
		err := nemesis.RunSchedule(ctx, r.nem, r.sys, r.crec, nopts)
		if cfg.TimeLimit == 0 && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-stop:
			case <-time.After(cfg.NemesisInterval):
			}
			stopLoad()
		}
		nemDone <- err
	}()
	stats, err := workload.Run(loadCtx, r.w, r.driver, r.crec, cfg.workloadOptions())
	r.nextProcess = stats.NextProcess
	stopNemesis()
	nerr := <-nemDone
	stopProgress()
	<-progDone

	if err != nil && !errors.Is(err, context.Canceled) {
		r.loadErr = err
		r.note("workload stopped early: %v", err)
	}
	if nerr != nil {
		r.note("nemesis schedule: %v", nerr)
	}
	if cfg.Rounds > 0 && r.crec.faults.Load() < int64(cfg.Rounds) && ctx.Err() == nil {
		r.note("nemesis did %d of %d rounds before the load ended", r.crec.faults.Load(), cfg.Rounds)
	}
	r.log.Info("load done", "invoked", stats.Invoked, "ok", stats.OK, "fail", stats.Fail, "info", stats.Info,
		"nemesis_actions", r.crec.faults.Load(), "elapsed", stats.Elapsed.Round(time.Millisecond))
}

// finish checks what was recorded and stores the results. It runs
// whatever execute returned, so every run directory gets a results.json.
func (r *run) finish(ctx context.Context, runErr error) (Outcome, error) {
	var errs []error
	switch cause := context.Cause(ctx); {
	case ctx.Err() == nil:
	case errors.Is(cause, errRecordFailed):
		r.note("stopped: %v", cause)
	default:
		r.res.Interrupted = true
		r.note("interrupted: %v", cause)
	}
	var h history.History
	if r.rec != nil {
		if err := r.rec.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := r.rec.Err(); err != nil {
			errs = append(errs, fmt.Errorf("runner: history incomplete: %w", err))
		}
		h = r.rec.History()
	}
	r.res.Ops = len(h)
	r.res.Partitions = store.PartitionsOf(h)

	checkers := r.w.Checkers(r.dir.Dir)
	if o, ok := r.sys.(target.Observer); ok {
		checkers = append(checkers, o.Checkers()...)
	}
	if !slices.ContainsFunc(checkers, func(c checker.Checker) bool { return c.Name() == "stats" }) {
		checkers = append(checkers, checker.NewStats())
	}
	r.log.Info("checking", "ops", len(h), "checkers", len(checkers))
	// An interrupted run is still judged: the check has its own deadline,
	// not the cancelled run's.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.CheckTimeout)
	res := checker.Compose(checkers...).Check(cctx, h)
	cancel()
	r.res.SetVerdict(res)

	// Never valid on observations not made: the checkers that need a
	// final read say unknown without one, and so does the run.
	if !r.finalReadOK {
		r.res.NoFinalRead = true // store.CutShort: analyze applies the same rule
		if runErr == nil && !r.res.Interrupted {
			r.note("no final read: the verdict cannot be valid")
		}
		r.res.Valid = checker.Merge(r.res.Valid, checker.Unknown)
	}
	if r.loadErr != nil || runErr != nil {
		r.res.Valid = checker.Merge(r.res.Valid, checker.Unknown)
	}
	if runErr != nil {
		r.res.Notes = append(r.res.Notes, runErr.Error())
	}

	r.res.End = time.Now()
	r.res.DurationSec = r.res.End.Sub(r.start).Seconds()
	if err := store.WriteJSON(r.dir.Path(store.ResultsFile), r.res); err != nil {
		errs = append(errs, err)
	}
	// After results.json, so the report links it. A report that cannot be
	// written is a note, not a failed run: the verdict stands without it.
	if err := report.WriteHTMLFile(r.dir.Dir, r.res, h); err != nil {
		r.note("%v", err)
		if err := store.WriteJSON(r.dir.Path(store.ResultsFile), r.res); err != nil {
			errs = append(errs, err)
		}
	}
	if r.res.Valid == checker.Valid {
		if err := r.dir.RemoveNodeData(); err != nil {
			errs = append(errs, err)
		}
	}
	r.log.Info("done", "verdict", r.res.Valid.String(), "dir", r.dir.Dir)
	return Outcome{Config: r.cfg, Dir: r.dir.Dir, Results: r.res}, errors.Join(errs...)
}
