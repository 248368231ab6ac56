package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type ctrState int

var errStopping = errors.New("pod is stopping")

const (
	stateWaiting ctrState = iota
	stateRunning
	stateTerminated
)

// ctr is one container of a pod: a local process in its own process group,
// restarted per the pod's restartPolicy. Fields below spec are guarded by w.mu.
type ctr struct {
	w    *podWorker
	spec *v1.Container
	init bool
	dir  string // STATE/pods/POD/containers/NAME: root/, log, pgid

	state           ctrState
	reason, message string
	pid             int
	starts          int // processes started so far
	restarts        int32
	startedAt       time.Time
	finishedAt      time.Time
	exitCode        int32
	termReason      string
	lastTerm        *v1.ContainerStateTerminated
	ready, started  bool // readiness; startup probe passed (or none)
	final           bool // terminated and will not be restarted
	done            chan struct{}
	env             []string
	envMap          map[string]string
	mounts          []mount
	cwd             string
}

func newCtr(w *podWorker, spec *v1.Container, init bool) *ctr {
	return &ctr{
		w: w, spec: spec, init: init, reason: "ContainerCreating",
		dir: filepath.Join(w.dir, "containers", spec.Name),
	}
}

func (c *ctr) root() string    { return filepath.Join(c.dir, "root") }
func (c *ctr) logPath() string { return filepath.Join(c.dir, "log") }

func (c *ctr) isStarted() bool {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	return c.state == stateRunning && c.started
}

// prepare computes env, mounts, argv and working directory for the next start.
func (c *ctr) prepare(ctx context.Context) (argv []string, err error) {
	w := c.w
	pod := w.latest()
	w.mu.Lock()
	vols, ip := w.volumes, w.ip
	w.mu.Unlock()
	if err := os.MkdirAll(c.root(), 0o755); err != nil {
		return nil, err
	}
	names, envMap, err := w.buildEnv(ctx, pod, c, ip)
	if err != nil {
		return nil, err
	}
	lookup := func(n string) (string, bool) { v, ok := envMap[n]; return v, ok }
	mounts, err := c.makeMounts(vols, lookup)
	if err != nil {
		return nil, err
	}
	env := make([]string, 0, len(names))
	for _, n := range names {
		envMap[n] = rewritePaths(envMap[n], mounts)
		env = append(env, n+"="+envMap[n])
	}
	if len(c.spec.Command) == 0 && len(w.r.images.prefix(c.spec.Image)) == 0 {
		return nil, fmt.Errorf("container %s: no command, and image %q has no entry in the image map", c.spec.Name, c.spec.Image)
	}
	argv = append(argv, w.r.images.prefix(c.spec.Image)...)
	for _, s := range c.spec.Command {
		argv = append(argv, rewritePaths(expandVars(s, lookup), mounts))
	}
	for _, s := range c.spec.Args {
		argv = append(argv, rewritePaths(expandVars(s, lookup), mounts))
	}
	argv = w.r.sa.wrap(argv, mounts)
	cwd := c.root()
	if wd := c.spec.WorkingDir; wd != "" {
		if r := rewritePaths(wd, mounts); r != wd {
			cwd = r
		} else {
			cwd = filepath.Join(c.root(), wd)
		}
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			return nil, err
		}
	}
	w.mu.Lock()
	c.env, c.envMap, c.mounts, c.cwd = env, envMap, mounts, cwd
	w.mu.Unlock()
	return argv, nil
}

// start launches the container's process; c.done closes when it exits.
func (c *ctr) start(ctx context.Context) error {
	argv, err := c.prepare(ctx)
	if err != nil {
		return err
	}
	w := c.w
	w.mu.Lock()
	env, cwd := c.env, c.cwd
	w.mu.Unlock()
	path, err := lookPath(argv[0], env, cwd)
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(c.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	link := filepath.Join(w.r.cfg.stateDir, "logs", fmt.Sprintf("%s_%s_%s.log", w.ns, w.name, c.spec.Name))
	_ = os.Remove(link)
	_ = os.Symlink(c.logPath(), link)
	cmd := &exec.Cmd{
		Path: path, Args: argv, Env: env, Dir: cwd, Stdout: logf, Stderr: logf,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	// Start under w.mu, after checking for a stop: terminate() reads the state under
	// the same lock once stopCh is closed, so no process escapes it.
	w.mu.Lock()
	if w.stopping() {
		w.mu.Unlock()
		return errStopping
	}
	if err := cmd.Start(); err != nil {
		w.mu.Unlock()
		return err
	}
	pid := cmd.Process.Pid
	_ = os.WriteFile(filepath.Join(c.dir, "pgid"), []byte(strconv.Itoa(pid)), 0o644)
	done := make(chan struct{})
	if c.state == stateTerminated {
		c.lastTerm = c.terminatedState()
	}
	if c.starts > 0 {
		c.restarts++
	}
	c.starts++
	c.state, c.pid, c.done = stateRunning, pid, done
	c.startedAt = time.Now().Truncate(time.Second)
	c.reason, c.message, c.ready, c.final = "", "", false, false
	hasStartup := c.spec.StartupProbe != nil
	c.started = !hasStartup
	w.mu.Unlock()
	w.logf("container %s started (pid %d): %s", c.spec.Name, pid, strings.Join(argv, " "))
	w.markDirty()
	go func() {
		err := cmd.Wait()
		code := int32(0)
		reason := "Completed"
		if err != nil {
			reason = "Error"
			code = 1
			if ee, ok := err.(*exec.ExitError); ok {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
					if ws.Signaled() {
						code = 128 + int32(ws.Signal())
					} else {
						code = int32(ws.ExitStatus())
					}
				}
			}
		}
		_ = os.Remove(filepath.Join(c.dir, "pgid"))
		w.mu.Lock()
		c.state, c.pid, c.ready = stateTerminated, 0, false
		c.exitCode, c.termReason = code, reason
		c.finishedAt = time.Now().Truncate(time.Second)
		w.mu.Unlock()
		w.logf("container %s exited with %d", c.spec.Name, code)
		w.markDirty()
		close(done)
	}()
	go c.probes(ctx, done)
	return nil
}

// restartPolicy is the container's own (sidecar init containers) or the pod's.
func (c *ctr) restartPolicy() v1.RestartPolicy {
	if c.spec.RestartPolicy != nil && *c.spec.RestartPolicy == v1.ContainerRestartPolicyAlways {
		return v1.RestartPolicyAlways
	}
	p := c.w.latest().Spec.RestartPolicy
	if c.init && p == v1.RestartPolicyAlways {
		return v1.RestartPolicyOnFailure // init containers never restart after success
	}
	if p == "" {
		return v1.RestartPolicyAlways
	}
	return p
}

// supervise runs the container and restarts it per restart policy, with backoff.
func (c *ctr) supervise(ctx context.Context) {
	cfg := c.w.r.cfg
	backoff := cfg.backoffBase
	for !c.w.stopping() {
		if err := c.start(ctx); err != nil {
			if err == errStopping {
				return
			}
			c.setWaiting("CreateContainerError", err.Error())
			c.w.logf("container %s: %v", c.spec.Name, err)
			if !c.w.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, cfg.backoffMax)
			continue
		}
		c.w.mu.Lock()
		done, began := c.done, c.startedAt
		c.w.mu.Unlock()
		select {
		case <-done:
		case <-c.w.stopCh:
			return
		}
		c.w.mu.Lock()
		code := c.exitCode
		c.w.mu.Unlock()
		p := c.restartPolicy()
		if p == v1.RestartPolicyNever || (p == v1.RestartPolicyOnFailure && code == 0) {
			c.w.mu.Lock()
			c.final = true
			c.w.mu.Unlock()
			c.w.markDirty()
			return
		}
		if time.Since(began) > 2*cfg.backoffMax {
			backoff = cfg.backoffBase
		}
		c.setWaiting("CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container %s", backoff, c.spec.Name))
		if !c.w.sleep(backoff) {
			return
		}
		backoff = min(2*backoff, cfg.backoffMax)
	}
}

// runToCompletion runs an init container until it succeeds; false if the pod stops
// or fails (restartPolicy Never).
func (c *ctr) runToCompletion(ctx context.Context) bool {
	cfg := c.w.r.cfg
	backoff := cfg.backoffBase
	for !c.w.stopping() {
		if err := c.start(ctx); err != nil {
			c.setWaiting("CreateContainerError", err.Error())
			c.w.logf("init container %s: %v", c.spec.Name, err)
		} else {
			c.w.mu.Lock()
			done := c.done
			c.w.mu.Unlock()
			select {
			case <-done:
			case <-c.w.stopCh:
				return false
			}
			c.w.mu.Lock()
			code := c.exitCode
			c.final = code == 0
			if code != 0 && c.w.pod.Spec.RestartPolicy == v1.RestartPolicyNever {
				c.final, c.w.failed = true, true
			}
			failed := c.w.failed
			c.w.mu.Unlock()
			c.w.markDirty()
			if code == 0 {
				return true
			}
			if failed {
				return false
			}
			c.setWaiting("CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed init container %s", backoff, c.spec.Name))
		}
		if !c.w.sleep(backoff) {
			return false
		}
		backoff = min(2*backoff, cfg.backoffMax)
	}
	return false
}

// setWaiting records a waiting state; a terminated state becomes lastState.
func (c *ctr) setWaiting(reason, msg string) {
	c.w.mu.Lock()
	if c.state == stateTerminated {
		c.lastTerm = c.terminatedState()
	}
	c.state, c.reason, c.message = stateWaiting, reason, msg
	c.w.mu.Unlock()
	c.w.markDirty()
}

// kill stops the running process: preStop hook (if hooks), SIGTERM to its process
// group, SIGKILL at the deadline.
func (c *ctr) kill(deadline time.Time, hooks bool) {
	c.w.mu.Lock()
	pid, done := c.pid, c.done
	running := c.state == stateRunning
	c.w.mu.Unlock()
	if !running || done == nil {
		return
	}
	if hooks && c.spec.Lifecycle != nil && c.spec.Lifecycle.PreStop != nil {
		c.runHook(c.spec.Lifecycle.PreStop, deadline)
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	t := time.NewTimer(time.Until(deadline))
	select {
	case <-done:
	case <-t.C:
		c.w.logf("container %s: grace period over; SIGKILL", c.spec.Name)
	}
	t.Stop()
	// Kill the whole group: children of the main process may outlive it.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.w.logf("container %s: pid %d did not exit after SIGKILL", c.spec.Name, pid)
	}
}

func (c *ctr) runHook(h *v1.LifecycleHandler, deadline time.Time) {
	timeout := time.Until(deadline)
	var err error
	switch {
	case h.Exec != nil:
		_, err = c.execProbe(h.Exec.Command, timeout)
	case h.HTTPGet != nil:
		err = c.httpProbe(h.HTTPGet, timeout)
	case h.Sleep != nil:
		c.w.sleep(min(time.Duration(h.Sleep.Seconds)*time.Second, timeout))
	}
	if err != nil {
		c.w.logf("container %s: preStop hook: %v", c.spec.Name, err)
	}
}

func (c *ctr) terminatedState() *v1.ContainerStateTerminated {
	return &v1.ContainerStateTerminated{
		ExitCode:    c.exitCode,
		Reason:      c.termReason,
		StartedAt:   metav1.NewTime(c.startedAt),
		FinishedAt:  metav1.NewTime(c.finishedAt),
		ContainerID: c.containerID(),
	}
}

func (c *ctr) containerID() string {
	return fmt.Sprintf("podrunner://%s-%s-%d", c.w.uid, c.spec.Name, c.starts)
}

// status (w.mu held) as a kubelet reports it.
func (c *ctr) status() v1.ContainerStatus {
	started := c.state == stateRunning && c.started
	s := v1.ContainerStatus{
		Name: c.spec.Name, Image: c.spec.Image, ImageID: "",
		RestartCount: c.restarts, Started: &started,
		Ready: c.state == stateRunning && c.started && c.ready,
	}
	if c.starts > 0 {
		s.ContainerID = c.containerID()
	}
	if c.lastTerm != nil {
		s.LastTerminationState.Terminated = c.lastTerm.DeepCopy()
	}
	switch c.state {
	case stateWaiting:
		s.State.Waiting = &v1.ContainerStateWaiting{Reason: c.reason, Message: c.message}
	case stateRunning:
		s.State.Running = &v1.ContainerStateRunning{StartedAt: metav1.NewTime(c.startedAt)}
	case stateTerminated:
		s.State.Terminated = c.terminatedState()
	}
	return s
}

// lookPath finds argv0 on the container's PATH (not the runner's).
func lookPath(argv0 string, env []string, cwd string) (string, error) {
	if strings.Contains(argv0, "/") {
		if !filepath.IsAbs(argv0) {
			argv0 = filepath.Join(cwd, argv0)
		}
		return argv0, nil
	}
	path := ""
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			path = e[5:]
		}
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			continue
		}
		p := filepath.Join(d, argv0)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable not found in container PATH %q", argv0, path)
}
