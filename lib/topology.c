/* Strict, bounded parsers for CLUSTER NODES, CLUSTER INFO and CLUSTER SHARDS,
 * and small queries over the resulting topology. No I/O here. */
#include "topology.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOW_MAX 64 /* bytes of an offending token quoted in an error */

/* A piece of the input: not NUL-terminated. */
struct slice {
	const char *p;
	size_t n;
};

/* Splits one line into space-separated fields. */
struct field_iter {
	const char *p;
	size_t len, pos;
	int done;
};

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_lower_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

static int slice_eq(struct slice s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int is_node_id(const char *p, size_t n)
{
	if (n != NODE_ID_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_hex(p[i]))
			return 0;
	return 1;
}

/* Characters of an IPv4/IPv6 literal (with an optional %zone). */
static int is_ip_chars(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!(is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == ':' ||
		      c == '-' || c == '_' || c == '%'))
			return 0;
	}
	return 1;
}

/* Printable, no space and no comma (hostnames in CLUSTER NODES). */
static int is_host_chars(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f || p[i] == ',')
			return 0;
	return 1;
}

/* Unsigned decimal, digits only, at most max. */
static int parse_u64(const char *p, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d;
		if (!is_digit(p[i]))
			return -1;
		d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_int_slice(const char *p, size_t n, int max, int *out)
{
	uint64_t v;

	if (parse_u64(p, n, (uint64_t)max, &v) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

/* Copy a token for an error message: at most SHOW_MAX bytes, non-printable
 * bytes as '?', "..." when cut. */
static const char *show(char *dst, size_t dstlen, const char *p, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n && i < SHOW_MAX && k + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)p[i];
		dst[k++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (i < n && k + 4 < dstlen) {
		memcpy(dst + k, "...", 3);
		k += 3;
	}
	if (dstlen)
		dst[k < dstlen ? k : dstlen - 1] = '\0';
	return dst;
}

static int lineerr(char *err, size_t errlen, const char *what, int lineno, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int lineerr(char *err, size_t errlen, const char *what, int lineno, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return seterr(err, errlen, "%s line %d: %s", what, lineno, msg);
}

static void field_iter_init(struct field_iter *fi, const char *p, size_t len)
{
	fi->p = p;
	fi->len = len;
	fi->pos = 0;
	fi->done = 0;
}

static int field_next(struct field_iter *fi, struct slice *f)
{
	const char *sp;
	size_t end;

	if (fi->done)
		return 0;
	sp = memchr(fi->p + fi->pos, ' ', fi->len - fi->pos);
	end = sp ? (size_t)(sp - fi->p) : fi->len;
	f->p = fi->p + fi->pos;
	f->n = end - fi->pos;
	if (sp)
		fi->pos = end + 1;
	else
		fi->done = 1;
	return 1;
}

/* Next line of buf starting at *pos: without its "\n" and one trailing "\r".
 * Returns 0 at the end of the buffer. */
static int line_next(const char *buf, size_t len, size_t *pos, struct slice *line)
{
	const char *nl;
	size_t end;

	if (*pos >= len)
		return 0;
	nl = memchr(buf + *pos, '\n', len - *pos);
	end = nl ? (size_t)(nl - buf) : len;
	line->p = buf + *pos;
	line->n = end - *pos;
	if (line->n && line->p[line->n - 1] == '\r')
		line->n--;
	*pos = nl ? end + 1 : len;
	return 1;
}

static struct topology *topology_new(void)
{
	struct topology *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->myself = -1;
	for (int i = 0; i < CLUSTER_SLOTS; i++)
		t->slot_owner[i] = -1;
	return t;
}

void topology_free(struct topology *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nnodes; i++) {
		free(t->nodes[i].ranges);
		free(t->nodes[i].open);
	}
	free(t->nodes);
	free(t);
}

/* Append a zeroed node; it belongs to t at once so topology_free frees
 * whatever it later holds. NULL when out of memory. */
static struct cluster_node *topology_add_node(struct topology *t, size_t *cap)
{
	struct cluster_node *n;

	if (t->nnodes == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		n = realloc(t->nodes, ncap * sizeof(*n));
		if (!n)
			return NULL;
		t->nodes = n;
		*cap = ncap;
	}
	n = &t->nodes[t->nnodes++];
	memset(n, 0, sizeof(*n));
	return n;
}

/* Give slots a..b to node idx, merging with the node's last range when
 * adjacent. 0 ok; -1 a slot already has an owner (*slot, *other set);
 * -2 out of memory. */
static int node_add_range(struct topology *t, int idx, int a, int b, size_t *rcap, int *slot, int *other)
{
	struct cluster_node *n = &t->nodes[idx];

	for (int s = a; s <= b; s++) {
		if (t->slot_owner[s] != -1) {
			*slot = s;
			*other = t->slot_owner[s];
			return -1;
		}
	}
	if (n->nranges && n->ranges[n->nranges - 1].end + 1 == a) {
		n->ranges[n->nranges - 1].end = b;
	} else {
		if (n->nranges == *rcap) {
			size_t ncap = *rcap ? *rcap * 2 : 4;
			struct slot_range *r = realloc(n->ranges, ncap * sizeof(*r));
			if (!r)
				return -2;
			n->ranges = r;
			*rcap = ncap;
		}
		n->ranges[n->nranges].start = a;
		n->ranges[n->nranges].end = b;
		n->nranges++;
	}
	for (int s = a; s <= b; s++)
		t->slot_owner[s] = (int16_t)idx;
	n->nslots += b - a + 1;
	return 0;
}

static int cmp_node_ptr_id(const void *a, const void *b)
{
	const struct cluster_node *const *x = a, *const *y = b;

	return strcmp((*x)->id, (*y)->id);
}

/* 0 if all ids differ; else -1 with the two (0-based) indexes. */
static int find_duplicate_id(const struct topology *t, size_t *first, size_t *second, int *oom)
{
	const struct cluster_node **v;
	int rc = 0;

	*oom = 0;
	if (t->nnodes < 2)
		return 0;
	v = malloc(t->nnodes * sizeof(*v));
	if (!v) {
		*oom = 1;
		return -1;
	}
	for (size_t i = 0; i < t->nnodes; i++)
		v[i] = &t->nodes[i];
	qsort(v, t->nnodes, sizeof(*v), cmp_node_ptr_id);
	for (size_t i = 1; i < t->nnodes; i++) {
		if (strcmp(v[i - 1]->id, v[i]->id) == 0) {
			size_t a = (size_t)(v[i - 1] - t->nodes), b = (size_t)(v[i] - t->nodes);
			*first = a < b ? a : b;
			*second = a < b ? b : a;
			rc = -1;
			break;
		}
	}
	free(v);
	return rc;
}

/* ---- CLUSTER NODES ---- */

#define NODES "CLUSTER NODES"

/* "ip:port@cport[,hostname[,aux=value...]]" */
static int parse_address(struct slice a, struct cluster_node *n, int lineno, char *err, size_t errlen)
{
	char tmp[SHOW_MAX + 4];
	const char *comma = memchr(a.p, ',', a.n), *at, *colon = NULL;
	size_t alen = comma ? (size_t)(comma - a.p) : a.n;
	int port, cport;

	if (comma) {
		const char *h = comma + 1, *end = a.p + a.n;
		const char *c2 = memchr(h, ',', (size_t)(end - h));
		size_t hlen = c2 ? (size_t)(c2 - h) : (size_t)(end - h);
		if (hlen >= HOST_MAX || !is_host_chars(h, hlen))
			return lineerr(err, errlen, NODES, lineno, "bad hostname '%s'",
				       show(tmp, sizeof(tmp), h, hlen));
		memcpy(n->hostname, h, hlen);
		n->hostname[hlen] = '\0';
		/* nodes.conf-style aux fields after the hostname are ignored */
	}
	at = memchr(a.p, '@', alen);
	if (!at)
		return lineerr(err, errlen, NODES, lineno, "bad address '%s': no '@cport'",
			       show(tmp, sizeof(tmp), a.p, a.n));
	for (const char *c = a.p; c < at; c++)
		if (*c == ':')
			colon = c;
	if (!colon)
		return lineerr(err, errlen, NODES, lineno, "bad address '%s': no ':port'",
			       show(tmp, sizeof(tmp), a.p, a.n));
	if ((size_t)(colon - a.p) >= IP_MAX || !is_ip_chars(a.p, (size_t)(colon - a.p)))
		return lineerr(err, errlen, NODES, lineno, "bad address '%s': bad ip",
			       show(tmp, sizeof(tmp), a.p, a.n));
	if (parse_int_slice(colon + 1, (size_t)(at - colon - 1), 65535, &port) < 0)
		return lineerr(err, errlen, NODES, lineno, "bad address '%s': bad port",
			       show(tmp, sizeof(tmp), a.p, a.n));
	if (parse_int_slice(at + 1, (size_t)(a.p + alen - at - 1), 65535, &cport) < 0)
		return lineerr(err, errlen, NODES, lineno, "bad address '%s': bad cluster bus port",
			       show(tmp, sizeof(tmp), a.p, a.n));
	memcpy(n->ip, a.p, (size_t)(colon - a.p));
	n->ip[colon - a.p] = '\0';
	n->port = port;
	n->bus_port = cport;
	return 0;
}

static const struct {
	const char *word;
	unsigned flag;
} flag_words[] = {
	{"myself", NODE_MYSELF}, {"master", NODE_MASTER},
	{"slave", NODE_REPLICA}, {"fail?", NODE_PFAIL},
	{"fail", NODE_FAIL},     {"handshake", NODE_HANDSHAKE},
	{"noaddr", NODE_NOADDR}, {"nofailover", NODE_NOFAILOVER},
	{"noflags", 0},
};

static int parse_flags(struct slice f, unsigned *out, int lineno, char *err, size_t errlen)
{
	char tmp[SHOW_MAX + 4];
	size_t pos = 0;
	unsigned flags = 0;

	for (;;) {
		const char *c = memchr(f.p + pos, ',', f.n - pos);
		struct slice w = {f.p + pos, c ? (size_t)(c - (f.p + pos)) : f.n - pos};
		size_t k;

		if (w.n == 0 || !is_host_chars(w.p, w.n))
			return lineerr(err, errlen, NODES, lineno, "bad flags '%s'", show(tmp, sizeof(tmp), f.p, f.n));
		for (k = 0; k < sizeof(flag_words) / sizeof(flag_words[0]); k++)
			if (slice_eq(w, flag_words[k].word))
				break;
		flags |= k < sizeof(flag_words) / sizeof(flag_words[0]) ? flag_words[k].flag : NODE_UNKNOWN_FLAG;
		if (!c)
			break;
		pos += w.n + 1;
	}
	*out = flags;
	return 0;
}

/* "[N->-id]" or "[N-<-id]" */
static int parse_open_slot(struct slice f, struct cluster_node *n, size_t *ocap, unsigned char *open_seen, int lineno,
			   char *err, size_t errlen)
{
	char tmp[SHOW_MAX + 4];
	size_t i = 1;
	int slot, importing;
	const char *id;

	while (i < f.n && is_digit(f.p[i]))
		i++;
	if (f.n < 2 || f.p[f.n - 1] != ']' || parse_int_slice(f.p + 1, i - 1, CLUSTER_SLOTS - 1, &slot) < 0 ||
	    f.n != i + 3 + NODE_ID_LEN + 1)
		return lineerr(err, errlen, NODES, lineno, "bad open slot '%s'", show(tmp, sizeof(tmp), f.p, f.n));
	if (memcmp(f.p + i, "->-", 3) == 0)
		importing = 0;
	else if (memcmp(f.p + i, "-<-", 3) == 0)
		importing = 1;
	else
		return lineerr(err, errlen, NODES, lineno, "bad open slot '%s'", show(tmp, sizeof(tmp), f.p, f.n));
	id = f.p + i + 3;
	if (!is_node_id(id, NODE_ID_LEN))
		return lineerr(err, errlen, NODES, lineno, "bad node id in open slot '%s'",
			       show(tmp, sizeof(tmp), f.p, f.n));
	if (open_seen[slot] & (1u << importing))
		return lineerr(err, errlen, NODES, lineno, "slot %d is %s twice", slot,
			       importing ? "importing" : "migrating");
	if (n->nopen == *ocap) {
		size_t ncap = *ocap ? *ocap * 2 : 4;
		struct open_slot *o = realloc(n->open, ncap * sizeof(*o));
		if (!o)
			return seterr(err, errlen, "out of memory");
		n->open = o;
		*ocap = ncap;
	}
	open_seen[slot] |= (unsigned char)(1u << importing);
	n->open[n->nopen].slot = slot;
	n->open[n->nopen].importing = importing;
	memcpy(n->open[n->nopen].peer_id, id, NODE_ID_LEN);
	n->open[n->nopen].peer_id[NODE_ID_LEN] = '\0';
	n->nopen++;
	return 0;
}

/* "N" or "A-B" */
static int parse_slot_range(struct slice f, struct topology *t, int idx, size_t *rcap, int lineno, char *err,
			    size_t errlen)
{
	char tmp[SHOW_MAX + 4];
	const char *dash = memchr(f.p, '-', f.n);
	int a, b, slot, other, rc;

	if (dash) {
		if (parse_int_slice(f.p, (size_t)(dash - f.p), CLUSTER_SLOTS - 1, &a) < 0 ||
		    parse_int_slice(dash + 1, (size_t)(f.p + f.n - dash - 1), CLUSTER_SLOTS - 1, &b) < 0)
			return lineerr(err, errlen, NODES, lineno, "bad slot range '%s'",
				       show(tmp, sizeof(tmp), f.p, f.n));
		if (a > b)
			return lineerr(err, errlen, NODES, lineno, "reversed slot range '%s'",
				       show(tmp, sizeof(tmp), f.p, f.n));
	} else {
		if (parse_int_slice(f.p, f.n, CLUSTER_SLOTS - 1, &a) < 0)
			return lineerr(err, errlen, NODES, lineno, "bad slot '%s'", show(tmp, sizeof(tmp), f.p, f.n));
		b = a;
	}
	rc = node_add_range(t, idx, a, b, rcap, &slot, &other);
	if (rc == -2)
		return seterr(err, errlen, "out of memory");
	if (rc == -1)
		return lineerr(err, errlen, NODES, lineno, "slot %d is claimed by %.8s... and by %.8s... (line %d)",
			       slot, t->nodes[idx].id, t->nodes[other].id, other + 1);
	return 0;
}

static int parse_node_line(struct topology *t, size_t *ncap, struct slice line, int lineno, unsigned char *open_seen,
			   char *err, size_t errlen)
{
	char tmp[SHOW_MAX + 4];
	struct field_iter fi;
	struct slice f[8], s;
	struct cluster_node *n;
	size_t nf = 0, rcap = 0, ocap = 0;
	uint64_t v;
	int idx, rc = -1;

	field_iter_init(&fi, line.p, line.n);
	while (nf < 8 && field_next(&fi, &f[nf]))
		nf++;
	if (nf < 8)
		return lineerr(err, errlen, NODES, lineno, "%zu fields, expected at least 8", nf);
	for (size_t i = 0; i < nf; i++)
		if (f[i].n == 0)
			return lineerr(err, errlen, NODES, lineno, "field %zu is empty", i + 1);
	n = topology_add_node(t, ncap);
	if (!n)
		return seterr(err, errlen, "out of memory");
	idx = (int)(t->nnodes - 1);

	if (!is_node_id(f[0].p, f[0].n)) {
		lineerr(err, errlen, NODES, lineno, "bad node id '%s'", show(tmp, sizeof(tmp), f[0].p, f[0].n));
		goto fail;
	}
	memcpy(n->id, f[0].p, NODE_ID_LEN);
	if (parse_address(f[1], n, lineno, err, errlen) < 0)
		goto fail;
	if (parse_flags(f[2], &n->flags, lineno, err, errlen) < 0)
		goto fail;
	if (n->flags & NODE_MYSELF) {
		if (t->myself >= 0) {
			lineerr(err, errlen, NODES, lineno, "second node flagged myself (first on line %d)",
				t->myself + 1);
			goto fail;
		}
		t->myself = idx;
	}
	if (!slice_eq(f[3], "-")) {
		if (!is_node_id(f[3].p, f[3].n)) {
			lineerr(err, errlen, NODES, lineno, "bad master id '%s'",
				show(tmp, sizeof(tmp), f[3].p, f[3].n));
			goto fail;
		}
		memcpy(n->master_id, f[3].p, NODE_ID_LEN);
	}
	if (parse_u64(f[4].p, f[4].n, INT64_MAX, &v) < 0) {
		lineerr(err, errlen, NODES, lineno, "bad ping-sent '%s'", show(tmp, sizeof(tmp), f[4].p, f[4].n));
		goto fail;
	}
	n->ping_sent = (int64_t)v;
	if (parse_u64(f[5].p, f[5].n, INT64_MAX, &v) < 0) {
		lineerr(err, errlen, NODES, lineno, "bad pong-recv '%s'", show(tmp, sizeof(tmp), f[5].p, f[5].n));
		goto fail;
	}
	n->pong_recv = (int64_t)v;
	if (parse_u64(f[6].p, f[6].n, UINT64_MAX, &n->config_epoch) < 0) {
		lineerr(err, errlen, NODES, lineno, "bad config-epoch '%s'", show(tmp, sizeof(tmp), f[6].p, f[6].n));
		goto fail;
	}
	if (slice_eq(f[7], "connected")) {
		n->link_connected = 1;
	} else if (!slice_eq(f[7], "disconnected")) {
		lineerr(err, errlen, NODES, lineno, "bad link-state '%s'", show(tmp, sizeof(tmp), f[7].p, f[7].n));
		goto fail;
	}
	while (field_next(&fi, &s)) {
		if (s.n == 0) {
			lineerr(err, errlen, NODES, lineno, "empty slot field");
			goto fail;
		}
		if (s.p[0] == '[') {
			if (parse_open_slot(s, &t->nodes[idx], &ocap, open_seen, lineno, err, errlen) < 0)
				goto fail;
		} else if (parse_slot_range(s, t, idx, &rcap, lineno, err, errlen) < 0) {
			goto fail;
		}
	}
	rc = 0;
fail:
	/* forget this line's open slots so the next line starts clean */
	for (size_t i = 0; i < t->nodes[idx].nopen; i++)
		open_seen[t->nodes[idx].open[i].slot] = 0;
	return rc;
}

int topology_parse_nodes(const char *buf, size_t len, struct topology **out, char *err, size_t errlen)
{
	struct topology *t = NULL;
	unsigned char *open_seen = NULL;
	struct slice line;
	size_t pos = 0, ncap = 0, d1, d2;
	int lineno = 0, oom;

	*out = NULL;
	if (!buf && len)
		return seterr(err, errlen, NODES ": no buffer");
	if (len > TOPOLOGY_MAX_REPLY) {
		seterr(err, errlen, NODES " reply is %zu bytes, over the cap of %u", len, TOPOLOGY_MAX_REPLY);
		goto fail;
	}
	t = topology_new();
	open_seen = calloc(CLUSTER_SLOTS, 1);
	if (!t || !open_seen) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	while (line_next(buf, len, &pos, &line)) {
		lineno++;
		if (line.n > TOPOLOGY_MAX_LINE) {
			lineerr(err, errlen, NODES, lineno, "%zu bytes long, over the cap of %d", line.n,
				TOPOLOGY_MAX_LINE);
			goto fail;
		}
		if (line.n == 0) {
			lineerr(err, errlen, NODES, lineno, "empty line");
			goto fail;
		}
		if (t->nnodes >= TOPOLOGY_MAX_NODES) {
			lineerr(err, errlen, NODES, lineno, "more than %d nodes", TOPOLOGY_MAX_NODES);
			goto fail;
		}
		if (parse_node_line(t, &ncap, line, lineno, open_seen, err, errlen) < 0)
			goto fail;
	}
	if (t->nnodes == 0) {
		seterr(err, errlen, NODES " reply is empty");
		goto fail;
	}
	if (find_duplicate_id(t, &d1, &d2, &oom) < 0) {
		if (oom)
			seterr(err, errlen, "out of memory");
		else
			lineerr(err, errlen, NODES, (int)d2 + 1, "node id %s already on line %zu", t->nodes[d2].id,
				d1 + 1);
		goto fail;
	}
	free(open_seen);
	*out = t;
	return 0;
fail:
	free(open_seen);
	topology_free(t);
	return -1;
}

/* ---- queries ---- */

int topology_find(const struct topology *t, const char *id)
{
	if (!t || !id || !*id)
		return -1;
	for (size_t i = 0; i < t->nnodes; i++)
		if (strcmp(t->nodes[i].id, id) == 0)
			return (int)i;
	return -1;
}

int topology_masters_with_slots(const struct topology *t)
{
	int n = 0;

	if (!t)
		return 0;
	for (size_t i = 0; i < t->nnodes; i++)
		if ((t->nodes[i].flags & NODE_MASTER) && t->nodes[i].nslots > 0)
			n++;
	return n;
}

int topology_replica_count(const struct topology *t, const char *master_id)
{
	int n = 0;

	if (!t || !master_id || !*master_id)
		return 0;
	for (size_t i = 0; i < t->nnodes; i++)
		if (strcmp(t->nodes[i].master_id, master_id) == 0)
			n++;
	return n;
}

size_t topology_node_ranges(const struct topology *t, int idx, struct slot_range *ranges, size_t maxranges)
{
	size_t n = 0;
	int s = 0;

	if (!t || idx < 0 || (size_t)idx >= t->nnodes)
		return 0;
	while (s < CLUSTER_SLOTS && n < maxranges) {
		int start;
		if (t->slot_owner[s] != idx) {
			s++;
			continue;
		}
		start = s;
		while (s < CLUSTER_SLOTS && t->slot_owner[s] == idx)
			s++;
		ranges[n].start = start;
		ranges[n].end = s - 1;
		n++;
	}
	return n;
}

/* ---- CLUSTER INFO / INFO ---- */

#define INFO "CLUSTER INFO"

int cluster_info_parse(const char *buf, size_t len, struct cluster_info *out, char *err, size_t errlen)
{
	char tmp[SHOW_MAX + 4];
	struct slice line, key, val;
	size_t pos = 0;
	int lineno = 0, have_state = 0, have_assigned = 0;

	memset(out, 0, sizeof(*out));
	if (!buf && len)
		return seterr(err, errlen, INFO ": no buffer");
	if (len > TOPOLOGY_MAX_REPLY)
		return seterr(err, errlen, INFO " reply is %zu bytes, over the cap of %u", len, TOPOLOGY_MAX_REPLY);
	while (line_next(buf, len, &pos, &line)) {
		const char *colon;
		int *ip = NULL, imax = CLUSTER_SLOTS;
		uint64_t *up = NULL;

		lineno++;
		if (line.n > TOPOLOGY_MAX_LINE)
			return lineerr(err, errlen, INFO, lineno, "%zu bytes long, over the cap of %d", line.n,
				       TOPOLOGY_MAX_LINE);
		if (line.n == 0 || line.p[0] == '#')
			continue;
		colon = memchr(line.p, ':', line.n);
		if (!colon)
			return lineerr(err, errlen, INFO, lineno, "no ':' in '%s'",
				       show(tmp, sizeof(tmp), line.p, line.n));
		key.p = line.p;
		key.n = (size_t)(colon - line.p);
		val.p = colon + 1;
		val.n = line.n - key.n - 1;
		if (slice_eq(key, "cluster_state")) {
			if (slice_eq(val, "ok"))
				out->state_ok = 1;
			else if (slice_eq(val, "fail"))
				out->state_ok = 0;
			else
				return lineerr(err, errlen, INFO, lineno, "bad cluster_state '%s'",
					       show(tmp, sizeof(tmp), val.p, val.n));
			have_state = 1;
			continue;
		}
		if (slice_eq(key, "cluster_slots_assigned")) {
			ip = &out->slots_assigned;
			have_assigned = 1;
		} else if (slice_eq(key, "cluster_slots_ok")) {
			ip = &out->slots_ok;
		} else if (slice_eq(key, "cluster_slots_pfail")) {
			ip = &out->slots_pfail;
		} else if (slice_eq(key, "cluster_slots_fail")) {
			ip = &out->slots_fail;
		} else if (slice_eq(key, "cluster_known_nodes")) {
			ip = &out->known_nodes;
			imax = 1 << 30;
		} else if (slice_eq(key, "cluster_size")) {
			ip = &out->size;
		} else if (slice_eq(key, "cluster_current_epoch")) {
			up = &out->current_epoch;
		} else if (slice_eq(key, "cluster_my_epoch")) {
			up = &out->my_epoch;
		} else {
			continue;
		}
		if ((ip && parse_int_slice(val.p, val.n, imax, ip) < 0) ||
		    (up && parse_u64(val.p, val.n, UINT64_MAX, up) < 0))
			return lineerr(err, errlen, INFO, lineno, "bad value for %.*s: '%s'", (int)key.n, key.p,
				       show(tmp, sizeof(tmp), val.p, val.n));
	}
	if (!have_state)
		return seterr(err, errlen, INFO ": no cluster_state");
	if (!have_assigned)
		return seterr(err, errlen, INFO ": no cluster_slots_assigned");
	return 0;
}

int info_get_field(const char *buf, size_t len, const char *key, char *out, size_t outlen)
{
	struct slice line;
	size_t pos = 0, klen;

	if (!buf || !key || !*key)
		return -1;
	klen = strlen(key);
	while (line_next(buf, len, &pos, &line)) {
		if (line.n > klen && memcmp(line.p, key, klen) == 0 && line.p[klen] == ':') {
			size_t vlen = line.n - klen - 1;
			if (outlen) {
				size_t c = vlen < outlen - 1 ? vlen : outlen - 1;
				memcpy(out, line.p + klen + 1, c);
				out[c] = '\0';
			}
			return 0;
		}
	}
	return -1;
}

/* ---- CLUSTER SHARDS ---- */

#define SHARDS "CLUSTER SHARDS"

/* An IPv4 or IPv6 literal (not a host name), short enough for IP_MAX. */
static int looks_like_ip(const char *p, size_t n)
{
	int v6 = memchr(p, ':', n) != NULL;

	if (n == 0 || n >= IP_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (is_digit(c) || c == '.')
			continue;
		if (v6 && (c == ':' || c == '%' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			continue;
		return 0;
	}
	return 1;
}

static int is_str(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static int str_eq(const redisReply *r, const char *lit)
{
	size_t n = strlen(lit);

	return is_str(r) && r->len == n && memcmp(r->str, lit, n) == 0;
}

static int is_kv_array(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_ARRAY && r->elements % 2 == 0;
}

/* One node map of a shard into n (id, address, role, health). */
static int shard_node_parse(const redisReply *m, struct cluster_node *n, size_t si, size_t ni, char *err, size_t errlen)
{
	char tmp[SHOW_MAX + 4];
	int have_id = 0, have_role = 0, have_port = 0, tls_port = 0;
	const redisReply *endpoint = NULL;
	int have_ip = 0;

	if (!is_kv_array(m))
		return seterr(err, errlen, SHARDS " shard %zu node %zu: not a key/value array", si, ni);
	for (size_t k = 0; k < m->elements; k += 2) {
		const redisReply *key = m->element[k], *val = m->element[k + 1];
		const char *kname;

		if (!is_str(key))
			return seterr(err, errlen, SHARDS " shard %zu node %zu: key %zu is not a string", si, ni,
				      k / 2 + 1);
		if (!val)
			return seterr(err, errlen, SHARDS " shard %zu node %zu: missing value", si, ni);
		kname = NULL;
		if (str_eq(key, "id")) {
			kname = "id";
			if (!is_str(val) || !is_node_id(val->str, val->len))
				goto bad;
			memcpy(n->id, val->str, NODE_ID_LEN);
			have_id = 1;
		} else if (str_eq(key, "port") || str_eq(key, "tls-port")) {
			kname = key->str[0] == 'p' ? "port" : "tls-port";
			if (val->type != REDIS_REPLY_INTEGER || val->integer < 0 || val->integer > 65535)
				goto bad;
			if (kname[0] == 'p') {
				n->port = (int)val->integer;
				have_port = 1;
			} else {
				tls_port = (int)val->integer;
			}
		} else if (str_eq(key, "ip")) {
			kname = "ip";
			if (!is_str(val) || val->len >= IP_MAX || !is_ip_chars(val->str, val->len))
				goto bad;
			memcpy(n->ip, val->str, val->len);
			n->ip[val->len] = '\0';
			have_ip = 1;
		} else if (str_eq(key, "endpoint")) {
			kname = "endpoint";
			if (!is_str(val))
				goto bad;
			endpoint = val;
		} else if (str_eq(key, "hostname")) {
			kname = "hostname";
			if (!is_str(val) || val->len >= HOST_MAX || !is_host_chars(val->str, val->len))
				goto bad;
			memcpy(n->hostname, val->str, val->len);
			n->hostname[val->len] = '\0';
		} else if (str_eq(key, "role")) {
			kname = "role";
			if (str_eq(val, "master"))
				n->flags |= NODE_MASTER;
			else if (str_eq(val, "replica") || str_eq(val, "slave"))
				n->flags |= NODE_REPLICA;
			else
				goto bad;
			have_role = 1;
		} else if (str_eq(key, "replication-offset")) {
			kname = "replication-offset";
			if (val->type != REDIS_REPLY_INTEGER)
				goto bad;
		} else if (str_eq(key, "health")) {
			kname = "health";
			if (!is_str(val))
				goto bad;
			if (str_eq(val, "fail") || str_eq(val, "failed"))
				n->flags |= NODE_FAIL;
			else if (!str_eq(val, "online") && !str_eq(val, "loading"))
				n->flags |= NODE_UNKNOWN_FLAG;
		}
		continue;
bad:
		return seterr(err, errlen, SHARDS " shard %zu node %zu: bad %s '%s'", si, ni, kname,
			      is_str(val) ? show(tmp, sizeof(tmp), val->str, val->len) : "(wrong type)");
	}
	if (!have_id)
		return seterr(err, errlen, SHARDS " shard %zu node %zu: no id", si, ni);
	if (!have_role)
		return seterr(err, errlen, SHARDS " shard %zu node %zu: no role", si, ni);
	if (!have_port)
		n->port = tls_port;
	/* "ip" is always sent by Valkey/Redis; fall back on an IP-literal endpoint */
	if (!have_ip && endpoint && looks_like_ip(endpoint->str, endpoint->len)) {
		memcpy(n->ip, endpoint->str, endpoint->len);
		n->ip[endpoint->len] = '\0';
	}
	n->link_connected = (n->flags & NODE_FAIL) ? 0 : 1;
	return 0;
}

static int shard_parse(const redisReply *sh, struct topology *t, size_t *ncap, size_t si, char *err, size_t errlen)
{
	const redisReply *slots = NULL, *nodes = NULL;
	size_t first, rcap = 0;
	int master = -1, slot, other, rc;

	if (!is_kv_array(sh))
		return seterr(err, errlen, SHARDS " shard %zu: not a key/value array", si);
	for (size_t k = 0; k < sh->elements; k += 2) {
		const redisReply *key = sh->element[k], *val = sh->element[k + 1];
		if (!is_str(key))
			return seterr(err, errlen, SHARDS " shard %zu: key %zu is not a string", si, k / 2 + 1);
		if (str_eq(key, "slots"))
			slots = val;
		else if (str_eq(key, "nodes"))
			nodes = val;
	}
	if (!slots || slots->type != REDIS_REPLY_ARRAY || slots->elements % 2)
		return seterr(err, errlen, SHARDS " shard %zu: 'slots' missing or not an array of pairs", si);
	if (!nodes || nodes->type != REDIS_REPLY_ARRAY)
		return seterr(err, errlen, SHARDS " shard %zu: 'nodes' missing or not an array", si);
	for (size_t k = 0; k < slots->elements; k++) {
		const redisReply *v = slots->element[k];
		if (!v || v->type != REDIS_REPLY_INTEGER || v->integer < 0 || v->integer >= CLUSTER_SLOTS)
			return seterr(err, errlen, SHARDS " shard %zu: slot element %zu is not a slot number", si,
				      k + 1);
		if (k % 2 && slots->element[k - 1]->integer > v->integer)
			return seterr(err, errlen, SHARDS " shard %zu: reversed slot range %lld-%lld", si,
				      slots->element[k - 1]->integer, v->integer);
	}
	first = t->nnodes;
	for (size_t k = 0; k < nodes->elements; k++) {
		struct cluster_node *n;
		if (t->nnodes >= TOPOLOGY_MAX_NODES)
			return seterr(err, errlen, SHARDS ": more than %d nodes", TOPOLOGY_MAX_NODES);
		n = topology_add_node(t, ncap);
		if (!n)
			return seterr(err, errlen, "out of memory");
		if (shard_node_parse(nodes->element[k], n, si, k + 1, err, errlen) < 0)
			return -1;
		if (n->flags & NODE_MASTER) {
			if (master >= 0)
				return seterr(err, errlen, SHARDS " shard %zu: two masters, %.8s... and %.8s...", si,
					      t->nodes[master].id, n->id);
			master = (int)(t->nnodes - 1);
		}
	}
	if (master >= 0)
		for (size_t k = first; k < t->nnodes; k++)
			if (t->nodes[k].flags & NODE_REPLICA)
				memcpy(t->nodes[k].master_id, t->nodes[master].id, NODE_ID_LEN + 1);
	if (slots->elements && master < 0)
		return seterr(err, errlen, SHARDS " shard %zu: has slots but no master", si);
	for (size_t k = 0; k < slots->elements; k += 2) {
		rc = node_add_range(t, master, (int)slots->element[k]->integer, (int)slots->element[k + 1]->integer,
				    &rcap, &slot, &other);
		if (rc == -2)
			return seterr(err, errlen, "out of memory");
		if (rc == -1)
			return seterr(err, errlen, SHARDS " shard %zu: slot %d is claimed by %.8s... and by %.8s...",
				      si, slot, t->nodes[master].id, t->nodes[other].id);
	}
	return 0;
}

int topology_from_shards(const struct redisReply *r, struct topology **out, char *err, size_t errlen)
{
	struct topology *t = NULL;
	size_t ncap = 0, d1, d2;
	int oom;

	*out = NULL;
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		seterr(err, errlen, SHARDS ": reply is not an array");
		goto fail;
	}
	t = topology_new();
	if (!t) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < r->elements; i++)
		if (shard_parse(r->element[i], t, &ncap, i + 1, err, errlen) < 0)
			goto fail;
	if (t->nnodes == 0) {
		seterr(err, errlen, SHARDS ": no nodes");
		goto fail;
	}
	if (find_duplicate_id(t, &d1, &d2, &oom) < 0) {
		if (oom)
			seterr(err, errlen, "out of memory");
		else
			seterr(err, errlen, SHARDS ": node id %s appears twice", t->nodes[d2].id);
		goto fail;
	}
	*out = t;
	return 0;
fail:
	topology_free(t);
	return -1;
}
