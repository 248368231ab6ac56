package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// expandVars applies Kubernetes' $(VAR) rules: $(NAME) becomes the value of NAME
// when lookup knows it and stays as written otherwise; $$ is a literal $ (so
// $$(NAME) yields $(NAME)); any other $ is kept.
func expandVars(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// envList keeps variables in first-definition order; a later definition replaces
// the value in place.
type envList struct {
	names []string
	vals  map[string]string
}

func (e *envList) set(n, v string) {
	if _, ok := e.vals[n]; !ok {
		e.names = append(e.names, n)
	}
	e.vals[n] = v
}

func (e *envList) lookup(n string) (string, bool) { v, ok := e.vals[n]; return v, ok }

// buildEnv computes a container's environment: a base (PATH of the runner, HOME,
// HOSTNAME, the API server as KUBERNETES_SERVICE_*, PODRUNNER_*), then envFrom,
// then env with $(VAR) expansion against what is defined so far.
func (w *podWorker) buildEnv(ctx context.Context, pod *v1.Pod, c *ctr, ip string) ([]string, map[string]string, error) {
	e := &envList{vals: map[string]string{}}
	for _, n := range []string{"PATH", "LD_LIBRARY_PATH", "TMPDIR"} {
		if v, ok := os.LookupEnv(n); ok {
			e.set(n, v)
		}
	}
	host := pod.Name
	if pod.Spec.Hostname != "" {
		host = pod.Spec.Hostname
	}
	e.set("HOSTNAME", host)
	e.set("HOME", c.root())
	cfg := w.r.cfg
	e.set("KUBERNETES_SERVICE_HOST", cfg.apiHost)
	e.set("KUBERNETES_SERVICE_PORT", cfg.apiPort)
	e.set("KUBERNETES_SERVICE_PORT_HTTPS", cfg.apiPort)
	e.set("KUBERNETES_PORT", "tcp://"+cfg.apiHost+":"+cfg.apiPort)
	e.set("PODRUNNER_ROOT", c.root())
	e.set("PODRUNNER_POD_DIR", w.dir)
	e.set("PODRUNNER_POD_IP", ip)

	for _, from := range c.spec.EnvFrom {
		data, err := w.envSource(ctx, pod.Namespace, from)
		if err != nil {
			return nil, nil, err
		}
		for k, v := range data {
			e.set(from.Prefix+k, v)
		}
	}
	for _, ev := range c.spec.Env {
		if ev.ValueFrom == nil {
			e.set(ev.Name, expandVars(ev.Value, e.lookup))
			continue
		}
		v, ok, err := w.envValueFrom(ctx, pod, c, ip, ev.ValueFrom)
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %w", ev.Name, err)
		}
		if ok {
			e.set(ev.Name, v)
		}
	}
	return e.names, e.vals, nil
}

func (w *podWorker) envSource(ctx context.Context, ns string, from v1.EnvFromSource) (map[string]string, error) {
	out := map[string]string{}
	switch {
	case from.ConfigMapRef != nil:
		cm, err := w.r.cs.CoreV1().ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("configmap %s: %w", from.ConfigMapRef.Name, err)
		}
		for k, v := range cm.Data {
			out[k] = v
		}
	case from.SecretRef != nil:
		s, err := w.r.cs.CoreV1().Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", from.SecretRef.Name, err)
		}
		for k, v := range s.Data {
			out[k] = string(v)
		}
	}
	return out, nil
}

// envValueFrom resolves one valueFrom; ok is false for a missing optional key.
func (w *podWorker) envValueFrom(ctx context.Context, pod *v1.Pod, c *ctr, ip string, src *v1.EnvVarSource) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, err := fieldValue(pod, src.FieldRef.FieldPath, ip, w.r.cfg.nodeIP)
		return v, err == nil, err
	case src.ResourceFieldRef != nil:
		v, err := w.resourceValue(pod, c, src.ResourceFieldRef)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		r := src.ConfigMapKeyRef
		optional := r.Optional != nil && *r.Optional
		cm, err := w.r.cs.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %s: %w", r.Name, err)
		}
		if v, ok := cm.Data[r.Key]; ok {
			return v, true, nil
		}
		if v, ok := cm.BinaryData[r.Key]; ok {
			return string(v), true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("configmap %s has no key %s", r.Name, r.Key)
	case src.SecretKeyRef != nil:
		r := src.SecretKeyRef
		optional := r.Optional != nil && *r.Optional
		s, err := w.r.cs.CoreV1().Secrets(pod.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %s: %w", r.Name, err)
		}
		if v, ok := s.Data[r.Key]; ok {
			return string(v), true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("secret %s has no key %s", r.Name, r.Key)
	}
	return "", false, fmt.Errorf("unsupported valueFrom (fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef are)")
}

var labelRef = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']*)'\]$`)

// fieldValue resolves a downward-API field path of the pod.
func fieldValue(pod *v1.Pod, path, podIP, hostIP string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	if m := labelRef.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return pod.Labels[m[2]], nil
		}
		return pod.Annotations[m[2]], nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

// formatMap renders labels/annotations like the downward API: key="value" lines.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

// resourceValue resolves limits.* / requests.* of a container; an unset limit is the
// node's allocatable amount, like a kubelet reports it.
func (w *podWorker) resourceValue(pod *v1.Pod, c *ctr, ref *v1.ResourceFieldSelector) (string, error) {
	var target *v1.Container
	if c != nil {
		target = c.spec
	}
	if ref.ContainerName != "" {
		target = nil
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == ref.ContainerName {
				target = &pod.Spec.Containers[i]
			}
		}
	}
	if target == nil {
		return "", fmt.Errorf("resourceFieldRef: no container %q", ref.ContainerName)
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	list := target.Resources.Limits
	if kind == "requests" {
		list = target.Resources.Requests
	}
	q, found := list[v1.ResourceName(name)]
	if !found {
		alloc := w.r.nodeStatus(metav1.Now()).Allocatable
		if kind == "requests" {
			q = resource.Quantity{}
		} else if a, ok := alloc[v1.ResourceName(name)]; ok {
			q = a
		}
	}
	div := ref.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	v := math.Ceil(float64(q.MilliValue()) / float64(div.MilliValue()))
	return fmt.Sprintf("%d", int64(v)), nil
}
