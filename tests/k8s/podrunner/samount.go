package main

// The service-account directory at its real path.
//
// Programs that read the in-cluster configuration from the fixed path
// /var/run/secrets/kubernetes.io/serviceaccount (as client libraries do) cannot
// find it under the container's root directory. With --sa-mount-ns (or
// PODRUNNER_SA_MOUNT_NS=1 in the environment; root only, off by default), a
// container that mounts that directory runs in a private mount namespace where
// the volume's host directory is bind-mounted read-only on the real path:
//
//	unshare --mount --propagation private -- /bin/sh -c SCRIPT podrunner-sa HOST DIR ARGV...
//
// SCRIPT bind-mounts HOST on DIR and execs ARGV, so the container's process keeps
// the pid the pod runner started (signals, process group and exit code as before).
// The mount point is created once on the host (an empty directory); nothing
// outside the container's namespace is mounted.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

const saMountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// saMountScript: $1 host directory, $2 mount point, then the container's argv.
const saMountScript = `mount --bind -- "$1" "$2" && mount -o remount,bind,ro -- "$2" || exit 126; shift 2; exec "$@"`

type saMounter struct {
	unshare, sh string
}

// newSAMounter checks the prerequisites and creates the mount point; nil when
// not enabled.
func newSAMounter(enabled bool) (*saMounter, error) {
	if !enabled {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("--sa-mount-ns needs root (mount namespaces)")
	}
	un, err := exec.LookPath("unshare")
	if err != nil {
		return nil, fmt.Errorf("--sa-mount-ns: %w", err)
	}
	if _, err := exec.LookPath("mount"); err != nil {
		return nil, fmt.Errorf("--sa-mount-ns: %w", err)
	}
	if err := os.MkdirAll(saMountDir, 0o755); err != nil {
		return nil, fmt.Errorf("--sa-mount-ns: %w", err)
	}
	return &saMounter{unshare: un, sh: "/bin/sh"}, nil
}

// saMountHost is the host directory of the mount at saMountDir, if any.
func saMountHost(mounts []mount) (string, bool) {
	for _, m := range mounts {
		if filepath.Clean(m.path) == filepath.Clean(saMountDir) {
			return m.host, true
		}
	}
	return "", false
}

// wrap returns argv run under a private mount namespace with the service-account
// volume at its real path, or argv unchanged when the container does not mount it.
func (s *saMounter) wrap(argv []string, mounts []mount) []string {
	if s == nil {
		return argv
	}
	host, ok := saMountHost(mounts)
	if !ok {
		return argv
	}
	out := []string{s.unshare, "--mount", "--propagation", "private", "--",
		s.sh, "-c", saMountScript, "podrunner-sa", host, saMountDir}
	return append(out, argv...)
}
