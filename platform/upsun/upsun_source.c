#include "upsun/upsun_source.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERRBUF 256

/* An IP literal in binary form, for comparisons independent of spelling. */
struct ip_bin {
	int family;
	unsigned char b[16];
};

/* Parse an IPv4 or IPv6 literal (no brackets, no zone, no port) into bin and,
 * when canon is non-NULL, its canonical text. 0 or -1. */
static int ip_parse(const char *s, struct ip_bin *bin, char *canon, size_t canonlen)
{
	struct ip_bin tmp;

	memset(&tmp, 0, sizeof(tmp));
	if (!s || !*s || strlen(s) >= IP_MAX)
		return -1;
	if (inet_pton(AF_INET, s, tmp.b) == 1)
		tmp.family = AF_INET;
	else if (inet_pton(AF_INET6, s, tmp.b) == 1)
		tmp.family = AF_INET6;
	else
		return -1;
	if (canon && !inet_ntop(tmp.family, tmp.b, canon, (socklen_t)canonlen))
		return -1;
	if (bin)
		*bin = tmp;
	return 0;
}

static int ip_bin_eq(const struct ip_bin *a, const struct ip_bin *b)
{
	return a->family == b->family && memcmp(a->b, b->b, a->family == AF_INET ? 4 : 16) == 0;
}

/* Printable, bounded copy of untrusted text for an error message. */
static const char *shown(const char *s, size_t len, char *buf, size_t cap)
{
	return printable(buf, cap, s, len);
}

static int name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int upsun_app_name_valid(const char *app)
{
	size_t n;

	if (!app)
		return 0;
	n = strlen(app);
	if (n == 0 || n > UPSUN_APP_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!name_char((unsigned char)app[i]))
			return 0;
	return 1;
}

/* "<name>.<N>": length of name and N, or -1. */
static int split_key(const char *key, size_t *namelen, long *num)
{
	const char *dot = strrchr(key, '.');
	size_t nl, dl;
	long v = 0;

	if (!dot)
		return -1;
	nl = (size_t)(dot - key);
	if (nl == 0 || nl > UPSUN_APP_NAME_MAX)
		return -1;
	for (size_t i = 0; i < nl; i++)
		if (!name_char((unsigned char)key[i]))
			return -1;
	dl = strlen(dot + 1);
	if (dl == 0 || dl > 6 || (dl > 1 && dot[1] == '0'))
		return -1;
	for (size_t i = 0; i < dl; i++) {
		if (dot[1 + i] < '0' || dot[1 + i] > '9')
			return -1;
		v = v * 10 + (dot[1 + i] - '0');
	}
	if (v > UPSUN_INSTANCE_MAX)
		return -1;
	*namelen = nl;
	*num = v;
	return 0;
}

/* Is name[0..nl) one of the ", "-separated names in list? */
static int name_listed(const char *list, const char *name, size_t nl)
{
	const char *p = list;

	while (*p) {
		size_t l = strcspn(p, ",");
		if (l == nl && memcmp(p, name, nl) == 0)
			return 1;
		p += l;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return 0;
}

struct peer {
	long num;
	const char *key; /* borrowed from the JSON object */
	char ip[IP_MAX];
	struct ip_bin bin;
};

static int peer_cmp(const void *a, const void *b)
{
	const struct peer *x = a, *y = b;

	return (x->num > y->num) - (x->num < y->num);
}

int upsun_peers_parse(const char *buf, size_t len, const char *app, int port, struct member_list *out, char *err,
		      size_t errlen)
{
	json_t *root = NULL;
	json_error_t je;
	struct peer *peers = NULL;
	size_t np = 0, total, applen;
	const char *key;
	json_t *val;
	char s1[80], s2[80];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (port == 0)
		port = UPSUN_DEFAULT_PORT;
	if (!upsun_app_name_valid(app)) {
		seterr(err, errlen, "peers.json: bad application name '%s'",
		       app ? shown(app, strlen(app), s1, 70) : "");
		goto done;
	}
	if (port < 1 || port > 65535) {
		seterr(err, errlen, "peers.json: bad port %d", port);
		goto done;
	}
	if (len > UPSUN_PEERS_MAX_BYTES) {
		seterr(err, errlen, "peers.json: %zu bytes, more than the %u allowed", len, UPSUN_PEERS_MAX_BYTES);
		goto done;
	}
	if (len == 0) {
		seterr(err, errlen, "peers.json: empty");
		goto done;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		seterr(err, errlen, "peers.json: not valid JSON at line %d column %d: %s", je.line, je.column,
		       shown(je.text, strlen(je.text), s1, 70));
		goto done;
	}
	if (!json_is_object(root)) {
		seterr(err, errlen, "peers.json: top level is not an object");
		goto done;
	}
	total = json_object_size(root);
	if (total > UPSUN_PEERS_MAX_ENTRIES) {
		seterr(err, errlen, "peers.json: %zu entries, more than the %d allowed", total,
		       UPSUN_PEERS_MAX_ENTRIES);
		goto done;
	}
	peers = calloc(total ? total : 1, sizeof(*peers));
	if (!peers) {
		seterr(err, errlen, "out of memory");
		goto done;
	}
	applen = strlen(app);
	json_object_foreach(root, key, val)
	{
		size_t nl;
		long num;

		if (split_key(key, &nl, &num) < 0) {
			seterr(err, errlen, "peers.json: key \"%s\" is not <app>.<instance number>",
			       shown(key, strlen(key), s1, 70));
			goto done;
		}
		if (!json_is_string(val)) {
			seterr(err, errlen, "peers.json: value of \"%s\" is not a string", key);
			goto done;
		}
		if (nl != applen || memcmp(key, app, applen) != 0)
			continue;
		if (ip_parse(json_string_value(val), &peers[np].bin, peers[np].ip, sizeof(peers[np].ip)) < 0) {
			const char *v = json_string_value(val);
			seterr(err, errlen, "peers.json: \"%s\": \"%s\" is not an IPv4 or IPv6 address", key,
			       shown(v, json_string_length(val), s2, 60));
			goto done;
		}
		peers[np].num = num;
		peers[np].key = key;
		for (size_t j = 0; j < np; j++)
			if (ip_bin_eq(&peers[j].bin, &peers[np].bin)) {
				seterr(err, errlen, "peers.json: \"%s\" and \"%s\" have the same address %s",
				       peers[j].key, key, peers[np].ip);
				goto done;
			}
		np++;
	}
	if (np == 0) {
		char apps[120];
		size_t o = 0, shown_apps = 0;
		const char *k2;
		json_t *v2;

		apps[0] = '\0';
		json_object_foreach(root, k2, v2)
		{
			size_t nl;
			long num;
			int w;

			(void)v2;
			if (split_key(k2, &nl, &num) < 0 || name_listed(apps, k2, nl))
				continue;
			if (shown_apps == 4 || o + nl + 8 >= sizeof(apps)) {
				strlcpy_a(apps + o, ", ...", sizeof(apps) - o);
				break;
			}
			w = snprintf(apps + o, sizeof(apps) - o, "%s%.*s", o ? ", " : "", (int)nl, k2);
			o += w > 0 ? (size_t)w : 0;
			shown_apps++;
		}
		seterr(err, errlen, "peers.json: no instance of application '%s' (applications present: %s)", app,
		       apps[0] ? apps : "none");
		goto done;
	}
	if (np > MEMBERS_MAX) {
		seterr(err, errlen, "peers.json: %zu instances of '%s', more than %d", np, app, MEMBERS_MAX);
		goto done;
	}
	qsort(peers, np, sizeof(*peers), peer_cmp);
	for (size_t i = 0; i < np; i++) {
		struct member m;
		char e[200];

		memset(&m, 0, sizeof(m));
		strlcpy_a(m.addr.host, peers[i].ip, sizeof(m.addr.host));
		m.addr.port = port;
		if (member_list_add(out, &m, e, sizeof(e)) < 0) {
			seterr(err, errlen, "peers.json: %s", e);
			goto done;
		}
	}
	rc = 0;
done:
	if (rc < 0)
		member_list_free(out);
	free(peers);
	json_decref(root);
	return rc;
}

static uint64_t fnv1a64(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Same file as the last good read, and that read was late enough after the
 * file's mtime that a later write would show in the mtime. */
static int watch_matches(const struct upsun_peers_watch *w, const struct stat *st)
{
	return w->have && w->dev == st->st_dev && w->ino == st->st_ino && w->size == st->st_size &&
	       w->mtime.tv_sec == st->st_mtim.tv_sec && w->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       w->read_at.tv_sec - w->mtime.tv_sec > UPSUN_PEERS_RACY_S;
}

static void watch_remember(struct upsun_peers_watch *w, const struct stat *st, const struct timespec *read_at)
{
	w->dev = st->st_dev;
	w->ino = st->st_ino;
	w->size = st->st_size;
	w->mtime = st->st_mtim;
	w->read_at = *read_at;
}

int upsun_peers_poll(struct upsun_peers_watch *w, const char *path, const char *app, int port, struct member_list *out,
		     char *err, size_t errlen)
{
	struct stat st1, st2;
	struct timespec now;
	char *buf = NULL;
	size_t n = 0;
	int fd = -1, rc = UPSUN_PEERS_ERROR;
	uint64_t h;
	char e[ERRBUF], pe[ERRBUF];

	memset(out, 0, sizeof(*out));
	e[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(e, sizeof(e), "%s: %s", path, strerror(errno));
		goto done;
	}
	if (fstat(fd, &st1) < 0) {
		snprintf(e, sizeof(e), "%s: %s", path, strerror(errno));
		goto done;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	if (!S_ISREG(st1.st_mode)) {
		snprintf(e, sizeof(e), "%s: not a regular file", path);
		goto done;
	}
	if (watch_matches(w, &st1)) {
		rc = UPSUN_PEERS_UNCHANGED;
		goto done;
	}
	if (st1.st_size > (off_t)UPSUN_PEERS_MAX_BYTES) {
		snprintf(e, sizeof(e), "%s: %lld bytes, more than the %u allowed", path, (long long)st1.st_size,
			 UPSUN_PEERS_MAX_BYTES);
		goto done;
	}
	buf = malloc(UPSUN_PEERS_MAX_BYTES + 1);
	if (!buf) {
		snprintf(e, sizeof(e), "out of memory");
		goto done;
	}
	while (n < UPSUN_PEERS_MAX_BYTES + 1) {
		ssize_t r = read(fd, buf + n, UPSUN_PEERS_MAX_BYTES + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(e, sizeof(e), "%s: read: %s", path, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > UPSUN_PEERS_MAX_BYTES) {
		snprintf(e, sizeof(e), "%s: more than %u bytes", path, UPSUN_PEERS_MAX_BYTES);
		goto done;
	}
	if (fstat(fd, &st2) < 0 || !same_stat(&st1, &st2) || (off_t)n != st1.st_size) {
		snprintf(e, sizeof(e), "%s: changed while being read", path);
		goto done;
	}
	h = fnv1a64(buf, n);
	if (w->have && h == w->hash && (off_t)n == w->size) {
		watch_remember(w, &st1, &now);
		rc = UPSUN_PEERS_UNCHANGED;
		goto done;
	}
	if (upsun_peers_parse(buf, n, app, port, out, pe, sizeof(pe)) < 0) {
		snprintf(e, sizeof(e), "%s: %s", path, strncmp(pe, "peers.json: ", 12) == 0 ? pe + 12 : pe);
		goto done;
	}
	watch_remember(w, &st1, &now);
	w->hash = h;
	w->have = 1;
	rc = UPSUN_PEERS_CHANGED;
done:
	if (rc == UPSUN_PEERS_ERROR) {
		w->err_repeated = w->errors > 0 && strcmp(w->last_err, e) == 0;
		strlcpy_a(w->last_err, e, sizeof(w->last_err));
		w->errors++;
		seterr(err, errlen, "%s", e);
	} else {
		w->err_repeated = 0;
		w->last_err[0] = '\0';
		w->errors = 0;
	}
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

int upsun_match_self(const struct member_list *ml, const char *const *ips, size_t n, char *err, size_t errlen)
{
	int found = -1;

	for (size_t i = 0; i < ml->n; i++) {
		struct ip_bin mb;
		if (ip_parse(ml->v[i].addr.host, &mb, NULL, 0) < 0)
			continue;
		for (size_t j = 0; j < n; j++) {
			struct ip_bin lb;
			if (ip_parse(ips[j], &lb, NULL, 0) < 0 || !ip_bin_eq(&mb, &lb))
				continue;
			if (found >= 0 && (size_t)found != i)
				return seterr(err, errlen, "this host has the addresses of two instances (%s and %s)",
					      ml->v[found].addr.host, ml->v[i].addr.host);
			found = (int)i;
		}
	}
	if (found < 0)
		return seterr(err, errlen, "none of this host's addresses is in the instance list");
	return found;
}

int upsun_local_ips(char (*ips)[IP_MAX], size_t max, size_t *n, char *err, size_t errlen)
{
	struct ifaddrs *ifa = NULL;

	*n = 0;
	if (getifaddrs(&ifa) < 0)
		return seterr(err, errlen, "getifaddrs: %s", strerror(errno));
	for (struct ifaddrs *p = ifa; p && *n < max; p = p->ifa_next) {
		const void *a;
		int fam;

		if (!p->ifa_addr || !(p->ifa_flags & IFF_UP))
			continue;
		fam = p->ifa_addr->sa_family;
		if (fam == AF_INET)
			a = &((const struct sockaddr_in *)(const void *)p->ifa_addr)->sin_addr;
		else if (fam == AF_INET6)
			a = &((const struct sockaddr_in6 *)(const void *)p->ifa_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(fam, a, ips[*n], IP_MAX))
			(*n)++;
	}
	freeifaddrs(ifa);
	return 0;
}

int upsun_find_self(const struct member_list *ml, const char *override_ip, char *err, size_t errlen)
{
	char local[64][IP_MAX];
	const char *ptrs[64] = {0};
	size_t n = 0, o = 0;
	char e[200], tried[160];
	int idx;

	if (override_ip && *override_ip) {
		if (ip_parse(override_ip, NULL, NULL, 0) < 0)
			return seterr(err, errlen, "own address override '%s' is not an IP address",
				      shown(override_ip, strlen(override_ip), tried, 60));
		ptrs[0] = override_ip;
		n = 1;
	} else {
		if (upsun_local_ips(local, 64, &n, err, errlen) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			ptrs[i] = local[i];
	}
	idx = upsun_match_self(ml, ptrs, n, e, sizeof(e));
	if (idx >= 0)
		return idx;
	tried[0] = '\0';
	for (size_t i = 0; i < n && o < sizeof(tried) - 1; i++) {
		int w = snprintf(tried + o, sizeof(tried) - o, "%s%s", i ? ", " : "", ptrs[i]);
		if (w < 0)
			break;
		o += (size_t)w;
	}
	return seterr(err, errlen, "%s (tried %s)", e, n ? tried : "no address");
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int upsun_base64_decode(const char *in, size_t inlen, char **out, size_t *outlen, char *err, size_t errlen)
{
	unsigned char *o = NULL;
	size_t pad = 0, k = 0;

	*out = NULL;
	*outlen = 0;
	if (inlen && in[inlen - 1] == '\n')
		inlen--;
	if (inlen && in[inlen - 1] == '\r')
		inlen--;
	if (inlen > UPSUN_RELATIONSHIPS_MAX_BYTES)
		return seterr(err, errlen, "base64 text longer than %u bytes", UPSUN_RELATIONSHIPS_MAX_BYTES);
	if (inlen == 0 || inlen % 4 != 0)
		return seterr(err, errlen, "base64 text length %zu is not a positive multiple of 4", inlen);
	if (in[inlen - 1] == '=')
		pad = in[inlen - 2] == '=' ? 2 : 1;
	o = malloc(inlen / 4 * 3 + 1);
	if (!o)
		return seterr(err, errlen, "out of memory");
	for (size_t i = 0; i < inlen; i += 4) {
		int v[4];
		int last = i + 4 == inlen;

		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)in[i + (size_t)j];
			if (c == '=' && last && (size_t)j >= 4 - pad) {
				v[j] = 0;
				continue;
			}
			v[j] = b64val(c);
			if (v[j] < 0) {
				free(o);
				return seterr(err, errlen, "bad base64 character at offset %zu", i + (size_t)j);
			}
		}
		o[k++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (!(last && pad == 2))
			o[k++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (!(last && pad >= 1))
			o[k++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	o[k] = '\0';
	*out = (char *)o;
	*outlen = k;
	return 0;
}

static void wipe_free(char *p, size_t n)
{
	volatile char *v = p;

	if (!p)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = 0;
	free(p);
}

static int host_name_valid(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.'))
			return 0;
	}
	return h[0] != '.' && h[0] != '-';
}

/* Add host (IP literal or name) once. */
static int add_unique(struct member_list *out, const char *host, int port, char *err, size_t errlen)
{
	struct member m;

	memset(&m, 0, sizeof(m));
	if (ip_parse(host, NULL, m.addr.host, sizeof(m.addr.host)) < 0)
		strlcpy_a(m.addr.host, host, sizeof(m.addr.host));
	m.addr.port = port;
	if (member_list_index(out, &m.addr) >= 0)
		return 0;
	return member_list_add(out, &m, err, errlen);
}

int upsun_relationship_members(const char *b64, const char *name, int port, struct member_list *out, char *err,
			       size_t errlen)
{
	char *js = NULL;
	size_t jlen = 0;
	json_t *root = NULL, *rel, *ep;
	json_error_t je;
	size_t i;
	char e[200], s1[160];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (port == 0)
		port = UPSUN_DEFAULT_PORT;
	if (!name || !*name) {
		seterr(err, errlen, "PLATFORM_RELATIONSHIPS: no relationship name given");
		goto done;
	}
	if (port < 1 || port > 65535) {
		seterr(err, errlen, "PLATFORM_RELATIONSHIPS: bad port %d", port);
		goto done;
	}
	if (!b64 || !*b64) {
		seterr(err, errlen, "PLATFORM_RELATIONSHIPS is not set");
		goto done;
	}
	if (upsun_base64_decode(b64, strlen(b64), &js, &jlen, e, sizeof(e)) < 0) {
		seterr(err, errlen, "PLATFORM_RELATIONSHIPS: %s", e);
		goto done;
	}
	root = json_loadb(js, jlen, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		/* je.text may quote the input, which holds passwords: position only. */
		seterr(err, errlen, "PLATFORM_RELATIONSHIPS: not valid JSON at line %d column %d", je.line, je.column);
		goto done;
	}
	if (!json_is_object(root)) {
		seterr(err, errlen, "PLATFORM_RELATIONSHIPS: top level is not an object");
		goto done;
	}
	rel = json_object_get(root, name);
	if (!rel) {
		const char *k;
		json_t *v;
		size_t o = 0;

		s1[0] = '\0';
		json_object_foreach(root, k, v)
		{
			char one[40];
			int w;

			(void)v;
			if (o + 40 >= sizeof(s1)) {
				strlcpy_a(s1 + o, ", ...", sizeof(s1) - o);
				break;
			}
			w = snprintf(s1 + o, sizeof(s1) - o, "%s%s", o ? ", " : "",
				     shown(k, strlen(k), one, sizeof(one)));
			o += w > 0 ? (size_t)w : 0;
		}
		seterr(err, errlen, "PLATFORM_RELATIONSHIPS: no relationship '%s' (present: %s)",
		       shown(name, strlen(name), e, 70), s1[0] ? s1 : "none");
		goto done;
	}
	if (!json_is_array(rel) || json_array_size(rel) == 0) {
		seterr(err, errlen, "PLATFORM_RELATIONSHIPS: relationship '%s' is not a non-empty list of endpoints",
		       name);
		goto done;
	}
	json_array_foreach(rel, i, ep)
	{
		json_t *ips, *ip, *host;

		if (!json_is_object(ep)) {
			seterr(err, errlen, "PLATFORM_RELATIONSHIPS: '%s' endpoint %zu is not an object", name, i);
			goto done;
		}
		ips = json_object_get(ep, "instance_ips");
		ip = json_object_get(ep, "ip");
		host = json_object_get(ep, "host");
		if (ips && !json_is_null(ips) && !json_is_array(ips)) {
			seterr(err, errlen, "PLATFORM_RELATIONSHIPS: '%s' endpoint %zu: instance_ips is not a list",
			       name, i);
			goto done;
		}
		if (json_is_array(ips) && json_array_size(ips) > 0) {
			size_t j;
			json_t *a;

			json_array_foreach(ips, j, a)
			{
				if (!json_is_string(a) || ip_parse(json_string_value(a), NULL, NULL, 0) < 0) {
					seterr(err, errlen,
					       "PLATFORM_RELATIONSHIPS: '%s' endpoint %zu: instance_ips[%zu] is not an IP address",
					       name, i, j);
					goto done;
				}
				if (add_unique(out, json_string_value(a), port, e, sizeof(e)) < 0) {
					seterr(err, errlen, "PLATFORM_RELATIONSHIPS: '%s': %s", name, e);
					goto done;
				}
			}
		} else if (json_is_string(ip)) {
			if (ip_parse(json_string_value(ip), NULL, NULL, 0) < 0) {
				seterr(err, errlen,
				       "PLATFORM_RELATIONSHIPS: '%s' endpoint %zu: ip is not an IP address", name, i);
				goto done;
			}
			if (add_unique(out, json_string_value(ip), port, e, sizeof(e)) < 0) {
				seterr(err, errlen, "PLATFORM_RELATIONSHIPS: '%s': %s", name, e);
				goto done;
			}
		} else if (json_is_string(host)) {
			if (!host_name_valid(json_string_value(host))) {
				seterr(err, errlen,
				       "PLATFORM_RELATIONSHIPS: '%s' endpoint %zu: host is not a host name", name, i);
				goto done;
			}
			if (add_unique(out, json_string_value(host), port, e, sizeof(e)) < 0) {
				seterr(err, errlen, "PLATFORM_RELATIONSHIPS: '%s': %s", name, e);
				goto done;
			}
		} else {
			seterr(err, errlen, "PLATFORM_RELATIONSHIPS: '%s' endpoint %zu has no instance_ips, ip or host",
			       name, i);
			goto done;
		}
	}
	rc = 0;
done:
	if (rc < 0)
		member_list_free(out);
	json_decref(root);
	wipe_free(js, jlen);
	return rc;
}
