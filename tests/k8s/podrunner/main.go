// podrunner plays kubelet for one node in tests: it registers a Node, binds
// unscheduled pods to it, and runs each pod's containers as local processes,
// each pod on its own loopback address. It also provisions hostPath
// PersistentVolumes for pending claims. See ../README.md for the contract.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type config struct {
	kubeconfig   string
	nodeName     string
	nodeIP       string
	ipPool       string
	stateDir     string
	imageMapFile string
	backoffBase  time.Duration
	backoffMax   time.Duration
	stopTimeout  time.Duration
	saMountNS    bool   // see samount.go
	apiHost      string // the API server as seen by pods (KUBERNETES_SERVICE_HOST)
	apiPort      string
}

func main() {
	var c config
	flag.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig of the pod runner (required)")
	flag.StringVar(&c.nodeName, "node-name", "podrunner-0", "name of the Node to register")
	flag.StringVar(&c.nodeIP, "node-ip", "127.0.0.1", "the Node's InternalIP (pods' hostIP)")
	flag.StringVar(&c.ipPool, "ip-pool", "127.31.0.1-127.31.0.250", "pod addresses: FIRST-LAST or a CIDR")
	flag.StringVar(&c.stateDir, "state-dir", "", "directory for pods, volumes and logs (required)")
	flag.StringVar(&c.imageMapFile, "image-map", "", "file of lines 'IMAGE PREFIX...' (IMAGE may end in *)")
	flag.DurationVar(&c.backoffBase, "backoff-base", time.Second, "first restart delay of a crashing container")
	flag.DurationVar(&c.backoffMax, "backoff-max", 20*time.Second, "longest restart delay")
	flag.DurationVar(&c.stopTimeout, "stop-timeout", 10*time.Second, "on SIGTERM, longest wait before SIGKILL of containers")
	flag.BoolVar(&c.saMountNS, "sa-mount-ns", os.Getenv("PODRUNNER_SA_MOUNT_NS") == "1",
		"run containers that mount the service-account volume in a mount namespace with it at its real path (root; default $PODRUNNER_SA_MOUNT_NS=1)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("podrunner: ")
	if c.kubeconfig == "" || c.stateDir == "" {
		log.Fatal("--kubeconfig and --state-dir are required")
	}
	if err := run(c); err != nil {
		log.Fatal(err)
	}
}

func run(c config) error {
	rc, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", c.kubeconfig, err)
	}
	rc.QPS, rc.Burst = 50, 100
	u, err := url.Parse(rc.Host)
	if err != nil {
		return fmt.Errorf("kubeconfig server %q: %w", rc.Host, err)
	}
	c.apiHost, c.apiPort = u.Hostname(), u.Port()
	if c.apiPort == "" {
		c.apiPort = "443"
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	if c.stateDir, err = filepath.Abs(c.stateDir); err != nil {
		return err
	}
	for _, d := range []string{"pods", "pvc", "logs"} {
		if err := os.MkdirAll(filepath.Join(c.stateDir, d), 0o755); err != nil {
			return err
		}
	}
	pool, err := parsePool(c.ipPool)
	if err != nil {
		return err
	}
	images, err := loadImageMap(c.imageMapFile)
	if err != nil {
		return err
	}
	sa, err := newSAMounter(c.saMountNS)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	r := newRunner(c, cs, pool, images)
	r.sa = sa
	return r.run(ctx)
}
