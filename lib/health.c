/* Health check over a cluster snapshot. Pure: no I/O, no logging.
 *
 * The "majority view" is the CLUSTER NODES picture (node set, roles, slot
 * owners; not per-viewer flags or addresses) shared by the most reachable
 * nodes; ties go to the view gathered first. Counts come from it, and every
 * other view is compared against it. */
#include "health.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEALTH_MAX_PROBLEMS 200
#define NAME_MAX_LEN (HOST_MAX + 80)

struct problems {
	struct health_report *r;
	uint64_t *seen; /* open-addressing set of line hashes; 0 = empty */
	size_t seen_cap, seen_n;
	size_t total; /* distinct problems, stored or not */
	int oom;
};

struct idref {
	const char *id;
	int idx;
};

/* One usable view (reachable, cluster mode, has a topology). */
struct vinfo {
	const struct node_view *v;
	const struct topology *t;
	struct idref *sorted; /* non-handshake nodes, by id */
	size_t nsorted;
	int *rank; /* node index -> position in sorted, -1 handshake */
	uint64_t hash;
	size_t group;   /* index (in the vinfo array) of its group's first view */
	size_t members; /* for a group's first view: views in the group */
	char name[NAME_MAX_LEN];
};

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ull;
	}
	return h;
}

#define FNV_INIT 14695981039346656037ull

/* 1 if h was already in the set, 0 if added, -1 out of memory. */
static int seen_add(struct problems *p, uint64_t h)
{
	size_t i;

	if (h == 0)
		h = 1;
	if ((p->seen_n + 1) * 2 > p->seen_cap) {
		size_t ncap = p->seen_cap ? p->seen_cap * 2 : 256;
		uint64_t *n = calloc(ncap, sizeof(*n));
		if (!n)
			return -1;
		for (size_t k = 0; k < p->seen_cap; k++) {
			if (!p->seen[k])
				continue;
			for (i = p->seen[k] & (ncap - 1); n[i]; i = (i + 1) & (ncap - 1))
				;
			n[i] = p->seen[k];
		}
		free(p->seen);
		p->seen = n;
		p->seen_cap = ncap;
	}
	for (i = h & (p->seen_cap - 1); p->seen[i]; i = (i + 1) & (p->seen_cap - 1))
		if (p->seen[i] == h)
			return 1;
	p->seen[i] = h;
	p->seen_n++;
	return 0;
}

static void problem(struct problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct problems *p, const char *fmt, ...)
{
	struct health_report *r = p->r;
	char line[1024];
	va_list ap;
	int rc;

	if (p->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rc = seen_add(p, fnv1a(FNV_INIT, line, strlen(line)));
	if (rc < 0)
		goto oom;
	if (rc == 1)
		return;
	p->total++;
	if (r->nproblems >= HEALTH_MAX_PROBLEMS)
		return;
	if (!r->problems) {
		r->problems = calloc(HEALTH_MAX_PROBLEMS, sizeof(*r->problems));
		if (!r->problems)
			goto oom;
	}
	r->problems[r->nproblems] = strdup(line);
	if (!r->problems[r->nproblems])
		goto oom;
	r->nproblems++;
	return;
oom:
	p->oom = 1;
}

/* Replace the last stored line by a count of what did not fit. */
static void problems_finish(struct problems *p)
{
	struct health_report *r = p->r;
	char line[128], *s;

	if (p->oom || p->total <= HEALTH_MAX_PROBLEMS)
		return;
	snprintf(line, sizeof(line), "... and %zu more problems", p->total - (HEALTH_MAX_PROBLEMS - 1));
	s = strdup(line);
	if (!s) {
		p->oom = 1;
		return;
	}
	free(r->problems[HEALTH_MAX_PROBLEMS - 1]);
	r->problems[HEALTH_MAX_PROBLEMS - 1] = s;
}

void health_report_free(struct health_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nproblems; i++)
		free(r->problems[i]);
	free(r->problems);
	r->problems = NULL;
	r->nproblems = 0;
}

/* ---- names ---- */

static const char *view_id(const struct node_view *v)
{
	if (v->id[0])
		return v->id;
	if (v->topo && v->topo->myself >= 0)
		return v->topo->nodes[v->topo->myself].id;
	return "";
}

/* "127.0.0.3:6379 (abcd1234...)" for the address we reached it at. */
static const char *view_name(const struct node_view *v, char *buf, size_t len)
{
	char hp[HOST_MAX + 16];
	const char *id = view_id(v);

	hostport_str(&v->addr, hp, sizeof(hp));
	if (*id)
		snprintf(buf, len, "%s (%.8s...)", hp, id);
	else
		snprintf(buf, len, "%s", hp);
	return buf;
}

/* Announced address of a node in some topology, with its id. */
static const char *node_name(const struct cluster_node *n, char *buf, size_t len)
{
	if (n->ip[0] && strchr(n->ip, ':'))
		snprintf(buf, len, "[%s]:%d (%.8s...)", n->ip, n->port, n->id);
	else if (n->ip[0])
		snprintf(buf, len, "%s:%d (%.8s...)", n->ip, n->port, n->id);
	else if (n->hostname[0])
		snprintf(buf, len, "%s:%d (%.8s...)", n->hostname, n->port, n->id);
	else
		snprintf(buf, len, "%.8s... (no address)", n->id);
	return buf;
}

/* A node as named in messages about view vi: the view's own name for itself. */
static const char *member_name(const struct vinfo *vi, int idx, char *buf, size_t len)
{
	if (idx == vi->t->myself) {
		snprintf(buf, len, "%s", vi->name);
		return buf;
	}
	return node_name(&vi->t->nodes[idx], buf, len);
}

/* ---- comparing views ---- */

static int cmp_idref(const void *a, const void *b)
{
	return strcmp(((const struct idref *)a)->id, ((const struct idref *)b)->id);
}

static int find_sorted(const struct vinfo *vi, const char *id)
{
	struct idref key = {id, -1}, *hit;

	if (!vi->nsorted)
		return -1;
	hit = bsearch(&key, vi->sorted, vi->nsorted, sizeof(key), cmp_idref);
	return hit ? hit->idx : -1;
}

static char role_of(const struct cluster_node *n)
{
	return (n->flags & NODE_MASTER) ? 'M' : (n->flags & NODE_REPLICA) ? 'R' : '-';
}

/* Rank of the owner of slot s (-1 none, -2 a handshake node). */
static int owner_rank(const struct vinfo *vi, int s)
{
	int o = vi->t->slot_owner[s];

	if (o < 0)
		return -1;
	return vi->rank[o] < 0 ? -2 : vi->rank[o];
}

static int vinfo_index(struct vinfo *vi)
{
	const struct topology *t = vi->t;
	uint64_t h = FNV_INIT;

	vi->sorted = calloc(t->nnodes ? t->nnodes : 1, sizeof(*vi->sorted));
	vi->rank = calloc(t->nnodes ? t->nnodes : 1, sizeof(*vi->rank));
	if (!vi->sorted || !vi->rank)
		return -1;
	for (size_t i = 0; i < t->nnodes; i++) {
		vi->rank[i] = -1;
		if (t->nodes[i].flags & NODE_HANDSHAKE)
			continue;
		vi->sorted[vi->nsorted].id = t->nodes[i].id;
		vi->sorted[vi->nsorted].idx = (int)i;
		vi->nsorted++;
	}
	qsort(vi->sorted, vi->nsorted, sizeof(*vi->sorted), cmp_idref);
	for (size_t k = 0; k < vi->nsorted; k++) {
		const struct cluster_node *n = &t->nodes[vi->sorted[k].idx];
		char role = role_of(n);
		vi->rank[vi->sorted[k].idx] = (int)k;
		h = fnv1a(h, n->id, NODE_ID_LEN);
		h = fnv1a(h, &role, 1);
		h = fnv1a(h, n->master_id, strlen(n->master_id) + 1);
	}
	for (int s = 0; s < CLUSTER_SLOTS; s++) {
		int32_t o = owner_rank(vi, s);
		h = fnv1a(h, &o, sizeof(o));
	}
	vi->hash = h;
	return 0;
}

static int vinfo_same(const struct vinfo *a, const struct vinfo *b)
{
	if (a->hash != b->hash || a->nsorted != b->nsorted)
		return 0;
	for (size_t k = 0; k < a->nsorted; k++) {
		const struct cluster_node *x = &a->t->nodes[a->sorted[k].idx], *y = &b->t->nodes[b->sorted[k].idx];
		if (strcmp(x->id, y->id) || role_of(x) != role_of(y) || strcmp(x->master_id, y->master_id))
			return 0;
	}
	for (int s = 0; s < CLUSTER_SLOTS; s++)
		if (owner_rank(a, s) != owner_rank(b, s))
			return 0;
	return 1;
}

static const char *role_str(const struct cluster_node *n, char *buf, size_t len)
{
	if (n->flags & NODE_MASTER)
		snprintf(buf, len, "master");
	else if ((n->flags & NODE_REPLICA) && n->master_id[0])
		snprintf(buf, len, "replica of %.8s...", n->master_id);
	else if (n->flags & NODE_REPLICA)
		snprintf(buf, len, "replica");
	else
		snprintf(buf, len, "neither master nor replica");
	return buf;
}

static const char *slot_owner_id(const struct vinfo *vi, int s)
{
	int o = vi->t->slot_owner[s];

	return o < 0 ? NULL : vi->t->nodes[o].id;
}

static int same_owner(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static void report_slot_disagreement(struct problems *p, const struct vinfo *v, const struct vinfo *m, int start,
				     int end, const char *va, const char *ma)
{
	char oa[16], ob[16];

	if (va)
		snprintf(oa, sizeof(oa), "%.8s...", va);
	else
		snprintf(oa, sizeof(oa), "no one");
	if (ma)
		snprintf(ob, sizeof(ob), "%.8s...", ma);
	else
		snprintf(ob, sizeof(ob), "no one");
	if (start == end)
		problem(p, "node %s sees slot %d owned by %s but node %s sees %s", v->name, start, oa, m->name, ob);
	else
		problem(p, "node %s sees slots %d-%d owned by %s but node %s sees %s", v->name, start, end, oa, m->name,
			ob);
}

/* Everything on which view v differs from the majority view m. */
static void compare_views(struct problems *p, const struct vinfo *v, const struct vinfo *m)
{
	char za[NAME_MAX_LEN], ra[64], rb[64];
	size_t i = 0, k = 0;
	int run = -1;
	const char *run_v = NULL, *run_m = NULL;

	/* node sets and roles: merge walk over the two sorted id lists */
	while (i < v->nsorted || k < m->nsorted) {
		int c = i >= v->nsorted ? 1 : k >= m->nsorted ? -1 : strcmp(v->sorted[i].id, m->sorted[k].id);
		if (c < 0) {
			problem(p, "node %s knows node %s which node %s does not", v->name,
				member_name(v, v->sorted[i].idx, za, sizeof(za)), m->name);
			i++;
		} else if (c > 0) {
			problem(p, "node %s does not know node %s", v->name,
				member_name(m, m->sorted[k].idx, za, sizeof(za)));
			k++;
		} else {
			const struct cluster_node *x = &v->t->nodes[v->sorted[i].idx];
			const struct cluster_node *y = &m->t->nodes[m->sorted[k].idx];
			if (role_of(x) != role_of(y) || strcmp(x->master_id, y->master_id))
				problem(p, "node %s sees node %s as %s but node %s sees it as %s", v->name,
					member_name(m, m->sorted[k].idx, za, sizeof(za)), role_str(x, ra, sizeof(ra)),
					m->name, role_str(y, rb, sizeof(rb)));
			i++;
			k++;
		}
	}
	/* slot owners, as runs of the same pair of owners */
	for (int s = 0; s <= CLUSTER_SLOTS; s++) {
		const char *a = s < CLUSTER_SLOTS ? slot_owner_id(v, s) : NULL;
		const char *b = s < CLUSTER_SLOTS ? slot_owner_id(m, s) : NULL;
		int differ = s < CLUSTER_SLOTS && !same_owner(a, b);

		if (run >= 0 && (!differ || !same_owner(a, run_v) || !same_owner(b, run_m))) {
			report_slot_disagreement(p, v, m, run, s - 1, run_v, run_m);
			run = -1;
		}
		if (differ && run < 0) {
			run = s;
			run_v = a;
			run_m = b;
		}
	}
}

/* ---- per-view checks ---- */

static void check_flags(struct problems *p, const struct vinfo *vi)
{
	static const struct {
		unsigned flag;
		const char *word;
	} bad[] = {{NODE_FAIL, "fail"}, {NODE_PFAIL, "pfail"}, {NODE_HANDSHAKE, "handshake"}, {NODE_NOADDR, "noaddr"}};
	char who[NAME_MAX_LEN], words[64];

	for (size_t i = 0; i < vi->t->nnodes; i++) {
		size_t len = 0;
		words[0] = '\0';
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++)
			if (vi->t->nodes[i].flags & bad[b].flag)
				len += (size_t)snprintf(words + len, sizeof(words) - len, "%s%s", len ? "," : "",
							bad[b].word);
		if (len)
			problem(p, "node %s flags node %s as %s", vi->name, member_name(vi, (int)i, who, sizeof(who)),
				words);
	}
}

static void report_open_run(struct problems *p, const char *who, const struct open_slot *o, int end,
			    const struct topology *t)
{
	char peer[NAME_MAX_LEN], slots[32];
	int pi = topology_find(t, o->peer_id);

	if (pi >= 0)
		node_name(&t->nodes[pi], peer, sizeof(peer));
	else
		snprintf(peer, sizeof(peer), "%.8s...", o->peer_id);
	if (end == o->slot)
		snprintf(slots, sizeof(slots), "slot %d is", o->slot);
	else
		snprintf(slots, sizeof(slots), "slots %d-%d are", o->slot, end);
	problem(p, "node %s: %s %s %s", who, slots, o->importing ? "importing from" : "migrating to", peer);
}

/* Open slots of every node in this view; marks them in open_map. */
static void check_open(struct problems *p, const struct vinfo *vi, unsigned char *open_map)
{
	char who[NAME_MAX_LEN];

	for (size_t i = 0; i < vi->t->nnodes; i++) {
		const struct cluster_node *n = &vi->t->nodes[i];
		size_t run = 0;

		if (!n->nopen)
			continue;
		member_name(vi, (int)i, who, sizeof(who));
		for (size_t k = 0; k < n->nopen; k++) {
			const struct open_slot *o = &n->open[k], *first = &n->open[run];
			open_map[o->slot] = 1;
			if (k > run && (o->importing != first->importing || strcmp(o->peer_id, first->peer_id) ||
					o->slot != n->open[k - 1].slot + 1)) {
				report_open_run(p, who, first, n->open[k - 1].slot, vi->t);
				run = k;
			}
		}
		report_open_run(p, who, &n->open[run], n->open[n->nopen - 1].slot, vi->t);
	}
}

/* Does some view stand for this member of the majority view? */
static int has_view(const struct cluster_snapshot *s, const struct cluster_node *n)
{
	for (size_t i = 0; i < s->nviews; i++) {
		const struct node_view *v = &s->views[i];
		const char *id = view_id(v);
		if (*id) {
			if (strcmp(id, n->id) == 0)
				return 1;
			continue;
		}
		if (v->addr.port == n->port && ((n->ip[0] && strcmp(v->addr.host, n->ip) == 0) ||
						(n->hostname[0] && strcmp(v->addr.host, n->hostname) == 0)))
			return 1;
	}
	return 0;
}

static void check_expectations(struct problems *p, const struct health_expect *e, const struct vinfo *m,
			       const struct health_report *r)
{
	char who[NAME_MAX_LEN];
	int mn = CLUSTER_SLOTS + 1, mx = -1;

	if (e->masters > 0 && r->masters != e->masters)
		problem(p, "expected %d masters with slots, found %d", e->masters, r->masters);
	if (e->nodes > 0 && r->nodes != e->nodes)
		problem(p, "expected %d nodes, found %d", e->nodes, r->nodes);
	if (!m)
		return;
	for (size_t k = 0; k < m->nsorted; k++) {
		const struct cluster_node *n = &m->t->nodes[m->sorted[k].idx];
		int nrep = 0;
		if (!(n->flags & NODE_MASTER))
			continue;
		if (n->nslots == 0) {
			if (e->no_empty_masters)
				problem(p, "master %s owns no slots and replicates nobody",
					member_name(m, m->sorted[k].idx, who, sizeof(who)));
			continue;
		}
		mn = n->nslots < mn ? n->nslots : mn;
		mx = n->nslots > mx ? n->nslots : mx;
		for (size_t j = 0; j < m->nsorted; j++) {
			const struct cluster_node *c = &m->t->nodes[m->sorted[j].idx];
			if ((c->flags & NODE_REPLICA) && strcmp(c->master_id, n->id) == 0)
				nrep++;
		}
		if (e->replicas_per_master >= 0 && nrep != e->replicas_per_master)
			problem(p, "master %s has %d replica%s, expected %d",
				member_name(m, m->sorted[k].idx, who, sizeof(who)), nrep, nrep == 1 ? "" : "s",
				e->replicas_per_master);
		else if (e->replicas_per_master < 0 && nrep < e->min_replicas_per_master)
			problem(p, "master %s has %d replica%s, expected at least %d",
				member_name(m, m->sorted[k].idx, who, sizeof(who)), nrep, nrep == 1 ? "" : "s",
				e->min_replicas_per_master);
	}
	if (e->balanced && mx - mn > 1)
		problem(p, "not balanced: masters own between %d and %d slots", mn, mx);
}

int health_check(const struct cluster_snapshot *s, const struct health_expect *e, struct health_report *r)
{
	struct problems p = {r, NULL, 0, 0, 0, 0};
	struct vinfo *vis = NULL;
	const struct vinfo *m = NULL;
	unsigned char *open_map = NULL;
	size_t nvis = 0;
	char name[NAME_MAX_LEN], who[NAME_MAX_LEN];

	memset(r, 0, sizeof(*r));
	if (!s || s->nviews == 0) {
		problem(&p, "no nodes in the snapshot");
		goto done;
	}
	vis = calloc(s->nviews, sizeof(*vis));
	open_map = calloc(CLUSTER_SLOTS, 1);
	if (!vis || !open_map) {
		p.oom = 1;
		goto done;
	}

	/* each view on its own: reachable, cluster mode, state */
	for (size_t i = 0; i < s->nviews; i++) {
		const struct node_view *v = &s->views[i];

		view_name(v, name, sizeof(name));
		if (!v->reachable) {
			problem(&p, "node %s: unreachable: %s", name, v->error[0] ? v->error : "no reason given");
			continue;
		}
		if (!v->cluster_enabled) {
			problem(&p, "node %s: not in cluster mode", name);
			continue;
		}
		if (v->error[0])
			problem(&p, "node %s: %s", name, v->error);
		if (!v->topo) {
			problem(&p, "node %s: no CLUSTER NODES reply", name);
			continue;
		}
		if (!v->info.state_ok)
			problem(&p, "node %s: cluster_state is fail", name);
		vis[nvis].v = v;
		vis[nvis].t = v->topo;
		snprintf(vis[nvis].name, sizeof(vis[nvis].name), "%s", name);
		if (vinfo_index(&vis[nvis]) < 0) {
			nvis++;
			p.oom = 1;
			goto done;
		}
		nvis++;
	}
	if (nvis == 0) {
		problem(&p, "no node answered in cluster mode");
		goto done;
	}

	/* group identical views; the biggest group is the majority */
	for (size_t i = 0; i < nvis; i++) {
		vis[i].group = i;
		for (size_t j = 0; j < i; j++) {
			if (vis[j].group == j && vinfo_same(&vis[i], &vis[j])) {
				vis[i].group = j;
				break;
			}
		}
		vis[vis[i].group].members++;
	}
	m = &vis[0];
	for (size_t i = 1; i < nvis; i++)
		if (vis[i].group == i && vis[i].members > m->members)
			m = &vis[i];

	/* counts from the majority view */
	r->nodes = (int)m->nsorted;
	r->masters = topology_masters_with_slots(m->t);
	for (size_t k = 0; k < m->nsorted; k++)
		if (m->t->nodes[m->sorted[k].idx].flags & NODE_REPLICA)
			r->replicas++;
	for (int sl = 0; sl < CLUSTER_SLOTS; sl++)
		if (m->t->slot_owner[sl] >= 0)
			r->slots_covered++;

	/* coverage */
	for (int sl = 0; sl < CLUSTER_SLOTS; sl++) {
		int start = sl;
		if (m->t->slot_owner[sl] >= 0)
			continue;
		while (sl + 1 < CLUSTER_SLOTS && m->t->slot_owner[sl + 1] < 0)
			sl++;
		if (start == sl)
			problem(&p, "slot %d is not covered", sl);
		else
			problem(&p, "slots %d-%d are not covered", start, sl);
	}

	/* every view against the majority, then its open slots and flags */
	for (size_t i = 0; i < nvis; i++) {
		const struct vinfo *vi = &vis[i];
		if (vi->group != m->group) {
			if (find_sorted(m, view_id(vi->v)) < 0)
				problem(&p, "node %s is not a member of the cluster node %s sees", vi->name, m->name);
			else
				compare_views(&p, vi, m);
		}
		check_open(&p, vi, open_map);
		check_flags(&p, vi);
	}
	for (int sl = 0; sl < CLUSTER_SLOTS; sl++)
		r->open_slots += open_map[sl];

	/* members nobody looked at */
	for (size_t k = 0; k < m->nsorted; k++) {
		const struct cluster_node *n = &m->t->nodes[m->sorted[k].idx];
		if (!has_view(s, n))
			problem(&p, "node %s was not checked (known to node %s)", node_name(n, who, sizeof(who)),
				m->name);
	}

done:
	if (e)
		check_expectations(&p, e, m, r);
	problems_finish(&p);
	for (size_t i = 0; i < nvis; i++) {
		free(vis[i].sorted);
		free(vis[i].rank);
	}
	free(vis);
	free(open_map);
	free(p.seen);
	if (p.oom)
		return -1;
	return r->nproblems ? 1 : 0;
}
