package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpandVars(t *testing.T) {
	env := map[string]string{"POD_IP": "127.31.0.7", "EMPTY": ""}
	lookup := func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	for in, want := range map[string]string{
		"--bind $(POD_IP)":       "--bind 127.31.0.7",
		"$(POD_IP):6379":         "127.31.0.7:6379",
		"$(UNDEFINED)":           "$(UNDEFINED)",
		"$$(POD_IP)":             "$(POD_IP)",
		"$$$(POD_IP)":            "$127.31.0.7",
		"a$$b":                   "a$b",
		"x$(EMPTY)y":             "xy",
		"$(POD_IP":               "$(POD_IP",
		"$POD_IP and $":          "$POD_IP and $",
		"$()":                    "$()",
		"no vars":                "no vars",
		"$(POD_IP)$(POD_IP)":     "127.31.0.7127.31.0.7",
		"sh -c 'echo $(POD_IP)'": "sh -c 'echo 127.31.0.7'",
	} {
		if got := expandVars(in, lookup); got != want {
			t.Errorf("expandVars(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRewritePaths(t *testing.T) {
	ms := []mount{{"/data/conf", "/s/conf"}, {"/data", "/s/pvc"}, {"/var/run/secrets/kubernetes.io/serviceaccount", "/s/sa"}}
	for in, want := range map[string]string{
		"/data":                  "/s/pvc",
		"/data/nodes.conf":       "/s/pvc/nodes.conf",
		"--dir=/data":            "--dir=/s/pvc",
		"/data/conf/valkey.conf": "/s/conf/valkey.conf",
		"/database":              "/database",
		"x/data":                 "x/data",
		"PATH=/bin:/data/bin":    "PATH=/bin:/s/pvc/bin",
		"cat /data/a /data/b":    "cat /s/pvc/a /s/pvc/b",
		"'/data'":                "'/s/pvc'",
		"/var/run/secrets/kubernetes.io/serviceaccount/token": "/s/sa/token",
		"no path": "no path",
	} {
		if got := rewritePaths(in, ms); got != want {
			t.Errorf("rewritePaths(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPool(t *testing.T) {
	p, err := parsePool("127.31.0.1-127.31.0.3")
	if err != nil || p.size() != 3 {
		t.Fatalf("parsePool: %v size %d", err, p.size())
	}
	a, _ := p.allocate("a")
	b, _ := p.allocate("b")
	if a != "127.31.0.1" || b != "127.31.0.2" {
		t.Fatalf("got %s %s", a, b)
	}
	if again, _ := p.allocate("a"); again != a {
		t.Fatalf("same uid got a second address %s", again)
	}
	p.release("a")
	c, _ := p.allocate("c") // round-robin: the next one, not the one just freed
	if c != "127.31.0.3" {
		t.Fatalf("got %s, want 127.31.0.3", c)
	}
	d, _ := p.allocate("d")
	if d != "127.31.0.1" {
		t.Fatalf("got %s, want the freed 127.31.0.1", d)
	}
	if _, err := p.allocate("e"); err == nil {
		t.Fatal("allocated from a full pool")
	}
	q, err := parsePool("127.31.5.0/30")
	if err != nil || q.size() != 2 || q.addrs[0] != "127.31.5.1" || q.addrs[1] != "127.31.5.2" {
		t.Fatalf("CIDR pool: %v %v", err, q)
	}
	for _, bad := range []string{"", "x-y", "127.0.0.5-127.0.0.1", "10.0.0.0/8"} {
		if _, err := parsePool(bad); err == nil {
			t.Errorf("parsePool(%q) accepted", bad)
		}
	}
}

func TestFieldValue(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "vk-0", Namespace: "ns", Labels: map[string]string{"app": "vk", "b": "x\"y"}}}
	pod.Spec.NodeName = "n"
	for path, want := range map[string]string{
		"metadata.name": "vk-0", "metadata.namespace": "ns", "spec.nodeName": "n",
		"status.podIP": "127.31.0.9", "status.hostIP": "127.30.0.1",
		"metadata.labels['app']": "vk", "metadata.labels": "app=\"vk\"\nb=\"x\\\"y\"",
	} {
		got, err := fieldValue(pod, path, "127.31.0.9", "127.30.0.1")
		if err != nil || got != want {
			t.Errorf("fieldValue(%s) = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := fieldValue(pod, "spec.bogus", "", ""); err == nil {
		t.Error("unsupported fieldRef accepted")
	}
}

func TestSAMountWrap(t *testing.T) {
	argv := []string{"autoshard-controller", "--x"}
	var none *saMounter
	if got := none.wrap(argv, []mount{{path: saMountDir, host: "/h"}}); len(got) != 2 {
		t.Fatalf("disabled: argv changed: %q", got)
	}
	s := &saMounter{unshare: "/usr/bin/unshare", sh: "/bin/sh"}
	if got := s.wrap(argv, []mount{{path: "/data", host: "/d"}}); len(got) != 2 {
		t.Fatalf("no service-account mount: argv changed: %q", got)
	}
	got := s.wrap(argv, []mount{{path: "/data", host: "/d"}, {path: saMountDir + "/", host: "/h"}})
	want := []string{"/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
		saMountScript, "podrunner-sa", "/h", saMountDir, "autoshard-controller", "--x"}
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Fatalf("wrap = %q, want %q", got, want)
	}
}

// writeKeys brings a volume up to date in place: changed keys are replaced
// whole (no temporary file left), unchanged ones are left alone.
func TestWriteKeysRefresh(t *testing.T) {
	dir := t.TempDir()
	if err := writeKeys(dir, map[string][]byte{"instances": []byte(""), "conf": []byte("x")}, nil, nil, false, "cm"); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(dir, "conf"))
	if err := writeKeys(dir, map[string][]byte{"instances": []byte("a:1\nb:1\n"), "conf": []byte("x")}, nil, nil, false, "cm"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "instances")); string(b) != "a:1\nb:1\n" {
		t.Fatalf("instances not refreshed: %q", b)
	}
	if st2, _ := os.Stat(filepath.Join(dir, "conf")); !os.SameFile(st, st2) {
		t.Fatal("an unchanged key was rewritten")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*tmp*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}
