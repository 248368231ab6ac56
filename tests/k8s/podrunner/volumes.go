package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	authv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// mount is a volumeMount resolved to a host directory (or file, with subPath).
type mount struct {
	path string // mountPath inside the "container", cleaned
	host string
}

// refreshVolumes rewrites the files of the pod's secret and configMap volumes
// from the objects as they are now (a kubelet does this within its sync
// period); an object that cannot be read keeps its files.
func (w *podWorker) refreshVolumes(ctx context.Context) {
	pod := w.latest()
	failed := false
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		dir := filepath.Join(w.dir, "volumes", v.Name)
		var err error
		switch {
		case v.Secret != nil:
			err = w.writeSecret(ctx, dir, pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, v.Secret.Optional)
		case v.ConfigMap != nil:
			err = w.writeConfigMap(ctx, dir, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, v.ConfigMap.Optional)
		}
		if err != nil && !w.refreshFailed {
			w.logf("volume %s not refreshed: %v", v.Name, err)
		}
		failed = failed || err != nil
	}
	w.refreshFailed = failed
}

// setupVolumes gives each volume of the pod a host directory:
//
//	emptyDir               POD/volumes/NAME, fresh per pod UID
//	persistentVolumeClaim  the bound PV's hostPath (STATE/pvc/NS/CLAIM for ours);
//	                       survives the pod
//	hostPath               the path itself
//	secret, configMap,     files written into POD/volumes/NAME at pod start
//	downwardAPI, projected (projected service account tokens come from TokenRequest);
//	                       secret and configMap ones are kept up to date by
//	                       refreshVolumes
func (w *podWorker) setupVolumes(ctx context.Context, pod *v1.Pod) (map[string]string, error) {
	w.mu.Lock()
	ip := w.ip
	w.mu.Unlock()
	vols := map[string]string{}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		dir := filepath.Join(w.dir, "volumes", v.Name)
		var err error
		switch {
		case v.EmptyDir != nil:
			err = os.MkdirAll(dir, 0o777)
		case v.HostPath != nil:
			dir = v.HostPath.Path
			if t := v.HostPath.Type; t != nil && *t == v1.HostPathDirectoryOrCreate {
				err = os.MkdirAll(dir, 0o755)
			}
		case v.PersistentVolumeClaim != nil:
			dir, err = w.claimDir(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName)
		case v.Secret != nil:
			err = w.writeSecret(ctx, dir, pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, v.Secret.Optional)
		case v.ConfigMap != nil:
			err = w.writeConfigMap(ctx, dir, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, v.ConfigMap.Optional)
		case v.DownwardAPI != nil:
			err = w.writeDownward(dir, pod, ip, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
		case v.Projected != nil:
			err = w.writeProjected(ctx, dir, pod, ip, v.Projected)
		default:
			err = fmt.Errorf("unsupported volume type (emptyDir, hostPath, persistentVolumeClaim, secret, configMap, downwardAPI, projected are)")
		}
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		vols[v.Name] = dir
	}
	return vols, nil
}

func (w *podWorker) claimDir(ctx context.Context, ns, claim string) (string, error) {
	pvc, err := w.r.cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("claim %s: %w", claim, err)
	}
	if pvc.Status.Phase != v1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("claim %s is not bound yet", claim)
	}
	pv, err := w.r.cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("volume %s of claim %s: %w", pvc.Spec.VolumeName, claim, err)
	}
	dir := w.r.pvcDir(ns, claim)
	switch {
	case pv.Spec.HostPath != nil:
		dir = pv.Spec.HostPath.Path
	case pv.Spec.Local != nil:
		dir = pv.Spec.Local.Path
	}
	return dir, os.MkdirAll(dir, 0o777)
}

func fileMode(item, def *int32) os.FileMode {
	switch {
	case item != nil:
		return os.FileMode(*item)
	case def != nil:
		return os.FileMode(*def)
	}
	return 0o644
}

// writeKeys writes data (all keys, or the items' keys to the items' paths) under dir.
func writeKeys(dir string, data map[string][]byte, items []v1.KeyToPath, def *int32, optional bool, what string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	type file struct {
		path string
		mode os.FileMode
		data []byte
	}
	var files []file
	if len(items) == 0 {
		for k, v := range data {
			files = append(files, file{k, fileMode(nil, def), v})
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("%s has no key %s", what, it.Key)
		}
		files = append(files, file{it.Path, fileMode(it.Mode, def), v})
	}
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if !strings.HasPrefix(p, dir+"/") {
			return fmt.Errorf("%s: bad path %q", what, f.path)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, f.data) {
			if err := os.Chmod(p, f.mode); err != nil {
				return err
			}
			continue
		}
		// A new file replaces the old one whole (kubelet swaps a symlink), so a
		// reader never sees half of an update.
		tmp := p + ".podrunner-tmp"
		if err := os.WriteFile(tmp, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(tmp, f.mode); err != nil {
			return err
		}
		if err := os.Rename(tmp, p); err != nil {
			return err
		}
	}
	return nil
}

func (w *podWorker) writeSecret(ctx context.Context, dir, ns, name string, items []v1.KeyToPath, def *int32, opt *bool) error {
	optional := opt != nil && *opt
	s, err := w.r.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	return writeKeys(dir, s.Data, items, def, optional, "secret "+name)
}

func (w *podWorker) writeConfigMap(ctx context.Context, dir, ns, name string, items []v1.KeyToPath, def *int32, opt *bool) error {
	optional := opt != nil && *opt
	cm, err := w.r.cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return fmt.Errorf("configmap %s: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return writeKeys(dir, data, items, def, optional, "configmap "+name)
}

func (w *podWorker) writeDownward(dir string, pod *v1.Pod, ip string, items []v1.DownwardAPIVolumeFile, def *int32) error {
	data := map[string][]byte{}
	var kp []v1.KeyToPath
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = fieldValue(pod, it.FieldRef.FieldPath, ip, w.r.cfg.nodeIP)
		case it.ResourceFieldRef != nil:
			v, err = w.resourceValue(pod, nil, it.ResourceFieldRef)
		default:
			err = fmt.Errorf("item %s: no fieldRef or resourceFieldRef", it.Path)
		}
		if err != nil {
			return err
		}
		data[it.Path] = []byte(v)
		kp = append(kp, v1.KeyToPath{Key: it.Path, Path: it.Path, Mode: it.Mode})
	}
	return writeKeys(dir, data, kp, def, false, "downwardAPI")
}

func (w *podWorker) writeProjected(ctx context.Context, dir string, pod *v1.Pod, ip string, p *v1.ProjectedVolumeSource) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, s := range p.Sources {
		var err error
		switch {
		case s.Secret != nil:
			err = w.writeSecret(ctx, dir, pod.Namespace, s.Secret.Name, s.Secret.Items, p.DefaultMode, s.Secret.Optional)
		case s.ConfigMap != nil:
			err = w.writeConfigMap(ctx, dir, pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, p.DefaultMode, s.ConfigMap.Optional)
		case s.DownwardAPI != nil:
			err = w.writeDownward(dir, pod, ip, s.DownwardAPI.Items, p.DefaultMode)
		case s.ServiceAccountToken != nil:
			err = w.writeToken(ctx, dir, pod, s.ServiceAccountToken, p.DefaultMode)
		default:
			err = fmt.Errorf("unsupported projected source (secret, configMap, downwardAPI, serviceAccountToken are)")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writeToken asks the API server for a token bound to the pod (TokenRequest), as a
// kubelet does for the kube-api-access-* volume. It is written once; the API server
// extends such tokens to a year, so tests need no refresh.
func (w *podWorker) writeToken(ctx context.Context, dir string, pod *v1.Pod, s *v1.ServiceAccountTokenProjection, def *int32) error {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	exp := int64(3600)
	if s.ExpirationSeconds != nil {
		exp = *s.ExpirationSeconds
	}
	var aud []string
	if s.Audience != "" {
		aud = []string{s.Audience}
	}
	tr, err := w.r.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{
			Audiences: aud, ExpirationSeconds: &exp,
			BoundObjectRef: &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for service account %s: %w", sa, err)
	}
	mode := int32(0o600)
	if def != nil {
		mode = *def
	}
	return writeKeys(dir, map[string][]byte{s.Path: []byte(tr.Status.Token)}, nil, &mode, false, "token")
}

// makeMounts resolves the container's volumeMounts and makes each visible at
// ROOT/<mountPath> as a symlink to its host directory.
func (c *ctr) makeMounts(vols map[string]string, env func(string) (string, bool)) ([]mount, error) {
	var ms []mount
	for _, vm := range c.spec.VolumeMounts {
		host, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %s: no such volume", vm.Name)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expandVars(vm.SubPathExpr, env)
		}
		if sub != "" {
			host = filepath.Join(host, sub)
			if _, err := os.Stat(host); os.IsNotExist(err) {
				if err := os.MkdirAll(host, 0o777); err != nil {
					return nil, err
				}
			}
		}
		p := filepath.Clean("/" + vm.MountPath)
		if p == "/" {
			return nil, fmt.Errorf("volumeMount %s: mountPath / is not supported", vm.Name)
		}
		ms = append(ms, mount{path: p, host: host})
	}
	// Shorter paths first, so an enclosing mount's link exists before a nested one.
	sort.SliceStable(ms, func(i, j int) bool { return len(ms[i].path) < len(ms[j].path) })
	for _, m := range ms {
		link := filepath.Join(c.root(), m.path)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return nil, err
		}
		if fi, err := os.Lstat(link); err == nil {
			if fi.Mode()&os.ModeSymlink != 0 || fi.IsDir() {
				_ = os.Remove(link) // a symlink, or an empty directory
			}
		}
		if err := os.Symlink(m.host, link); err != nil {
			return nil, fmt.Errorf("volumeMount %s: %w", m.path, err)
		}
	}
	// Longest first for rewriting: /data/conf wins over /data.
	sort.SliceStable(ms, func(i, j int) bool { return len(ms[i].path) > len(ms[j].path) })
	return ms, nil
}

func pathBoundaryBefore(b byte) bool { return strings.IndexByte(" =:,;'\"", b) >= 0 }
func pathBoundaryAfter(b byte) bool  { return strings.IndexByte("/ =:,;'\"", b) >= 0 }

// rewritePaths replaces each mountPath in s by its host directory where it appears
// as a whole path component sequence: at the start of s or after one of ` =:,;'"`,
// and followed by the end, `/` or one of those characters. "/data/x" and
// "--dir=/data" are rewritten for a mount at /data; "/database" is not.
func rewritePaths(s string, ms []mount) string {
	if len(ms) == 0 || !strings.Contains(s, "/") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		replaced := false
		if i == 0 || pathBoundaryBefore(s[i-1]) {
			for _, m := range ms {
				end := i + len(m.path)
				if strings.HasPrefix(s[i:], m.path) && (end == len(s) || pathBoundaryAfter(s[end])) {
					b.WriteString(m.host)
					i = end
					replaced = true
					break
				}
			}
		}
		if !replaced {
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// removeUnder removes path only if it lies strictly inside base.
func removeUnder(base, path string) error {
	base, path = filepath.Clean(base), filepath.Clean(path)
	if !strings.HasPrefix(path, base+"/") {
		return nil
	}
	return os.RemoveAll(path)
}
