package main

import (
	"context"
	"fmt"
	"log"
	"strings"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

const (
	provisionerName  = "autoshard.test/podrunner"
	storageClassName = "podrunner"
	heartbeatPeriod  = 10 * time.Second
	leaseSeconds     = 40
	maxRetries       = 20
)

type runner struct {
	cfg    config
	sa     *saMounter // nil unless --sa-mount-ns
	cs     kubernetes.Interface
	pool   *ipPool
	images imageMap

	pods  corelisters.PodLister
	pvcs  corelisters.PersistentVolumeClaimLister
	pvs   corelisters.PersistentVolumeLister
	queue workqueue.TypedRateLimitingInterface[string]

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup // pod workers
}

func newRunner(c config, cs kubernetes.Interface, pool *ipPool, images imageMap) *runner {
	return &runner{
		cfg: c, cs: cs, pool: pool, images: images,
		queue: workqueue.NewTypedRateLimitingQueue(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 5*time.Second)),
		workers: map[types.UID]*podWorker{},
	}
}

func (r *runner) run(ctx context.Context) error {
	if err := r.registerNode(ctx); err != nil {
		return err
	}
	if err := r.ensureStorageClass(ctx); err != nil {
		return err
	}
	f := informers.NewSharedInformerFactory(r.cs, 0)
	podInf := f.Core().V1().Pods()
	pvcInf := f.Core().V1().PersistentVolumeClaims()
	pvInf := f.Core().V1().PersistentVolumes()
	r.pods, r.pvcs, r.pvs = podInf.Lister(), pvcInf.Lister(), pvInf.Lister()
	handler := func(prefix string) cache.ResourceEventHandlerFuncs {
		enqueue := func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
				r.queue.Add(prefix + key)
			}
		}
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, n interface{}) { enqueue(n) },
			DeleteFunc: enqueue,
		}
	}
	for _, h := range []struct {
		inf    cache.SharedIndexInformer
		prefix string
	}{{podInf.Informer(), "pod/"}, {pvcInf.Informer(), "pvc/"}, {pvInf.Informer(), "pv/"}} {
		if _, err := h.inf.AddEventHandler(handler(h.prefix)); err != nil {
			return err
		}
	}
	f.Start(ctx.Done())
	for t, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer %v did not sync", t)
		}
	}
	log.Printf("node %s ready; pods get addresses from %s", r.cfg.nodeName, r.cfg.ipPool)

	var loops sync.WaitGroup
	for i := 0; i < 2; i++ {
		loops.Add(1)
		go func() { defer loops.Done(); r.processQueue(ctx) }()
	}
	loops.Add(1)
	go func() { defer loops.Done(); r.heartbeat(ctx) }()

	<-ctx.Done()
	log.Printf("shutting down: stopping all containers")
	r.queue.ShutDown()
	r.mu.Lock()
	for _, w := range r.workers {
		w.shutdown()
	}
	r.mu.Unlock()
	r.wg.Wait()
	loops.Wait()
	f.Shutdown()
	return nil
}

func (r *runner) processQueue(ctx context.Context) {
	for {
		key, quit := r.queue.Get()
		if quit {
			return
		}
		err := r.sync(ctx, key)
		if err != nil && ctx.Err() == nil {
			if r.queue.NumRequeues(key) < maxRetries {
				log.Printf("%s: %v (retrying)", key, err)
				r.queue.AddRateLimited(key)
			} else {
				log.Printf("%s: %v (giving up)", key, err)
				r.queue.Forget(key)
			}
		} else {
			r.queue.Forget(key)
		}
		r.queue.Done(key)
	}
}

func (r *runner) sync(ctx context.Context, key string) error {
	kind, rest, _ := strings.Cut(key, "/")
	ns, name, err := cache.SplitMetaNamespaceKey(rest)
	if err != nil {
		return nil
	}
	switch kind {
	case "pod":
		return r.syncPod(ctx, ns, name)
	case "pvc":
		return r.syncPVC(ctx, ns, name)
	case "pv":
		return r.syncPV(ctx, name)
	}
	return nil
}

func (r *runner) syncPod(ctx context.Context, ns, name string) error {
	pod, err := r.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// Gone from the API (finalized or force-deleted): stop whatever still runs.
		r.mu.Lock()
		for _, w := range r.workers {
			if w.ns == ns && w.name == name {
				w.forget()
			}
		}
		r.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return r.bind(ctx, pod)
	}
	if pod.Spec.NodeName != r.cfg.nodeName {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Older incarnations with the same name that are no longer in the API.
	for _, w := range r.workers {
		if w.ns == ns && w.name == name && w.uid != pod.UID {
			w.forget()
		}
	}
	if w := r.workers[pod.UID]; w != nil {
		w.update(pod)
		return nil
	}
	if pod.DeletionTimestamp != nil {
		// Nothing of it runs here (e.g. it finished before a restart of the runner).
		return r.finalize(ctx, pod)
	}
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return nil
	}
	w, err := newPodWorker(r, pod)
	if err != nil {
		return err
	}
	r.workers[pod.UID] = w
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		w.run(ctx)
		r.mu.Lock()
		delete(r.workers, w.uid)
		r.mu.Unlock()
	}()
	return nil
}

// bind assigns an unscheduled pod to this node (the pod runner is the scheduler).
func (r *runner) bind(ctx context.Context, pod *v1.Pod) error {
	if pod.DeletionTimestamp != nil || len(pod.Spec.SchedulingGates) > 0 {
		return nil
	}
	if s := pod.Spec.SchedulerName; s != "" && s != v1.DefaultSchedulerName {
		return nil
	}
	b := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: r.cfg.nodeName},
	}
	err := r.cs.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // already bound, or gone
	}
	if err == nil {
		log.Printf("pod %s/%s: bound to %s", pod.Namespace, pod.Name, r.cfg.nodeName)
	}
	return err
}

// finalize completes a graceful deletion, like a kubelet once all containers stopped.
func (r *runner) finalize(ctx context.Context, pod *v1.Pod) error {
	zero := int64(0)
	uid := pod.UID
	err := r.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// ---------------------------------------------------------------- node

func (r *runner) nodeStatus(now metav1.Time) v1.NodeStatus {
	res := v1.ResourceList{
		v1.ResourceCPU:              resource.MustParse("64"),
		v1.ResourceMemory:           resource.MustParse("256Gi"),
		v1.ResourcePods:             resource.MustParse(fmt.Sprint(r.pool.size())),
		v1.ResourceEphemeralStorage: resource.MustParse("1Ti"),
	}
	cond := func(t v1.NodeConditionType, s v1.ConditionStatus, reason string) v1.NodeCondition {
		return v1.NodeCondition{Type: t, Status: s, Reason: reason, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return v1.NodeStatus{
		Capacity:    res,
		Allocatable: res,
		Phase:       v1.NodeRunning,
		Conditions: []v1.NodeCondition{
			cond(v1.NodeMemoryPressure, v1.ConditionFalse, "KubeletHasSufficientMemory"),
			cond(v1.NodeDiskPressure, v1.ConditionFalse, "KubeletHasNoDiskPressure"),
			cond(v1.NodePIDPressure, v1.ConditionFalse, "KubeletHasSufficientPID"),
			cond(v1.NodeReady, v1.ConditionTrue, "KubeletReady"),
		},
		Addresses: []v1.NodeAddress{
			{Type: v1.NodeInternalIP, Address: r.cfg.nodeIP},
			{Type: v1.NodeHostName, Address: r.cfg.nodeName},
		},
		NodeInfo: v1.NodeSystemInfo{
			OperatingSystem: "linux", Architecture: "amd64",
			KubeletVersion: "podrunner", ContainerRuntimeVersion: "podrunner://local-processes",
		},
	}
}

func (r *runner) registerNode(ctx context.Context) error {
	nodes := r.cs.CoreV1().Nodes()
	node, err := nodes.Get(ctx, r.cfg.nodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err = nodes.Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{
			Name: r.cfg.nodeName,
			Labels: map[string]string{
				"kubernetes.io/hostname": r.cfg.nodeName,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
			},
		}}, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("register node %s: %w", r.cfg.nodeName, err)
	}
	return r.postNodeStatus(ctx, node)
}

func (r *runner) postNodeStatus(ctx context.Context, node *v1.Node) error {
	now := metav1.Now()
	st := r.nodeStatus(now)
	// Keep transition times of conditions that did not change.
	for i := range st.Conditions {
		for _, old := range node.Status.Conditions {
			if old.Type == st.Conditions[i].Type && old.Status == st.Conditions[i].Status {
				st.Conditions[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	n := node.DeepCopy()
	n.Status = st
	_, err := r.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("node %s status: %w", r.cfg.nodeName, err)
	}
	return r.renewLease(ctx, node)
}

func (r *runner) renewLease(ctx context.Context, node *v1.Node) error {
	leases := r.cs.CoordinationV1().Leases(v1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	dur := int32(leaseSeconds)
	l, err := leases.Get(ctx, r.cfg.nodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: r.cfg.nodeName,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
				}},
			},
			Spec: coordv1.LeaseSpec{HolderIdentity: &r.cfg.nodeName, LeaseDurationSeconds: &dur, RenewTime: &now},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &r.cfg.nodeName, &dur, &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

func (r *runner) heartbeat(ctx context.Context) {
	t := time.NewTicker(heartbeatPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, cancel := context.WithTimeout(ctx, heartbeatPeriod)
		err := r.registerNode(c) // recreates the Node if someone deleted it
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Printf("heartbeat: %v", err)
		}
	}
}

// ---------------------------------------------------------------- storage

func (r *runner) ensureStorageClass(ctx context.Context) error {
	del := v1.PersistentVolumeReclaimDelete
	mode := storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        storageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       provisionerName,
		ReclaimPolicy:     &del,
		VolumeBindingMode: &mode,
	}
	_, err := r.cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("storage class %s: %w", storageClassName, err)
	}
	return nil
}

// provisions reports whether a claim of class cls is ours to provision.
func (r *runner) provisions(ctx context.Context, cls *string) bool {
	if cls == nil || *cls == "" || *cls == storageClassName {
		return true
	}
	sc, err := r.cs.StorageV1().StorageClasses().Get(ctx, *cls, metav1.GetOptions{})
	return err == nil && sc.Provisioner == provisionerName
}

func (r *runner) pvcDir(ns, name string) string {
	return fmt.Sprintf("%s/pvc/%s/%s", r.cfg.stateDir, ns, name)
}

// syncPVC creates a hostPath PV pre-bound to each pending claim we provision.
func (r *runner) syncPVC(ctx context.Context, ns, name string) error {
	pvc, err := r.pvcs.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pvc.Status.Phase != v1.ClaimPending || pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil {
		return nil
	}
	if !r.provisions(ctx, pvc.Spec.StorageClassName) {
		return nil
	}
	cls := ""
	if pvc.Spec.StorageClassName != nil {
		cls = *pvc.Spec.StorageClassName
	}
	size, ok := pvc.Spec.Resources.Requests[v1.ResourceStorage]
	if !ok {
		size = resource.MustParse("1Gi")
	}
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce}
	}
	dir := r.pvcDir(ns, name)
	dot := v1.HostPathDirectoryOrCreate
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "pvc-" + string(pvc.UID),
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisionerName},
		},
		Spec: v1.PersistentVolumeSpec{
			Capacity:                      v1.ResourceList{v1.ResourceStorage: size},
			AccessModes:                   modes,
			VolumeMode:                    pvc.Spec.VolumeMode,
			StorageClassName:              cls,
			PersistentVolumeReclaimPolicy: r.reclaimPolicy(ctx, cls),
			PersistentVolumeSource: v1.PersistentVolumeSource{
				HostPath: &v1.HostPathVolumeSource{Path: dir, Type: &dot},
			},
			ClaimRef: &v1.ObjectReference{
				APIVersion: "v1", Kind: "PersistentVolumeClaim",
				Namespace: ns, Name: name, UID: pvc.UID,
			},
		},
	}
	_, err = r.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err == nil {
		log.Printf("pvc %s/%s: provisioned %s at %s", ns, name, pv.Name, dir)
	}
	return err
}

func (r *runner) reclaimPolicy(ctx context.Context, cls string) v1.PersistentVolumeReclaimPolicy {
	if cls != "" {
		if sc, err := r.cs.StorageV1().StorageClasses().Get(ctx, cls, metav1.GetOptions{}); err == nil && sc.ReclaimPolicy != nil {
			return *sc.ReclaimPolicy
		}
	}
	return v1.PersistentVolumeReclaimDelete
}

// syncPV deletes released volumes we provisioned, and their directory, when their
// reclaim policy is Delete (we are the "external deleter" the PV controller waits for).
func (r *runner) syncPV(ctx context.Context, name string) error {
	pv, err := r.pvs.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pv.Annotations["pv.kubernetes.io/provisioned-by"] != provisionerName ||
		pv.Status.Phase != v1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != v1.PersistentVolumeReclaimDelete ||
		pv.Spec.HostPath == nil || pv.DeletionTimestamp != nil {
		return nil
	}
	if err := removeUnder(r.cfg.stateDir+"/pvc", pv.Spec.HostPath.Path); err != nil {
		return err
	}
	err = r.cs.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		log.Printf("pv %s: released; deleted with %s", name, pv.Spec.HostPath.Path)
	}
	return err
}
