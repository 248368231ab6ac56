package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type probeKind int

const (
	probeStartup probeKind = iota
	probeReadiness
	probeLiveness
)

// probes runs the container's probes for one process lifetime (until done closes).
// Without a readiness probe the container is ready as soon as it has started.
func (c *ctr) probes(ctx context.Context, done <-chan struct{}) {
	spec := c.spec
	if spec.StartupProbe != nil {
		if !c.probeLoop(ctx, probeStartup, spec.StartupProbe, done) {
			return
		}
	}
	if spec.LivenessProbe != nil {
		go c.probeLoop(ctx, probeLiveness, spec.LivenessProbe, done)
	}
	if spec.ReadinessProbe != nil {
		c.probeLoop(ctx, probeReadiness, spec.ReadinessProbe, done)
		return
	}
	c.w.mu.Lock()
	c.ready = c.state == stateRunning
	c.w.mu.Unlock()
	c.w.markDirty()
}

func probeDefaults(p *v1.Probe) (delay, period, timeout time.Duration, success, failure int32) {
	delay = time.Duration(p.InitialDelaySeconds) * time.Second
	period, timeout, success, failure = 10*time.Second, time.Second, 1, 3
	if p.PeriodSeconds > 0 {
		period = time.Duration(p.PeriodSeconds) * time.Second
	}
	if p.TimeoutSeconds > 0 {
		timeout = time.Duration(p.TimeoutSeconds) * time.Second
	}
	if p.SuccessThreshold > 0 {
		success = p.SuccessThreshold
	}
	if p.FailureThreshold > 0 {
		failure = p.FailureThreshold
	}
	return
}

// probeLoop probes every period until the process exits or the pod stops. A startup
// probe returns true once it succeeded; it and liveness kill the process after
// failureThreshold failures in a row (the supervisor restarts it per policy).
func (c *ctr) probeLoop(ctx context.Context, kind probeKind, p *v1.Probe, done <-chan struct{}) bool {
	delay, period, timeout, success, failure := probeDefaults(p)
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-done:
			return false
		case <-c.w.stopCh:
			return false
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	if !wait(delay) {
		return false
	}
	var oks, fails int32
	for {
		err := c.probeOnce(p, timeout)
		if err == nil {
			oks, fails = oks+1, 0
		} else {
			oks, fails = 0, fails+1
		}
		switch kind {
		case probeStartup:
			if oks >= 1 {
				c.w.mu.Lock()
				c.started = true
				c.w.mu.Unlock()
				c.w.markDirty()
				return true
			}
		case probeReadiness:
			c.w.mu.Lock()
			before := c.ready
			if oks >= success {
				c.ready = true
			} else if fails >= failure {
				c.ready = false
			}
			changed := before != c.ready
			c.w.mu.Unlock()
			if changed {
				c.w.logf("container %s: ready=%v", c.spec.Name, !before)
				c.w.markDirty()
			}
		case probeLiveness:
		}
		if kind != probeReadiness && fails >= failure {
			c.w.logf("container %s: %s probe failed %d times (%v); restarting it",
				c.spec.Name, map[probeKind]string{probeStartup: "startup", probeLiveness: "liveness"}[kind], fails, err)
			grace := 30 * time.Second
			if pod := c.w.latest(); pod.Spec.TerminationGracePeriodSeconds != nil {
				grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
			}
			if p.TerminationGracePeriodSeconds != nil {
				grace = time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
			}
			c.kill(time.Now().Add(grace), true)
			return false
		}
		if !wait(period) {
			return false
		}
	}
}

func (c *ctr) probeOnce(p *v1.Probe, timeout time.Duration) error {
	switch {
	case p.Exec != nil:
		_, err := c.execProbe(p.Exec.Command, timeout)
		return err
	case p.HTTPGet != nil:
		return c.httpProbe(p.HTTPGet, timeout)
	case p.TCPSocket != nil:
		addr, err := c.probeAddr(p.TCPSocket.Host, p.TCPSocket.Port)
		if err != nil {
			return err
		}
		conn, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return fmt.Errorf("unsupported probe handler (exec, httpGet and tcpSocket are supported)")
}

// execProbe runs a command like `kubectl exec` would: in the container's environment
// and working directory, with $(VAR) expanded and mount paths rewritten. It runs in
// its own process group, killed at the timeout.
func (c *ctr) execProbe(command []string, timeout time.Duration) (string, error) {
	if len(command) == 0 {
		return "", fmt.Errorf("empty exec command")
	}
	c.w.mu.Lock()
	env, envMap, mounts, cwd := c.env, c.envMap, c.mounts, c.cwd
	c.w.mu.Unlock()
	lookup := func(n string) (string, bool) { v, ok := envMap[n]; return v, ok }
	argv := make([]string, len(command))
	for i, s := range command {
		argv[i] = rewritePaths(expandVars(s, lookup), mounts)
	}
	path, err := lookPath(argv[0], env, cwd)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := &exec.Cmd{
		Path: path, Args: argv, Env: env, Dir: cwd,
		Stdout: &limitedBuffer{b: &out, max: 4096}, Stderr: &limitedBuffer{b: &out, max: 4096},
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err = <-exited:
	case <-t.C:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return out.String(), fmt.Errorf("timed out after %s", timeout)
	}
	// Children left in the group (e.g. a backgrounded command) go too.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		if len(p) > room {
			l.b.Write(p[:room])
		} else {
			l.b.Write(p)
		}
	}
	return len(p), nil
}

// probeAddr resolves host (default: the pod IP) and a numeric or named port.
func (c *ctr) probeAddr(host string, port intstr.IntOrString) (string, error) {
	c.w.mu.Lock()
	ip := c.w.ip
	c.w.mu.Unlock()
	if host == "" {
		host = ip
	}
	n := port.IntValue()
	if port.Type == intstr.String {
		n = 0
		for _, p := range c.spec.Ports {
			if p.Name == port.StrVal {
				n = int(p.ContainerPort)
			}
		}
		if n == 0 {
			return "", fmt.Errorf("no container port named %q", port.StrVal)
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

func (c *ctr) httpProbe(g *v1.HTTPGetAction, timeout time.Duration) error {
	addr, err := c.probeAddr(g.Host, g.Port)
	if err != nil {
		return err
	}
	scheme := "http"
	if g.Scheme == v1.URISchemeHTTPS {
		scheme = "https"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequest(http.MethodGet, scheme+"://"+addr+path, nil)
	if err != nil {
		return err
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
