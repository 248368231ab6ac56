package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// ipPool hands out pod addresses round-robin, so a re-created pod gets a new
// address (as on a real cluster) and an address is not reused right away.
type ipPool struct {
	mu    sync.Mutex
	addrs []string
	next  int
	owner map[string]types.UID
	byUID map[types.UID]string
}

// parsePool accepts FIRST-LAST (IPv4) or a CIDR (network and broadcast excluded).
func parsePool(s string) (*ipPool, error) {
	var lo, hi uint32
	if first, last, ok := strings.Cut(s, "-"); ok {
		a, b := net.ParseIP(first).To4(), net.ParseIP(last).To4()
		if a == nil || b == nil {
			return nil, fmt.Errorf("ip pool %q: want FIRST-LAST IPv4 addresses", s)
		}
		lo, hi = binary.BigEndian.Uint32(a), binary.BigEndian.Uint32(b)
	} else {
		_, n, err := net.ParseCIDR(s)
		if err != nil || n.IP.To4() == nil {
			return nil, fmt.Errorf("ip pool %q: want FIRST-LAST or an IPv4 CIDR", s)
		}
		ones, bits := n.Mask.Size()
		lo = binary.BigEndian.Uint32(n.IP.To4())
		hi = lo + (1 << uint(bits-ones)) - 1
		if hi-lo >= 2 {
			lo, hi = lo+1, hi-1
		}
	}
	if hi < lo || hi-lo > 65535 {
		return nil, fmt.Errorf("ip pool %q: empty or larger than 65536 addresses", s)
	}
	p := &ipPool{owner: map[string]types.UID{}, byUID: map[types.UID]string{}}
	for v := lo; ; v++ {
		b := make([]byte, 4)
		binary.BigEndian.PutUint32(b, v)
		p.addrs = append(p.addrs, net.IP(b).String())
		if v == hi {
			break
		}
	}
	return p, nil
}

func (p *ipPool) size() int { return len(p.addrs) }

func (p *ipPool) allocate(uid types.UID) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ip, ok := p.byUID[uid]; ok {
		return ip, nil
	}
	for i := 0; i < len(p.addrs); i++ {
		ip := p.addrs[(p.next+i)%len(p.addrs)]
		if _, used := p.owner[ip]; !used {
			p.next = (p.next + i + 1) % len(p.addrs)
			p.owner[ip], p.byUID[uid] = uid, ip
			return ip, nil
		}
	}
	return "", fmt.Errorf("no free pod address (pool of %d)", len(p.addrs))
}

func (p *ipPool) release(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ip, ok := p.byUID[uid]; ok {
		delete(p.owner, ip)
		delete(p.byUID, uid)
	}
}

// imageMap maps a container image to a command prefix: argv = prefix + command + args.
type imageMap []struct {
	image  string // exact, or a prefix when it ended in '*'
	glob   bool
	prefix []string
}

func loadImageMap(file string) (imageMap, error) {
	var m imageMap
	if file == "" {
		return m, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: want IMAGE PREFIX...", file, n)
		}
		img := fields[0]
		glob := strings.HasSuffix(img, "*")
		m = append(m, struct {
			image  string
			glob   bool
			prefix []string
		}{strings.TrimSuffix(img, "*"), glob, fields[1:]})
	}
	return m, sc.Err()
}

// prefix returns the first matching entry's prefix (nil when none matches).
func (m imageMap) prefix(image string) []string {
	for _, e := range m {
		if image == e.image || (e.glob && strings.HasPrefix(image, e.image)) {
			return e.prefix
		}
	}
	return nil
}
