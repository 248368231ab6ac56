package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const apiTimeout = 10 * time.Second

// volumeRefresh: how often secret and configMap volumes are brought up to
// date (a kubelet's sync period is a minute; tests want it sooner).
const volumeRefresh = time.Second

// podWorker runs one pod (one UID) from binding to finalized deletion.
type podWorker struct {
	r        *runner
	ns, name string
	uid      types.UID
	dir      string // STATE/pods/NS_NAME_UID

	mu            sync.Mutex
	pod           *v1.Pod // latest version seen
	ip            string
	startTime     metav1.Time
	volumes       map[string]string // volume name -> host directory
	volumesReady  bool
	refreshFailed bool // the last refreshVolumes failed (logged once; run goroutine only)
	initsDone     bool
	failed        bool // an init container failed with restartPolicy Never
	inits, ctrs   []*ctr
	gone          bool // no longer in the API (or a newer incarnation is): no API writes
	shut          bool // the runner is shutting down: no API writes

	dirty    chan struct{} // status to write (capacity 1)
	stopCh   chan struct{} // closed when containers must stop
	stopOnce sync.Once
}

func newPodWorker(r *runner, pod *v1.Pod) (*podWorker, error) {
	w := &podWorker{
		r: r, ns: pod.Namespace, name: pod.Name, uid: pod.UID, pod: pod.DeepCopy(),
		dir:   filepath.Join(r.cfg.stateDir, "pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)),
		dirty: make(chan struct{}, 1), stopCh: make(chan struct{}),
		startTime: metav1.Now(),
	}
	for i := range pod.Spec.InitContainers {
		w.inits = append(w.inits, newCtr(w, &pod.Spec.InitContainers[i], true))
	}
	for i := range pod.Spec.Containers {
		w.ctrs = append(w.ctrs, newCtr(w, &pod.Spec.Containers[i], false))
	}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *podWorker) logf(format string, a ...interface{}) {
	log.Printf("pod %s/%s: %s", w.ns, w.name, fmt.Sprintf(format, a...))
}

// update receives a newer version of the pod from the informer.
func (w *podWorker) update(pod *v1.Pod) {
	w.mu.Lock()
	w.pod = pod.DeepCopy()
	deleting := pod.DeletionTimestamp != nil
	w.mu.Unlock()
	if deleting {
		w.stop()
	}
}

// forget: the pod left the API (force deletion); stop without writing to it.
func (w *podWorker) forget() {
	w.mu.Lock()
	w.gone = true
	w.mu.Unlock()
	w.stop()
}

// shutdown: the runner exits; stop containers quickly and leave the API alone.
func (w *podWorker) shutdown() {
	w.mu.Lock()
	w.shut = true
	w.mu.Unlock()
	w.stop()
}

func (w *podWorker) stop() { w.stopOnce.Do(func() { close(w.stopCh) }) }

func (w *podWorker) stopping() bool {
	select {
	case <-w.stopCh:
		return true
	default:
		return false
	}
}

// sleep waits d or until the pod must stop; false if it must stop.
func (w *podWorker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.stopCh:
		return false
	case <-t.C:
		return true
	}
}

func (w *podWorker) markDirty() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

func (w *podWorker) latest() *v1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

func (w *podWorker) run(ctx context.Context) {
	statusDone := make(chan struct{})
	statusStop := make(chan struct{})
	go func() { defer close(statusDone); w.statusLoop(ctx, statusStop) }()

	if w.allocateIP() && w.prepareVolumes(ctx) && w.runInits(ctx) {
		w.startContainers(ctx)
		refresh := time.NewTicker(volumeRefresh)
	running:
		for {
			select {
			case <-w.stopCh:
				break running
			case <-refresh.C:
				c, cancel := context.WithTimeout(ctx, apiTimeout)
				w.refreshVolumes(c)
				cancel()
			}
		}
		refresh.Stop()
	}
	<-w.stopCh
	w.terminate()
	close(statusStop)
	<-statusDone

	w.mu.Lock()
	writeAPI := !w.gone && !w.shut
	w.mu.Unlock()
	if writeAPI {
		c, cancel := context.WithTimeout(ctx, apiTimeout)
		if err := w.writeStatus(c); err != nil {
			w.logf("final status: %v", err)
		}
		cancel()
		if pod := w.latest(); pod.DeletionTimestamp != nil {
			c, cancel := context.WithTimeout(ctx, apiTimeout)
			if err := w.r.finalize(c, pod); err != nil {
				w.logf("finalize deletion: %v", err)
				w.r.queue.AddRateLimited("pod/" + w.ns + "/" + w.name)
			} else {
				w.logf("deleted")
			}
			cancel()
		}
	}
	w.r.pool.release(w.uid)
	// Keep logs; drop per-pod volumes (PVC and hostPath directories live elsewhere).
	_ = os.RemoveAll(filepath.Join(w.dir, "volumes"))
}

func (w *podWorker) allocateIP() bool {
	for {
		ip, err := w.r.pool.allocate(w.uid)
		if err == nil {
			w.mu.Lock()
			w.ip = ip
			w.mu.Unlock()
			w.logf("address %s", ip)
			w.markDirty()
			return true
		}
		w.setAllWaiting("ContainerCreating", err.Error())
		if !w.sleep(2 * time.Second) {
			return false
		}
	}
}

// prepareVolumes sets up every volume, retrying (like a kubelet) until all of them
// can be: claims bound, secrets and config maps present.
func (w *podWorker) prepareVolumes(ctx context.Context) bool {
	for attempt := 0; ; attempt++ {
		c, cancel := context.WithTimeout(ctx, apiTimeout)
		vols, err := w.setupVolumes(c, w.latest())
		cancel()
		if err == nil {
			w.mu.Lock()
			w.volumes, w.volumesReady = vols, true
			w.mu.Unlock()
			w.markDirty()
			return true
		}
		if attempt%10 == 0 {
			w.logf("volumes not ready: %v", err)
		}
		w.setAllWaiting("ContainerCreating", err.Error())
		if !w.sleep(time.Second) {
			return false
		}
	}
}

func (w *podWorker) setAllWaiting(reason, msg string) {
	w.mu.Lock()
	for _, c := range append(append([]*ctr{}, w.inits...), w.ctrs...) {
		if c.state == stateWaiting {
			c.reason, c.message = reason, msg
		}
	}
	w.mu.Unlock()
	w.markDirty()
}

// runInits runs init containers in order, each to success. Init containers with
// restartPolicy Always (native sidecars) are started and kept running instead.
func (w *podWorker) runInits(ctx context.Context) bool {
	for _, c := range w.inits {
		if c.spec.RestartPolicy != nil && *c.spec.RestartPolicy == v1.ContainerRestartPolicyAlways {
			go c.supervise(ctx)
			for !c.isStarted() {
				if !w.sleep(100 * time.Millisecond) {
					return false
				}
			}
			continue
		}
		if !c.runToCompletion(ctx) {
			return false
		}
	}
	w.mu.Lock()
	w.initsDone = true
	w.mu.Unlock()
	w.markDirty()
	return true
}

func (w *podWorker) startContainers(ctx context.Context) {
	for _, c := range w.ctrs {
		go c.supervise(ctx)
	}
}

// gracePeriod is the pod's deletion grace period, or its terminationGracePeriodSeconds.
func (w *podWorker) gracePeriod() time.Duration {
	pod := w.latest()
	g := int64(v1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.DeletionGracePeriodSeconds != nil {
		g = *pod.DeletionGracePeriodSeconds
	}
	d := time.Duration(g) * time.Second
	w.mu.Lock()
	shut := w.shut || w.gone
	w.mu.Unlock()
	if shut && d > w.r.cfg.stopTimeout {
		d = w.r.cfg.stopTimeout
	}
	return d
}

// terminate stops every running container: preStop hook, SIGTERM, the grace period,
// then SIGKILL. Main containers first, then sidecar init containers.
func (w *podWorker) terminate() {
	deadline := time.Now().Add(w.gracePeriod())
	for _, group := range [][]*ctr{w.ctrs, w.inits} {
		var wg sync.WaitGroup
		for _, c := range group {
			wg.Add(1)
			go func(c *ctr) { defer wg.Done(); c.kill(deadline, true) }(c)
		}
		wg.Wait()
	}
	w.markDirty()
}

// statusLoop writes the pod status whenever it changed, coalescing bursts.
func (w *podWorker) statusLoop(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-w.dirty:
		}
		w.mu.Lock()
		skip := w.gone || w.shut
		w.mu.Unlock()
		if skip {
			continue
		}
		c, cancel := context.WithTimeout(ctx, apiTimeout)
		if err := w.writeStatus(c); err != nil && ctx.Err() == nil {
			w.logf("status: %v", err)
			w.markDirty() // try again at the next change or after a pause
			t := time.NewTimer(time.Second)
			select {
			case <-stop:
			case <-t.C:
			}
			t.Stop()
		}
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
}

// writeStatus puts the worker's view of the pod into the pod's status subresource.
func (w *podWorker) writeStatus(ctx context.Context) error {
	pods := w.r.cs.CoreV1().Pods(w.ns)
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := pods.Get(ctx, w.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && cur.UID != w.uid) {
			w.mu.Lock()
			w.gone = true
			w.mu.Unlock()
			return nil
		}
		if err != nil {
			return err
		}
		w.mu.Lock()
		st := w.buildStatus(cur)
		w.mu.Unlock()
		if equality.Semantic.DeepEqual(cur.Status, st) {
			return nil
		}
		cur.Status = st
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		return err
	}
	return fmt.Errorf("status update kept conflicting")
}

// phase (w.mu held).
func (w *podWorker) phase() v1.PodPhase {
	if w.failed {
		return v1.PodFailed
	}
	if !w.initsDone {
		return v1.PodPending
	}
	allFinal, anyFailed, anyStarted := true, false, false
	for _, c := range w.ctrs {
		if c.starts > 0 {
			anyStarted = true
		}
		if !c.final {
			allFinal = false
		} else if c.exitCode != 0 {
			anyFailed = true
		}
	}
	switch {
	case allFinal && anyFailed:
		return v1.PodFailed
	case allFinal:
		return v1.PodSucceeded
	case anyStarted:
		return v1.PodRunning
	}
	return v1.PodPending
}

// buildStatus (w.mu held) derives the status from the worker's state; conditions
// owned by others (PodScheduled, DisruptionTarget, readiness gates) are kept.
func (w *podWorker) buildStatus(cur *v1.Pod) v1.PodStatus {
	old := cur.Status
	st := v1.PodStatus{
		Phase:     w.phase(),
		HostIP:    w.r.cfg.nodeIP,
		HostIPs:   []v1.HostIP{{IP: w.r.cfg.nodeIP}},
		StartTime: &w.startTime,
		QOSClass:  old.QOSClass,
	}
	if old.StartTime != nil {
		st.StartTime = old.StartTime
	}
	if w.ip != "" {
		st.PodIP = w.ip
		st.PodIPs = []v1.PodIP{{IP: w.ip}}
	}
	allReady := len(w.ctrs) > 0
	for _, c := range w.inits {
		st.InitContainerStatuses = append(st.InitContainerStatuses, c.status())
	}
	for _, c := range w.ctrs {
		cs := c.status()
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && cs.Ready
	}
	if st.Phase == v1.PodSucceeded || st.Phase == v1.PodFailed || w.stopping() {
		allReady = false
	}
	gatesOK := true
	for _, g := range cur.Spec.ReadinessGates {
		ok := false
		for _, c := range old.Conditions {
			if c.Type == g.ConditionType && c.Status == v1.ConditionTrue {
				ok = true
			}
		}
		gatesOK = gatesOK && ok
	}
	owned := map[v1.PodConditionType]bool{
		v1.PodReadyToStartContainers: w.volumesReady,
		v1.PodInitialized:            w.initsDone,
		v1.ContainersReady:           allReady,
		v1.PodReady:                  allReady && gatesOK,
	}
	for _, c := range old.Conditions {
		if _, mine := owned[c.Type]; !mine {
			st.Conditions = append(st.Conditions, c)
		}
	}
	for _, t := range []v1.PodConditionType{v1.PodReadyToStartContainers, v1.PodInitialized, v1.ContainersReady, v1.PodReady} {
		s := v1.ConditionFalse
		if owned[t] {
			s = v1.ConditionTrue
		}
		cond := v1.PodCondition{Type: t, Status: s, LastTransitionTime: metav1.Now()}
		for _, oc := range old.Conditions {
			if oc.Type == t && oc.Status == s {
				cond.LastTransitionTime = oc.LastTransitionTime
			}
		}
		if s == v1.ConditionFalse && (t == v1.ContainersReady || t == v1.PodReady) {
			cond.Reason = "ContainersNotReady"
		}
		st.Conditions = append(st.Conditions, cond)
	}
	return st
}
