/* The planner: pure functions from topologies to slot moves (plan_rebalance)
 * and to fixes for slots left open by an interrupted migration
 * (plan_fix_open_slots). No I/O; the only outside call is the keys_in_slot
 * callback of plan_fix_open_slots.
 *
 * Ownership is read from topology.slot_owner (node ranges are not consulted).
 * Everything that could depend on the order of nodes in the topology is done
 * in node id order, so the same cluster always yields the same plan. */
#include "planner.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Node lookup by id                                                          */

struct node_index {
	const struct cluster_node **by_id; /* owned; sorted by id */
	size_t n;
	const struct cluster_node *base; /* borrowed: topology nodes */
};

static int cmp_node_ptr_by_id(const void *a, const void *b)
{
	const struct cluster_node *const *x = a;
	const struct cluster_node *const *y = b;

	return strcmp((*x)->id, (*y)->id);
}

/* Build the index of t's nodes; rejects duplicate ids. Free with node_index_free. */
static int node_index_build(struct node_index *ni, const struct topology *t, char *err, size_t errlen)
{
	size_t i;

	ni->by_id = NULL;
	ni->n = 0;
	ni->base = t->nodes;
	if (t->nnodes == 0)
		return 0;
	ni->by_id = calloc(t->nnodes, sizeof(*ni->by_id));
	if (!ni->by_id)
		return seterr(err, errlen, "out of memory");
	for (i = 0; i < t->nnodes; i++)
		ni->by_id[i] = &t->nodes[i];
	qsort(ni->by_id, t->nnodes, sizeof(*ni->by_id), cmp_node_ptr_by_id);
	ni->n = t->nnodes;
	for (i = 1; i < ni->n; i++)
		if (strcmp(ni->by_id[i - 1]->id, ni->by_id[i]->id) == 0)
			return seterr(err, errlen, "duplicate node id %s in topology", ni->by_id[i]->id);
	return 0;
}

static void node_index_free(struct node_index *ni)
{
	free(ni->by_id);
	ni->by_id = NULL;
	ni->n = 0;
}

/* Topology index of the node with this id, or -1. */
static int node_index_find(const struct node_index *ni, const char *id)
{
	size_t lo = 0, hi = ni->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ni->by_id[mid]->id, id);

		if (c == 0)
			return (int)(ni->by_id[mid] - ni->base);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* ------------------------------------------------------------------------ */
/* plan_rebalance                                                             */

/* Weights are used in units of 1/WEIGHT_UNITS_PER_1 (rounded to nearest) so the
 * apportionment is exact integer arithmetic: equal remainders really tie and
 * are broken by id, whatever the floating point noise. */
#define WEIGHT_UNITS_PER_1 1000
#define WEIGHT_MAX 1e6

struct member {
	int idx;         /* topology node index */
	const char *id;  /* borrowed */
	long long units; /* weight in 1/WEIGHT_UNITS_PER_1; 0 means draining */
	int cur;         /* slots owned now */
	int target;      /* slots after the plan */
	long long rem;   /* remainder of total * units / sum of units */
};

struct run {
	int start, end; /* inclusive */
	int owner;
};

struct pair {
	int src, dst; /* member indices */
	int count;
};

static const struct plan_opts default_opts;

static int run_len(const struct run *r)
{
	return r->end - r->start + 1;
}

/* Longest first; among equals the higher one first (give from the top end). */
static int cmp_run_longest_first(const void *a, const void *b)
{
	const struct run *x = a, *y = b;

	if (run_len(x) != run_len(y))
		return run_len(x) > run_len(y) ? -1 : 1;
	return x->start > y->start ? -1 : x->start < y->start;
}

static int cmp_run_start(const void *a, const void *b)
{
	const struct run *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Remainder descending, then id ascending: who gets one of the leftover slots. */
static int cmp_member_rem_desc(const void *a, const void *b)
{
	const struct member *x = *(const struct member *const *)a;
	const struct member *y = *(const struct member *const *)b;

	int xh = x->cur > x->target, yh = y->cur > y->target; /* holds more than its floor now */

	if (x->rem != y->rem)
		return x->rem > y->rem ? -1 : 1;
	/* Equal remainders: the extra slot stays where it already is, so a
	 * balanced cluster plans no move whichever ids got the extras. */
	if (xh != yh)
		return xh ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Largest-remainder apportionment of total slots over m by weight units.
 * Each target is the floor or the ceiling of its exact share; the slots left
 * after the floors go to the largest remainders, ties to members holding more
 * than their floor already, then by id ascending. A
 * weight of 0 gets 0. Exact: units <= 1e9, nodes <= 32767, total <= 16384. */
static int apportion(struct member *m, size_t nm, int total, char *err, size_t errlen)
{
	struct member **order = NULL;
	long long usum = 0, assigned = 0, left;
	size_t i;

	for (i = 0; i < nm; i++)
		usum += m[i].units;
	for (i = 0; i < nm; i++) {
		m[i].target = 0;
		m[i].rem = 0;
	}
	if (total == 0)
		return 0;
	if (usum == 0)
		return seterr(err, errlen, "all weights are 0 but %d slots need an owner", total);
	order = calloc(nm, sizeof(*order));
	if (!order)
		return seterr(err, errlen, "out of memory");
	for (i = 0; i < nm; i++) {
		long long num = (long long)total * m[i].units;

		m[i].target = (int)(num / usum);
		m[i].rem = num % usum;
		assigned += m[i].target;
		order[i] = &m[i];
	}
	/* 0 <= left < number of non-zero remainders, so weight 0 never gains. */
	left = total - assigned;
	qsort(order, nm, sizeof(*order), cmp_member_rem_desc);
	for (i = 0; i < nm && left > 0; i++, left--)
		order[i]->target++;
	free(order);
	return 0;
}

/* Weight, drain and exclude options resolved per topology node. */
struct node_opts {
	double *weight;
	unsigned char *weight_set, *drained, *excluded;
};

static int resolve_opts(const struct topology *t, const struct node_index *ni, const struct plan_opts *o,
			struct node_opts *no, char *err, size_t errlen)
{
	size_t i;
	int idx;

	for (i = 0; i < t->nnodes; i++)
		no->weight[i] = 1.0;
	if ((o->nexclude && !o->exclude_ids) || (o->ndrain && !o->drain_ids) || (o->nweights && !o->weights))
		return seterr(err, errlen, "plan options: list count set without a list");
	for (i = 0; i < o->nexclude; i++) {
		if (!o->exclude_ids[i])
			return seterr(err, errlen, "exclude: entry %zu is NULL", i);
		if ((idx = node_index_find(ni, o->exclude_ids[i])) < 0)
			return seterr(err, errlen, "exclude: unknown node %s", o->exclude_ids[i]);
		no->excluded[idx] = 1;
	}
	for (i = 0; i < o->ndrain; i++) {
		if (!o->drain_ids[i])
			return seterr(err, errlen, "drain: entry %zu is NULL", i);
		if ((idx = node_index_find(ni, o->drain_ids[i])) < 0)
			return seterr(err, errlen, "drain: unknown node %s", o->drain_ids[i]);
		if (!(t->nodes[idx].flags & NODE_MASTER))
			return seterr(err, errlen, "drain: node %s is not a master", o->drain_ids[i]);
		if (no->excluded[idx])
			return seterr(err, errlen, "drain: node %s is also excluded", o->drain_ids[i]);
		no->drained[idx] = 1;
	}
	for (i = 0; i < o->nweights; i++) {
		const char *id = o->weights[i].node_id;
		double w = o->weights[i].weight;

		if (!memchr(id, '\0', sizeof(o->weights[i].node_id)))
			return seterr(err, errlen, "weight: entry %zu: node id not terminated", i);
		if ((idx = node_index_find(ni, id)) < 0)
			return seterr(err, errlen, "weight: unknown node %s", id);
		if (!isfinite(w) || w < 0 || w > WEIGHT_MAX || (w > 0 && llround(w * WEIGHT_UNITS_PER_1) == 0))
			return seterr(err, errlen, "weight: node %s has invalid weight %g (0, or 0.001 to 1e6)", id, w);
		if (!(t->nodes[idx].flags & NODE_MASTER))
			return seterr(err, errlen, "weight: node %s is not a master", id);
		if (no->weight_set[idx])
			return seterr(err, errlen, "weight: node %s given twice", id);
		no->weight_set[idx] = 1;
		no->weight[idx] = w;
	}
	return 0;
}

/* Count slots per node and check coverage and owners. */
static int count_slots(const struct topology *t, int *cur, char *err, size_t errlen)
{
	int s, unowned = 0, first_unowned = -1;

	for (s = 0; s < CLUSTER_SLOTS; s++) {
		int o = t->slot_owner[s];

		if (o < 0) {
			if (unowned++ == 0)
				first_unowned = s;
			continue;
		}
		if ((size_t)o >= t->nnodes)
			return seterr(err, errlen, "slot %d: owner index %d out of range", s, o);
		if (!(t->nodes[o].flags & NODE_MASTER))
			return seterr(err, errlen, "slot %d: owner %s is not a master", s, t->nodes[o].id);
		cur[o]++;
	}
	if (unowned)
		return seterr(err, errlen, "slots not covered: fix coverage first (%d slots have no owner, first %d)",
			      unowned, first_unowned);
	return 0;
}

/* Maximal runs of consecutive slots with the same owner, grouped by owner
 * (ascending within an owner). *first[i]..first[i+1] are node i's runs. */
static int build_runs(const struct topology *t, struct run **runs_out, int **first_out, char *err, size_t errlen)
{
	struct run *tmp = NULL, *runs = NULL;
	int *first = NULL, *fill = NULL;
	int nruns = 0, s, rc = -1;
	size_t i;

	tmp = malloc(CLUSTER_SLOTS * sizeof(*tmp));
	runs = malloc(CLUSTER_SLOTS * sizeof(*runs));
	first = calloc(t->nnodes + 1, sizeof(*first));
	fill = calloc(t->nnodes + 1, sizeof(*fill));
	if (!tmp || !runs || !first || !fill) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	for (s = 0; s < CLUSTER_SLOTS; s++) {
		if (nruns > 0 && tmp[nruns - 1].owner == t->slot_owner[s] && tmp[nruns - 1].end == s - 1) {
			tmp[nruns - 1].end = s;
			continue;
		}
		tmp[nruns].start = tmp[nruns].end = s;
		tmp[nruns].owner = t->slot_owner[s];
		nruns++;
	}
	for (s = 0; s < nruns; s++)
		first[tmp[s].owner + 1]++;
	for (i = 0; i < t->nnodes; i++)
		first[i + 1] += first[i];
	memcpy(fill, first, (t->nnodes + 1) * sizeof(*fill));
	for (s = 0; s < nruns; s++)
		runs[fill[tmp[s].owner]++] = tmp[s];
	*runs_out = runs;
	*first_out = first;
	runs = NULL;
	first = NULL;
	rc = 0;
fail:
	free(tmp);
	free(runs);
	free(first);
	free(fill);
	return rc;
}

/* Choose k slots of a source from its runs (n of them, ascending) so they form
 * as few ranges as possible: the longest runs first, the last one trimmed
 * from its top end. Writes the slots ascending into slots[]. scratch holds n. */
static void choose_slots(const struct run *runs, int n, int k, struct run *scratch, int *slots)
{
	int i, m = 0, need = k, out = 0;

	memcpy(scratch, runs, (size_t)n * sizeof(*scratch));
	qsort(scratch, (size_t)n, sizeof(*scratch), cmp_run_longest_first);
	for (i = 0; i < n && need > 0; i++, m++) {
		if (run_len(&scratch[i]) > need)
			scratch[i].start = scratch[i].end - need + 1;
		need -= run_len(&scratch[i]);
	}
	qsort(scratch, (size_t)m, sizeof(*scratch), cmp_run_start);
	for (i = 0; i < m; i++) {
		int s;

		for (s = scratch[i].start; s <= scratch[i].end; s++)
			slots[out++] = s;
	}
}

int plan_rebalance(const struct topology *t, const struct plan_opts *o, struct plan **out, char *err, size_t errlen)
{
	struct node_index ni = {0};
	struct node_opts no = {0};
	struct member *m = NULL;
	struct pair *pairs = NULL;
	struct run *runs = NULL, *scratch = NULL;
	int *first = NULL, *cur = NULL, *srcs = NULL, *dsts = NULL, *slots = NULL;
	struct plan *p = NULL;
	size_t nm = 0, i, nsrc = 0, ndst = 0, npairs = 0, nmoves = 0, si, di, pi;
	int total = 0, rc = -1;

	if (out)
		*out = NULL;
	if (!t || !out)
		return seterr(err, errlen, "plan_rebalance: no topology or output");
	if (!o)
		o = &default_opts;
	if (t->nnodes > INT16_MAX)
		return seterr(err, errlen, "topology has too many nodes (%zu)", t->nnodes);
	if (node_index_build(&ni, t, err, errlen) < 0)
		goto fail;

	{
		size_t n = t->nnodes ? t->nnodes : 1;

		no.weight = calloc(n, sizeof(*no.weight));
		no.weight_set = calloc(n, 1);
		no.drained = calloc(n, 1);
		no.excluded = calloc(n, 1);
		cur = calloc(n, sizeof(*cur));
		m = calloc(n, sizeof(*m));
		srcs = calloc(n, sizeof(*srcs));
		dsts = calloc(n, sizeof(*dsts));
		pairs = calloc(2 * n, sizeof(*pairs));
		p = calloc(1, sizeof(*p));
		if (p)
			p->target_slots = calloc(n, sizeof(*p->target_slots));
		slots = malloc(CLUSTER_SLOTS * sizeof(*slots));
		scratch = malloc(CLUSTER_SLOTS * sizeof(*scratch));
		if (!no.weight || !no.weight_set || !no.drained || !no.excluded || !cur || !m || !srcs || !dsts ||
		    !pairs || !p || !p->target_slots || !slots || !scratch) {
			seterr(err, errlen, "out of memory");
			goto fail;
		}
	}
	if (resolve_opts(t, &ni, o, &no, err, errlen) < 0)
		goto fail;
	if (count_slots(t, cur, err, errlen) < 0)
		goto fail;

	/* Masters taking part, in id order. */
	for (i = 0; i < ni.n; i++) {
		const struct cluster_node *n = ni.by_id[i];
		int idx = (int)(n - t->nodes);

		if (!(n->flags & NODE_MASTER) || no.excluded[idx])
			continue;
		if (cur[idx] == 0 && !o->use_empty_masters && !no.drained[idx])
			continue;
		if (n->flags & (NODE_FAIL | NODE_PFAIL)) {
			seterr(err, errlen, "node %s is failing (%s): exclude it or wait for failover", n->id,
			       (n->flags & NODE_FAIL) ? "fail" : "pfail");
			goto fail;
		}
		if (n->flags & NODE_NOADDR) {
			seterr(err, errlen, "node %s has no address: exclude it", n->id);
			goto fail;
		}
		m[nm].idx = idx;
		m[nm].id = n->id;
		m[nm].units = no.drained[idx] ? 0 : llround(no.weight[idx] * WEIGHT_UNITS_PER_1);
		m[nm].cur = cur[idx];
		total += cur[idx];
		nm++;
	}
	if (apportion(m, nm, total, err, errlen) < 0)
		goto fail;

	/* Sources: draining (weight 0) first, then the rest, each in id order.
	 * Targets in id order. */
	for (i = 0; i < nm; i++)
		if (m[i].cur > m[i].target && m[i].units == 0)
			srcs[nsrc++] = (int)i;
	for (i = 0; i < nm; i++) {
		if (m[i].cur > m[i].target && m[i].units != 0)
			srcs[nsrc++] = (int)i;
		if (m[i].cur < m[i].target)
			dsts[ndst++] = (int)i;
	}

	/* Pair them greedily: at most nsrc + ndst - 1 pairs. */
	{
		int sleft = nsrc ? m[srcs[0]].cur - m[srcs[0]].target : 0;
		int dleft = ndst ? m[dsts[0]].target - m[dsts[0]].cur : 0;

		si = di = 0;
		while (si < nsrc && di < ndst) {
			int c = sleft < dleft ? sleft : dleft;

			pairs[npairs].src = srcs[si];
			pairs[npairs].dst = dsts[di];
			pairs[npairs].count = c;
			npairs++;
			nmoves += (size_t)c;
			sleft -= c;
			dleft -= c;
			if (sleft == 0 && ++si < nsrc)
				sleft = m[srcs[si]].cur - m[srcs[si]].target;
			if (dleft == 0 && ++di < ndst)
				dleft = m[dsts[di]].target - m[dsts[di]].cur;
		}
		if (si != nsrc || di != ndst) {
			seterr(err, errlen, "internal error: surpluses and deficits differ");
			goto fail;
		}
	}

	if (nmoves) {
		p->moves = calloc(nmoves, sizeof(*p->moves));
		if (!p->moves) {
			seterr(err, errlen, "out of memory");
			goto fail;
		}
		if (build_runs(t, &runs, &first, err, errlen) < 0)
			goto fail;
	}
	/* Pairs of one source are consecutive; cut its chosen slots in order. */
	for (pi = 0; pi < npairs;) {
		const struct member *src = &m[pairs[pi].src];
		int nr = first[src->idx + 1] - first[src->idx];
		int pos = 0;

		choose_slots(&runs[first[src->idx]], nr, src->cur - src->target, scratch, slots);
		for (; pi < npairs && pairs[pi].src == (int)(src - m); pi++) {
			int k;

			for (k = 0; k < pairs[pi].count; k++) {
				struct slot_move *mv = &p->moves[p->nmoves++];

				mv->slot = slots[pos++];
				mv->src = src->idx;
				mv->dst = m[pairs[pi].dst].idx;
			}
		}
	}

	for (i = 0; i < t->nnodes; i++)
		p->target_slots[i] = -1;
	for (i = 0; i < nm; i++)
		p->target_slots[m[i].idx] = m[i].target;
	p->nmasters = (int)nm;
	*out = p;
	p = NULL;
	rc = 0;
fail:
	plan_free(p);
	node_index_free(&ni);
	free(no.weight);
	free(no.weight_set);
	free(no.drained);
	free(no.excluded);
	free(cur);
	free(m);
	free(srcs);
	free(dsts);
	free(pairs);
	free(runs);
	free(first);
	free(scratch);
	free(slots);
	return rc;
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	free(p->moves);
	free(p->target_slots);
	free(p);
}

/* ------------------------------------------------------------------------ */
/* plan_fix_open_slots                                                        */

struct open_entry {
	int slot;
	int node; /* ref index of the node in that state */
	int peer; /* ref index of its peer */
	int importing;
};

static int cmp_open_entry(const void *a, const void *b)
{
	const struct open_entry *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	if (x->importing != y->importing)
		return x->importing < y->importing ? -1 : 1;
	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	return x->peer < y->peer ? -1 : x->peer > y->peer;
}

struct fix_ctx {
	const struct topology *ref;
	const struct topology *const *views;
	size_t nviews;
	int **vmap;        /* per view: view node index -> ref index (-1 unknown) */
	int *view_of;      /* per ref node: index of its own view, -1 if none */
	int *nclaim;       /* per slot: masters claiming it in their own view */
	int (*claimer)[2]; /* per slot: the first two of them */
	keys_in_slot_fn *keys_in_slot;
	void *arg;
	char *err;
	size_t errlen;
};

static const char *ref_id(const struct fix_ctx *c, int idx)
{
	return c->ref->nodes[idx].id;
}

/* Owner of slot in view vi, as a ref index (-1 none or unknown). */
static int view_owner(const struct fix_ctx *c, size_t vi, int slot)
{
	const struct topology *v = c->views[vi];
	int o = v->slot_owner[slot];

	if (!c->vmap[vi]) /* a view skipped: its node is not in the reference */
		return -1;
	if (o < 0 || (size_t)o >= v->nnodes)
		return -1;
	return c->vmap[vi][o];
}

static int count_keys(const struct fix_ctx *c, int node, int slot, long long *keys)
{
	if (!c->keys_in_slot)
		return seterr(c->err, c->errlen, "slot %d: need the key count on node %s but no callback given", slot,
			      ref_id(c, node));
	*keys = c->keys_in_slot(c->arg, node, slot);
	if (*keys < 0)
		return seterr(c->err, c->errlen, "slot %d: cannot count keys on node %s", slot, ref_id(c, node));
	return 0;
}

/* Two masters claim the slot in their own views. The one the other was
 * migrating to wins; else the only one holding keys; else the one with the
 * higher config epoch. The loser must hold no keys. */
static int decide_conflict(const struct fix_ctx *c, int slot, const struct open_entry *e, size_t ne,
			   struct slot_fix *fix)
{
	int a = c->claimer[slot][0], b = c->claimer[slot][1], win = -1, lose = -1;
	long long ka = -1, kb = -1, kl;
	size_t i;

	for (i = 0; i < ne; i++) {
		if (e[i].importing)
			continue;
		if (e[i].node == a && e[i].peer == b && win != a)
			win = b;
		else if (e[i].node == b && e[i].peer == a && win != b)
			win = a;
		else
			return seterr(c->err, c->errlen,
				      "slot %d: claimed by %s and %s, and %s is MIGRATING to %s: fix by hand", slot,
				      ref_id(c, a), ref_id(c, b), ref_id(c, e[i].node), ref_id(c, e[i].peer));
	}
	if (win < 0) {
		if (count_keys(c, a, slot, &ka) < 0 || count_keys(c, b, slot, &kb) < 0)
			return -1;
		if (ka == 0 && kb > 0) {
			win = b;
		} else if (kb == 0 && ka > 0) {
			win = a;
		} else if (ka == 0 && kb == 0) {
			uint64_t ea = c->views[c->view_of[a]]->nodes[c->views[c->view_of[a]]->myself].config_epoch;
			uint64_t eb = c->views[c->view_of[b]]->nodes[c->views[c->view_of[b]]->myself].config_epoch;

			if (ea == eb)
				return seterr(c->err, c->errlen,
					      "slot %d: claimed by %s and %s with the same config epoch: fix by hand",
					      slot, ref_id(c, a), ref_id(c, b));
			win = ea > eb ? a : b;
		} else {
			return seterr(c->err, c->errlen,
				      "slot %d: claimed by %s and %s and both hold keys: fix by hand", slot,
				      ref_id(c, a), ref_id(c, b));
		}
	}
	lose = win == a ? b : a;
	for (i = 0; i < ne; i++)
		if (e[i].importing && !(e[i].node == win && e[i].peer == lose))
			return seterr(c->err, c->errlen,
				      "slot %d: claimed by %s and %s, and %s is IMPORTING from %s: fix by hand", slot,
				      ref_id(c, a), ref_id(c, b), ref_id(c, e[i].node), ref_id(c, e[i].peer));
	kl = lose == a ? ka : kb;
	if (kl < 0 && count_keys(c, lose, slot, &kl) < 0)
		return -1;
	if (kl > 0)
		return seterr(c->err, c->errlen, "slot %d: %s claims it but %s still holds %lld keys: fix by hand",
			      slot, ref_id(c, win), ref_id(c, lose), kl);
	fix->kind = FIX_SETOWNER;
	fix->src = lose;
	fix->dst = win;
	return 0;
}

/* Decide the fix for one slot; *have 0 when the slot is not open. */
static int decide_slot(const struct fix_ctx *c, int slot, const struct open_entry *e, size_t ne, struct slot_fix *fix,
		       int *have)
{
	int owner, mig_to = -1, imp_node = -1, stale_src = -1;
	size_t i, vi;
	long long keys;

	*have = 0;
	fix->slot = slot;
	if (c->nclaim[slot] > 2)
		return seterr(c->err, c->errlen, "slot %d: claimed by %d masters (%s, %s, ...): fix by hand", slot,
			      c->nclaim[slot], ref_id(c, c->claimer[slot][0]), ref_id(c, c->claimer[slot][1]));
	if (c->nclaim[slot] == 2) {
		*have = 1;
		return decide_conflict(c, slot, e, ne, fix);
	}
	owner = c->nclaim[slot] == 1 ? c->claimer[slot][0] : c->ref->slot_owner[slot];

	if (ne == 0 && c->nclaim[slot] == 0) {
		/* Nobody claims the slot in its own view, yet the views name an
		 * owner X: X's own view names another node Y (Y's claim at a
		 * higher epoch reached X before Y was told it had lost the slot).
		 * No gossip repairs that: X must claim it again. If only Y holds
		 * keys of the slot, Y is the owner instead. */
		int x = owner, y, dst;
		long long kx, ky = 0;

		if (x < 0 || (size_t)x >= c->ref->nnodes || c->view_of[x] < 0)
			return 0;
		y = view_owner(c, (size_t)c->view_of[x], slot);
		if (count_keys(c, x, slot, &kx) < 0)
			return -1;
		if (y >= 0 && y != x && c->view_of[y] >= 0 && count_keys(c, y, slot, &ky) < 0)
			return -1;
		if (kx > 0 && ky > 0)
			return seterr(c->err, c->errlen,
				      "slot %d: claimed by no master, and both %s and %s hold keys of it: fix by hand",
				      slot, ref_id(c, x), ref_id(c, y));
		dst = ky > 0 ? y : x;
		y = dst == x ? y : x; /* the other one */
		*have = 1;
		fix->kind = FIX_SETOWNER;
		fix->src = y >= 0 && c->view_of[y] >= 0 ? y : dst;
		fix->dst = dst;
		return 0;
	}
	if (ne == 0) {
		/* Not open unless the claimer's ownership is conceded by the
		 * former owner while other views still name that former owner. */
		int former = -1;

		if (c->nclaim[slot] != 1)
			return 0;
		for (vi = 0; vi < c->nviews; vi++) {
			int x = view_owner(c, vi, slot);

			if (x < 0 || x == owner || c->view_of[x] < 0 ||
			    view_owner(c, (size_t)c->view_of[x], slot) != owner)
				continue;
			if (former < 0 || strcmp(ref_id(c, x), ref_id(c, former)) < 0)
				former = x;
		}
		if (former < 0)
			return 0;
		*have = 1;
		fix->kind = FIX_SETOWNER;
		fix->src = former;
		fix->dst = owner;
		return 0;
	}

	*have = 1;
	if (owner < 0 || (size_t)owner >= c->ref->nnodes)
		return seterr(c->err, c->errlen, "slot %d: open but no master owns it: fix coverage first", slot);
	for (i = 0; i < ne; i++) {
		if (e[i].importing) {
			if (imp_node >= 0 && imp_node != e[i].node)
				return seterr(c->err, c->errlen,
					      "slot %d: both %s and %s are IMPORTING it: fix by hand", slot,
					      ref_id(c, imp_node), ref_id(c, e[i].node));
			imp_node = e[i].node;
		} else if (e[i].node != owner) {
			/* The move finished on the target and the new owner reached
			 * the source by gossip, but the source's MIGRATING mark
			 * stayed (Redis 7 keeps it; Valkey 8 clears it). With no key
			 * left there, re-announcing the owner clears the mark. */
			if (e[i].peer != owner)
				return seterr(c->err, c->errlen,
					      "slot %d: %s is MIGRATING it to %s but %s owns it: fix by hand", slot,
					      ref_id(c, e[i].node), ref_id(c, e[i].peer), ref_id(c, owner));
			stale_src = e[i].node;
		} else {
			mig_to = e[i].peer;
		}
	}
	if (stale_src >= 0) {
		if (mig_to >= 0 || (imp_node >= 0 && imp_node != owner))
			return seterr(c->err, c->errlen, "slot %d: %s is MIGRATING it but %s owns it: fix by hand",
				      slot, ref_id(c, stale_src), ref_id(c, owner));
		if (count_keys(c, stale_src, slot, &keys) < 0)
			return -1;
		if (keys != 0)
			return seterr(c->err, c->errlen,
				      "slot %d: %s owns it but %s is still MIGRATING it with %lld keys: fix by hand",
				      slot, ref_id(c, owner), ref_id(c, stale_src), keys);
		fix->kind = FIX_SETOWNER;
		fix->src = stale_src;
		fix->dst = owner;
		return 0;
	}
	if (mig_to >= 0) {
		if (mig_to == owner)
			return seterr(c->err, c->errlen, "slot %d: %s is MIGRATING it to itself: fix by hand", slot,
				      ref_id(c, owner));
		if (imp_node >= 0 && imp_node != mig_to)
			return seterr(c->err, c->errlen,
				      "slot %d: %s is MIGRATING it to %s but %s is IMPORTING it: fix by hand", slot,
				      ref_id(c, owner), ref_id(c, mig_to), ref_id(c, imp_node));
		fix->kind = FIX_FINISH;
		fix->src = owner;
		fix->dst = mig_to;
		return 0;
	}
	if (imp_node == owner)
		return seterr(c->err, c->errlen, "slot %d: %s owns it and is IMPORTING it: fix by hand", slot,
			      ref_id(c, owner));
	if (count_keys(c, imp_node, slot, &keys) < 0)
		return -1;
	/* Keys already on the importing node: finish the move rather than strand them. */
	fix->kind = keys == 0 ? FIX_ROLLBACK : FIX_FINISH;
	fix->src = owner;
	fix->dst = imp_node;
	return 0;
}

int plan_fix_open_slots(const struct topology *ref, const struct topology *const *views, size_t nviews,
			keys_in_slot_fn *keys_in_slot, void *arg, struct slot_fix **out, size_t *nout, char *err,
			size_t errlen)
{
	struct node_index ni = {0};
	struct fix_ctx c = {0};
	struct open_entry *ent = NULL;
	struct slot_fix *fixes = NULL;
	size_t nent = 0, capent = 0, nfix = 0, vi, j, ei;
	int s, rc = -1;

	if (out)
		*out = NULL;
	if (nout)
		*nout = 0;
	if (!ref || !out || !nout || (nviews && !views))
		return seterr(err, errlen, "plan_fix_open_slots: missing argument");
	c.ref = ref;
	c.views = views;
	c.nviews = nviews;
	c.keys_in_slot = keys_in_slot;
	c.arg = arg;
	c.err = err;
	c.errlen = errlen;
	if (node_index_build(&ni, ref, err, errlen) < 0)
		goto fail;
	c.vmap = calloc(nviews ? nviews : 1, sizeof(*c.vmap));
	c.view_of = malloc((ref->nnodes ? ref->nnodes : 1) * sizeof(*c.view_of));
	c.nclaim = calloc(CLUSTER_SLOTS, sizeof(*c.nclaim));
	c.claimer = calloc(CLUSTER_SLOTS, sizeof(*c.claimer));
	fixes = calloc(CLUSTER_SLOTS, sizeof(*fixes));
	if (!c.vmap || !c.view_of || !c.nclaim || !c.claimer || !fixes) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	for (j = 0; j < ref->nnodes; j++)
		c.view_of[j] = -1;

	for (vi = 0; vi < nviews; vi++) {
		const struct topology *v = views[vi];
		const struct cluster_node *me;
		int r;

		if (!v || v->myself < 0 || (size_t)v->myself >= v->nnodes) {
			seterr(err, errlen, "view %zu: no myself node", vi);
			goto fail;
		}
		me = &v->nodes[v->myself];
		/* A node the reference does not list (one just forgotten that still
		 * answers, empty) is not part of the cluster: its view says nothing
		 * about the cluster's slots. */
		if ((r = node_index_find(&ni, me->id)) < 0)
			continue;
		if (c.view_of[r] >= 0) {
			seterr(err, errlen, "two views of node %s", me->id);
			goto fail;
		}
		c.view_of[r] = (int)vi;
		c.vmap[vi] = malloc((v->nnodes ? v->nnodes : 1) * sizeof(**c.vmap));
		if (!c.vmap[vi]) {
			seterr(err, errlen, "out of memory");
			goto fail;
		}
		for (j = 0; j < v->nnodes; j++)
			c.vmap[vi][j] = node_index_find(&ni, v->nodes[j].id);
		for (s = 0; s < CLUSTER_SLOTS; s++) {
			if (v->slot_owner[s] != v->myself)
				continue;
			if (c.nclaim[s] < 2)
				c.claimer[s][c.nclaim[s]] = r;
			c.nclaim[s]++;
		}
		for (j = 0; j < me->nopen; j++) {
			const struct open_slot *os = &me->open[j];
			int peer;

			if (os->slot < 0 || os->slot >= CLUSTER_SLOTS) {
				seterr(err, errlen, "view of node %s: open slot %d out of range", me->id, os->slot);
				goto fail;
			}
			if ((peer = node_index_find(&ni, os->peer_id)) < 0) {
				seterr(err, errlen, "slot %d: node %s is %s node %s which is not in the topology",
				       os->slot, me->id, os->importing ? "IMPORTING from" : "MIGRATING to",
				       os->peer_id);
				goto fail;
			}
			if (nent == capent) {
				size_t ncap = capent ? 2 * capent : 16;
				struct open_entry *n = realloc(ent, ncap * sizeof(*ent));

				if (!n) {
					seterr(err, errlen, "out of memory");
					goto fail;
				}
				ent = n;
				capent = ncap;
			}
			ent[nent].slot = os->slot;
			ent[nent].node = r;
			ent[nent].peer = peer;
			ent[nent].importing = os->importing ? 1 : 0;
			nent++;
		}
	}
	if (nent)
		qsort(ent, nent, sizeof(*ent), cmp_open_entry);
	/* Identical entries (same state listed twice) count once. */
	for (ei = j = 0; ei < nent; ei++)
		if (j == 0 || cmp_open_entry(&ent[j - 1], &ent[ei]) != 0)
			ent[j++] = ent[ei];
	nent = j;

	for (s = 0, ei = 0; s < CLUSTER_SLOTS; s++) {
		size_t e0 = ei;
		int have;

		while (ei < nent && ent[ei].slot == s)
			ei++;
		if (decide_slot(&c, s, nent ? ent + e0 : NULL, ei - e0, &fixes[nfix], &have) < 0)
			goto fail;
		nfix += (size_t)have;
	}
	if (nfix == 0) {
		free(fixes);
		fixes = NULL;
	}
	*out = fixes;
	*nout = nfix;
	fixes = NULL;
	rc = 0;
fail:
	node_index_free(&ni);
	if (c.vmap)
		for (vi = 0; vi < nviews; vi++)
			free(c.vmap[vi]);
	free(c.vmap);
	free(c.view_of);
	free(c.nclaim);
	free(c.claimer);
	free(ent);
	free(fixes);
	return rc;
}
