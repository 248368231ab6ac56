#include "fuzz_common.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\n==fuzz invariant failed== %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void fuzz_check_err(const char *err, size_t errlen)
{
	size_t n = strnlen(err, errlen);

	FUZZ_CHECK(n < errlen, "error message not terminated");
	FUZZ_CHECK(n > 0, "failure without an error message");
	FUZZ_CHECK(!memchr(err, '\n', n), "error message spans lines: %s", err);
}

static int is_id(const char *s)
{
	if (strnlen(s, NODE_ID_LEN + 1) != NODE_ID_LEN)
		return 0;
	for (int i = 0; i < NODE_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void fuzz_check_topology(const struct topology *t, int from_shards)
{
	static struct slot_range merged[CLUSTER_SLOTS];
	const char **ids;
	long owned = 0, sum = 0;
	int nmyself = 0, masters_with_slots = 0;

	FUZZ_CHECK(t != NULL, "success without a topology");
	FUZZ_CHECK(t->nnodes >= 1 && t->nnodes <= TOPOLOGY_MAX_NODES, "%zu nodes", t->nnodes);
	FUZZ_CHECK(t->myself >= -1 && t->myself < (int)t->nnodes, "myself %d of %zu", t->myself, t->nnodes);
	if (from_shards)
		FUZZ_CHECK(t->myself == -1, "CLUSTER SHARDS topology has myself %d", t->myself);
	for (int s = 0; s < CLUSTER_SLOTS; s++) {
		FUZZ_CHECK(t->slot_owner[s] >= -1 && t->slot_owner[s] < (int)t->nnodes, "slot %d owner %d", s,
			   t->slot_owner[s]);
		owned += t->slot_owner[s] >= 0;
	}
	for (size_t i = 0; i < t->nnodes; i++) {
		const struct cluster_node *n = &t->nodes[i];
		long nsl = 0;

		FUZZ_CHECK(is_id(n->id), "node %zu: id is not 40 hex chars", i);
		FUZZ_CHECK(n->master_id[0] == '\0' || is_id(n->master_id), "node %zu: bad master id", i);
		FUZZ_CHECK(memchr(n->ip, '\0', sizeof(n->ip)) != NULL, "node %zu: ip not terminated", i);
		FUZZ_CHECK(memchr(n->hostname, '\0', sizeof(n->hostname)) != NULL, "node %zu: hostname not terminated",
			   i);
		for (const char *c = n->hostname; *c; c++)
			FUZZ_CHECK((unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f && *c != ',',
				   "node %zu: hostname has byte 0x%02x", i, (unsigned char)*c);
		FUZZ_CHECK(n->port >= 0 && n->port <= 65535, "node %zu: port %d", i, n->port);
		FUZZ_CHECK(n->bus_port >= 0 && n->bus_port <= 65535, "node %zu: bus port %d", i, n->bus_port);
		FUZZ_CHECK(n->ping_sent >= 0 && n->pong_recv >= 0, "node %zu: negative ping/pong", i);
		FUZZ_CHECK(n->link_connected == 0 || n->link_connected == 1, "node %zu: link %d", i, n->link_connected);
		FUZZ_CHECK(n->nranges == 0 || n->ranges != NULL, "node %zu: ranges NULL", i);
		for (size_t k = 0; k < n->nranges; k++) {
			const struct slot_range *r = &n->ranges[k];
			FUZZ_CHECK(r->start >= 0 && r->start <= r->end && r->end < CLUSTER_SLOTS,
				   "node %zu: range %d-%d", i, r->start, r->end);
			for (int s = r->start; s <= r->end; s++)
				FUZZ_CHECK(t->slot_owner[s] == (int)i, "node %zu: slot %d in its ranges, owner %d", i,
					   s, t->slot_owner[s]);
			nsl += r->end - r->start + 1;
		}
		FUZZ_CHECK(nsl == n->nslots, "node %zu: nslots %d, ranges sum %ld", i, n->nslots, nsl);
		sum += nsl;
		FUZZ_CHECK(n->nopen == 0 || n->open != NULL, "node %zu: open NULL", i);
		for (size_t k = 0; k < n->nopen; k++) {
			const struct open_slot *o = &n->open[k];
			FUZZ_CHECK(o->slot >= 0 && o->slot < CLUSTER_SLOTS, "node %zu: open slot %d", i, o->slot);
			FUZZ_CHECK(o->importing == 0 || o->importing == 1, "node %zu: importing %d", i, o->importing);
			FUZZ_CHECK(is_id(o->peer_id), "node %zu: open slot %d: bad peer id", i, o->slot);
			for (size_t j = 0; j < k; j++)
				FUZZ_CHECK(n->open[j].slot != o->slot || n->open[j].importing != o->importing,
					   "node %zu: slot %d open twice the same way", i, o->slot);
		}
		if (n->flags & NODE_MYSELF) {
			nmyself++;
			FUZZ_CHECK(t->myself == (int)i, "node %zu flagged myself, myself is %d", i, t->myself);
		}
		if ((n->flags & NODE_MASTER) && n->nslots > 0)
			masters_with_slots++;
		/* merged ranges agree with slot_owner */
		{
			size_t nr = topology_node_ranges(t, (int)i, merged, CLUSTER_SLOTS);
			long m = 0;
			for (size_t k = 0; k < nr; k++) {
				FUZZ_CHECK(merged[k].start <= merged[k].end, "merged range reversed");
				FUZZ_CHECK(k == 0 || merged[k].start > merged[k - 1].end + 1,
					   "merged ranges not merged");
				m += merged[k].end - merged[k].start + 1;
			}
			FUZZ_CHECK(m == n->nslots, "node %zu: topology_node_ranges covers %ld slots, nslots %d", i, m,
				   n->nslots);
		}
		if (from_shards) {
			FUZZ_CHECK(n->nopen == 0 && n->bus_port == 0, "CLUSTER SHARDS node %zu has open slots/bus port",
				   i);
			FUZZ_CHECK(n->link_connected == !(n->flags & NODE_FAIL), "node %zu: link vs fail", i);
			FUZZ_CHECK(n->nslots == 0 || (n->flags & NODE_MASTER), "node %zu owns slots, not a master", i);
			FUZZ_CHECK(!(n->flags & NODE_MASTER) || n->master_id[0] == '\0', "master %zu has a master", i);
		}
	}
	FUZZ_CHECK(sum == owned, "ranges sum %ld, slot_owner counts %ld", sum, owned);
	FUZZ_CHECK(nmyself == (t->myself >= 0), "%d nodes flagged myself, myself %d", nmyself, t->myself);
	FUZZ_CHECK(topology_masters_with_slots(t) == masters_with_slots, "topology_masters_with_slots");

	/* ids unique, and topology_find finds each node */
	ids = malloc(t->nnodes * sizeof(*ids));
	FUZZ_CHECK(ids != NULL, "out of memory");
	for (size_t i = 0; i < t->nnodes; i++)
		ids[i] = t->nodes[i].id;
	qsort(ids, t->nnodes, sizeof(*ids), cmp_str_ptr);
	for (size_t i = 1; i < t->nnodes; i++)
		FUZZ_CHECK(strcmp(ids[i - 1], ids[i]) != 0, "node id %s twice", ids[i]);
	free(ids);
	if (t->nnodes <= 64) { /* the lookups are linear: keep big inputs fast */
		for (size_t i = 0; i < t->nnodes; i++) {
			int replicas = 0;
			FUZZ_CHECK(topology_find(t, t->nodes[i].id) == (int)i, "topology_find(%s)", t->nodes[i].id);
			for (size_t j = 0; j < t->nnodes; j++)
				replicas += strcmp(t->nodes[j].master_id, t->nodes[i].id) == 0;
			FUZZ_CHECK(topology_replica_count(t, t->nodes[i].id) == replicas, "topology_replica_count");
			if (from_shards && t->nodes[i].master_id[0]) {
				int m = topology_find(t, t->nodes[i].master_id);
				FUZZ_CHECK(m >= 0 && (t->nodes[m].flags & NODE_MASTER),
					   "replica %zu: master not in shard", i);
			}
		}
	}
}

/* ---- CLUSTER NODES writer ---- */

struct outbuf {
	char *p;
	size_t len, cap;
};

static void out_printf(struct outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		FUZZ_CHECK(n >= 0, "vsnprintf");
		if ((size_t)n < o->cap - o->len)
			break;
		o->cap = o->cap * 2 + (size_t)n + 1;
		o->p = realloc(o->p, o->cap);
		FUZZ_CHECK(o->p != NULL, "out of memory");
	}
	o->len += (size_t)n;
}

static const struct {
	unsigned flag;
	const char *word;
} flag_words[] = {
	{NODE_MYSELF, "myself"},
	{NODE_MASTER, "master"},
	{NODE_REPLICA, "slave"},
	{NODE_PFAIL, "fail?"},
	{NODE_FAIL, "fail"},
	{NODE_HANDSHAKE, "handshake"},
	{NODE_NOADDR, "noaddr"},
	{NODE_NOFAILOVER, "nofailover"},
	{NODE_UNKNOWN_FLAG, "x-future-flag"},
};

char *fuzz_topology_to_nodes(const struct topology *t, size_t *len)
{
	struct outbuf o = {malloc(4096), 0, 4096};

	FUZZ_CHECK(o.p != NULL, "out of memory");
	for (size_t i = 0; i < t->nnodes; i++) {
		const struct cluster_node *n = &t->nodes[i];
		int first = 1;

		out_printf(&o, "%s %s:%d@%d%s%s ", n->id, n->ip, n->port, n->bus_port, n->hostname[0] ? "," : "",
			   n->hostname);
		for (size_t k = 0; k < sizeof(flag_words) / sizeof(flag_words[0]); k++) {
			if (n->flags & flag_words[k].flag) {
				out_printf(&o, "%s%s", first ? "" : ",", flag_words[k].word);
				first = 0;
			}
		}
		out_printf(&o, "%s %s %" PRId64 " %" PRId64 " %" PRIu64 " %s", first ? "noflags" : "",
			   n->master_id[0] ? n->master_id : "-", n->ping_sent, n->pong_recv, n->config_epoch,
			   n->link_connected ? "connected" : "disconnected");
		for (size_t k = 0; k < n->nranges; k++) {
			if (n->ranges[k].start == n->ranges[k].end)
				out_printf(&o, " %d", n->ranges[k].start);
			else
				out_printf(&o, " %d-%d", n->ranges[k].start, n->ranges[k].end);
		}
		for (size_t k = 0; k < n->nopen; k++)
			out_printf(&o, " [%d%s%s]", n->open[k].slot, n->open[k].importing ? "-<-" : "->-",
				   n->open[k].peer_id);
		out_printf(&o, "\n");
	}
	*len = o.len;
	return o.p;
}

void fuzz_check_topology_equal(const struct topology *a, const struct topology *b)
{
	FUZZ_CHECK(a->nnodes == b->nnodes, "round trip: %zu nodes, then %zu", a->nnodes, b->nnodes);
	FUZZ_CHECK(a->myself == b->myself, "round trip: myself %d, then %d", a->myself, b->myself);
	FUZZ_CHECK(memcmp(a->slot_owner, b->slot_owner, sizeof(a->slot_owner)) == 0, "round trip: slot owners differ");
	for (size_t i = 0; i < a->nnodes; i++) {
		const struct cluster_node *x = &a->nodes[i], *y = &b->nodes[i];
		FUZZ_CHECK(strcmp(x->id, y->id) == 0 && strcmp(x->ip, y->ip) == 0 &&
				   strcmp(x->hostname, y->hostname) == 0 && strcmp(x->master_id, y->master_id) == 0,
			   "round trip: node %zu strings differ", i);
		FUZZ_CHECK(x->port == y->port && x->bus_port == y->bus_port && x->flags == y->flags &&
				   x->ping_sent == y->ping_sent && x->pong_recv == y->pong_recv &&
				   x->config_epoch == y->config_epoch && x->link_connected == y->link_connected,
			   "round trip: node %zu numbers or flags differ", i);
		FUZZ_CHECK(x->nranges == y->nranges && x->nslots == y->nslots && x->nopen == y->nopen,
			   "round trip: node %zu range/open counts differ", i);
		for (size_t k = 0; k < x->nranges; k++)
			FUZZ_CHECK(x->ranges[k].start == y->ranges[k].start && x->ranges[k].end == y->ranges[k].end,
				   "round trip: node %zu range %zu differs", i, k);
		for (size_t k = 0; k < x->nopen; k++)
			FUZZ_CHECK(x->open[k].slot == y->open[k].slot && x->open[k].importing == y->open[k].importing &&
					   strcmp(x->open[k].peer_id, y->open[k].peer_id) == 0,
				   "round trip: node %zu open slot %zu differs", i, k);
	}
}

/* ---- capped RESP reader: the one every connection uses (lib/resp_cap.c) ---- */

redisReader *fuzz_reader_new(void)
{
	redisReader *r = redisReaderCreateWithFunctions(resp_capped_functions());

	FUZZ_CHECK(r != NULL, "out of memory");
	return r;
}

void fuzz_check_reply(const redisReply *r, int depth)
{
	FUZZ_CHECK(r != NULL, "NULL reply element");
	FUZZ_CHECK(depth <= 8, "reply nested %d deep", depth);
	switch (r->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		FUZZ_CHECK(r->str != NULL && r->str[r->len] == '\0', "string reply not terminated");
		FUZZ_CHECK(r->len <= RESP_MAX_STRING, "string of %zu bytes passed the cap", r->len);
		break;
	case REDIS_REPLY_ARRAY:
		FUZZ_CHECK(r->elements <= RESP_MAX_ELEMENTS, "array of %zu passed the cap", r->elements);
		for (size_t i = 0; i < r->elements; i++)
			fuzz_check_reply(r->element[i], depth + 1);
		break;
	case REDIS_REPLY_INTEGER:
	case REDIS_REPLY_NIL:
		break;
	default:
		FUZZ_CHECK(0, "reply type %d", r->type);
	}
}

/* ---- member lists ---- */

void fuzz_check_members(const struct member_list *l, int ip_sources, int want_port)
{
	FUZZ_CHECK(l->n >= 1 && l->n <= MEMBERS_MAX && l->v, "%zu members", l->n);
	for (size_t i = 0; i < l->n; i++) {
		const struct member *m = &l->v[i];
		size_t hl = strnlen(m->addr.host, sizeof(m->addr.host));
		unsigned char bin[16];
		char canon[INET6_ADDRSTRLEN];

		FUZZ_CHECK(hl > 0 && hl < sizeof(m->addr.host), "member %zu: host length %zu", i, hl);
		FUZZ_CHECK(strnlen(m->host, sizeof(m->host)) > 0 && strnlen(m->host, sizeof(m->host)) < sizeof(m->host),
			   "member %zu: label not set or not terminated", i);
		FUZZ_CHECK(m->addr.port >= 1 && m->addr.port <= 65535, "member %zu: port %d", i, m->addr.port);
		for (size_t k = 0; k < hl; k++)
			FUZZ_CHECK((unsigned char)m->addr.host[k] > 0x20 && (unsigned char)m->addr.host[k] != 0x7f,
				   "member %zu: host byte 0x%02x", i, (unsigned char)m->addr.host[k]);
		if (l->n <= 256)
			for (size_t j = 0; j < i; j++)
				FUZZ_CHECK(!hostport_eq(&l->v[j].addr, &m->addr), "members %zu and %zu are the same", j,
					   i);
		FUZZ_CHECK(member_list_index(l, &m->addr) == (int)i, "member_list_index(%zu)", i);
		if (!ip_sources)
			continue;
		FUZZ_CHECK(m->addr.port == want_port, "member %zu: port %d, want %d", i, m->addr.port, want_port);
		FUZZ_CHECK(strcmp(m->host, m->addr.host) == 0, "member %zu: label is not the IP", i);
		if (inet_pton(AF_INET, m->addr.host, bin) == 1)
			FUZZ_CHECK(inet_ntop(AF_INET, bin, canon, sizeof(canon)) && strcmp(canon, m->addr.host) == 0,
				   "member %zu: '%s' not canonical", i, m->addr.host);
		else if (inet_pton(AF_INET6, m->addr.host, bin) == 1)
			FUZZ_CHECK(inet_ntop(AF_INET6, bin, canon, sizeof(canon)) && strcmp(canon, m->addr.host) == 0,
				   "member %zu: '%s' not canonical", i, m->addr.host);
		else
			FUZZ_CHECK(0, "member %zu: '%s' is not an IP literal", i, m->addr.host);
	}
}

void fuzz_check_members_equal(const struct member_list *a, const struct member_list *b)
{
	FUZZ_CHECK(a->n == b->n, "round trip: %zu members, then %zu", a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		FUZZ_CHECK(hostport_eq(&a->v[i].addr, &b->v[i].addr) && strcmp(a->v[i].host, b->v[i].host) == 0,
			   "round trip: member %zu differs (%s:%d / %s:%d)", i, a->v[i].addr.host, a->v[i].addr.port,
			   b->v[i].addr.host, b->v[i].addr.port);
}

char *fuzz_base64(const unsigned char *p, size_t n)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

	FUZZ_CHECK(out != NULL, "out of memory");
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
		*o++ = i + 1 < n ? abc[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? abc[v & 63] : '=';
	}
	*o = '\0';
	return out;
}
