/* The planner: hand-built cases, then property tests over random topologies
 * (fixed-seed PRNG; the failing case's seed is printed and can be replayed
 * with PLANNER_SEED=<seed>), then plan_fix_open_slots on hand-built views.
 * Topologies are built by hand (no parser). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "planner.h"
#include "testlib.h"

/* ------------------------------------------------------------------------ */
/* Building topologies                                                        */

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	return p;
}

static struct topology *topo_new(size_t nnodes)
{
	struct topology *t = xcalloc(1, sizeof(*t));
	int s;

	t->nodes = xcalloc(nnodes, sizeof(*t->nodes));
	t->nnodes = nnodes;
	t->myself = -1;
	for (s = 0; s < CLUSTER_SLOTS; s++)
		t->slot_owner[s] = -1;
	return t;
}

static void topo_free_test(struct topology *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nnodes; i++) {
		free(t->nodes[i].ranges);
		free(t->nodes[i].open);
	}
	free(t->nodes);
	free(t);
}

/* 40 hex digits from a number (hand cases) */
static void mkid(char *out, unsigned long long v)
{
	snprintf(out, NODE_ID_LEN + 1, "%040llx", v);
}

static void node_set(struct topology *t, int i, unsigned long long idnum, unsigned flags)
{
	struct cluster_node *n = &t->nodes[i];

	mkid(n->id, idnum);
	n->flags = flags;
	snprintf(n->ip, sizeof(n->ip), "10.0.0.%d", i + 1);
	n->port = 6379;
	n->bus_port = 16379;
	n->link_connected = 1;
}

static void own(struct topology *t, int start, int end, int idx)
{
	int s;

	for (s = start; s <= end; s++)
		t->slot_owner[s] = (int16_t)idx;
}

/* Rebuild every node's ranges and nslots from slot_owner. */
static void topo_sync_ranges(struct topology *t)
{
	size_t i;
	int s;

	for (i = 0; i < t->nnodes; i++) {
		free(t->nodes[i].ranges);
		t->nodes[i].ranges = NULL;
		t->nodes[i].nranges = 0;
		t->nodes[i].nslots = 0;
	}
	for (s = 0; s < CLUSTER_SLOTS; s++) /* count runs */
		if (t->slot_owner[s] >= 0 && (s == 0 || t->slot_owner[s - 1] != t->slot_owner[s]))
			t->nodes[t->slot_owner[s]].nranges++;
	for (i = 0; i < t->nnodes; i++) {
		if (t->nodes[i].nranges)
			t->nodes[i].ranges = xcalloc(t->nodes[i].nranges, sizeof(*t->nodes[i].ranges));
		t->nodes[i].nranges = 0;
	}
	for (s = 0; s < CLUSTER_SLOTS; s++) {
		struct cluster_node *n;
		int o = t->slot_owner[s];

		if (o < 0)
			continue;
		n = &t->nodes[o];
		n->nslots++;
		if (s > 0 && t->slot_owner[s - 1] == o) {
			n->ranges[n->nranges - 1].end = s;
			continue;
		}
		n->ranges[n->nranges].start = n->ranges[n->nranges].end = s;
		n->nranges++;
	}
}

/* Deep copy with node j of the copy being node perm[j] of t (perm NULL: same order). */
static struct topology *topo_copy(const struct topology *t, const size_t *perm)
{
	struct topology *c = topo_new(t->nnodes);
	size_t *inv = xcalloc(t->nnodes, sizeof(*inv));
	size_t j;
	int s;

	for (j = 0; j < t->nnodes; j++) {
		size_t from = perm ? perm[j] : j;
		struct cluster_node *n = &c->nodes[j];

		*n = t->nodes[from];
		inv[from] = j;
		n->ranges = NULL;
		n->nranges = 0;
		n->open = NULL;
		if (t->nodes[from].nopen) {
			n->open = xcalloc(t->nodes[from].nopen, sizeof(*n->open));
			memcpy(n->open, t->nodes[from].open, t->nodes[from].nopen * sizeof(*n->open));
		}
	}
	for (s = 0; s < CLUSTER_SLOTS; s++)
		c->slot_owner[s] = t->slot_owner[s] < 0 ? -1 : (int16_t)inv[t->slot_owner[s]];
	c->myself = t->myself < 0 ? -1 : (int)inv[t->myself];
	free(inv);
	topo_sync_ranges(c);
	return c;
}

static int find_id(const struct topology *t, const char *id)
{
	size_t i;

	for (i = 0; i < t->nnodes; i++)
		if (strcmp(t->nodes[i].id, id) == 0)
			return (int)i;
	return -1;
}

static int count_owned(const struct topology *t, int idx)
{
	int s, n = 0;

	for (s = 0; s < CLUSTER_SLOTS; s++)
		n += t->slot_owner[s] == idx;
	return n;
}

/* Apply the moves to t, checking each src owns its slot and no slot moves
 * twice. 0 ok, -1 with why. */
static int apply_plan(struct topology *t, const struct plan *p, char *why, size_t len)
{
	unsigned char moved[CLUSTER_SLOTS] = {0};
	size_t i;

	for (i = 0; i < p->nmoves; i++) {
		const struct slot_move *m = &p->moves[i];

		if (m->slot < 0 || m->slot >= CLUSTER_SLOTS || m->src < 0 || (size_t)m->src >= t->nnodes ||
		    m->dst < 0 || (size_t)m->dst >= t->nnodes || m->src == m->dst) {
			snprintf(why, len, "move %zu malformed (slot %d %d->%d)", i, m->slot, m->src, m->dst);
			return -1;
		}
		if (moved[m->slot]++) {
			snprintf(why, len, "slot %d moved twice", m->slot);
			return -1;
		}
		if (t->slot_owner[m->slot] != m->src) {
			snprintf(why, len, "move %zu: slot %d owned by %d, not src %d", i, m->slot,
				 t->slot_owner[m->slot], m->src);
			return -1;
		}
		t->slot_owner[m->slot] = (int16_t)m->dst;
	}
	topo_sync_ranges(t);
	return 0;
}

/* Moves grouped by (src,dst) pair (each pair one contiguous group), slots
 * ascending in a group, moves off draining nodes (drain[src]) before all
 * others. Returns the number of groups, or -1 with why. */
static int check_shape(const struct plan *p, size_t nnodes, const unsigned char *drain, char *why, size_t len)
{
	unsigned char *seen = xcalloc(nnodes * nnodes, 1);
	size_t i;
	int groups = 0, rc = -1, seen_filler = 0;

	for (i = 0; i < p->nmoves; i++) {
		const struct slot_move *m = &p->moves[i];
		int newgroup = i == 0 || m->src != p->moves[i - 1].src || m->dst != p->moves[i - 1].dst;

		if (newgroup) {
			if (seen[(size_t)m->src * nnodes + (size_t)m->dst]) {
				snprintf(why, len, "pair %d->%d appears in two groups (move %zu)", m->src, m->dst, i);
				goto out;
			}
			seen[(size_t)m->src * nnodes + (size_t)m->dst] = 1;
			groups++;
		} else if (m->slot <= p->moves[i - 1].slot) {
			snprintf(why, len, "slots not ascending in group %d->%d at move %zu", m->src, m->dst, i);
			goto out;
		}
		if (drain && drain[m->src] && seen_filler) {
			snprintf(why, len, "move %zu off draining node %d after a move off a non-draining node", i,
				 m->src);
			goto out;
		}
		if (drain && !drain[m->src])
			seen_filler = 1;
	}
	rc = groups;
out:
	free(seen);
	return rc;
}

/* Number of contiguous slot ranges in moves[from, to). */
static int group_ranges(const struct plan *p, size_t from, size_t to)
{
	int r = 0;
	size_t i;

	for (i = from; i < to; i++)
		if (i == from || p->moves[i].slot != p->moves[i - 1].slot + 1)
			r++;
	return r;
}

/* Is every (src,dst) group a single contiguous range? */
static int groups_contiguous(const struct plan *p)
{
	size_t i, start = 0;

	for (i = 1; i <= p->nmoves; i++) {
		if (i == p->nmoves || p->moves[i].src != p->moves[start].src ||
		    p->moves[i].dst != p->moves[start].dst) {
			if (group_ranges(p, start, i) != 1)
				return 0;
			start = i;
		}
	}
	return 1;
}

/* Same (slot, src id, dst id) sequence, whatever the node indices? */
static int plans_same(const struct topology *ta, const struct plan *a, const struct topology *tb, const struct plan *b)
{
	size_t i;

	if (a->nmoves != b->nmoves)
		return 0;
	for (i = 0; i < a->nmoves; i++)
		if (a->moves[i].slot != b->moves[i].slot ||
		    strcmp(ta->nodes[a->moves[i].src].id, tb->nodes[b->moves[i].src].id) != 0 ||
		    strcmp(ta->nodes[a->moves[i].dst].id, tb->nodes[b->moves[i].dst].id) != 0)
			return 0;
	return 1;
}

static int err_has(const char *err, const char *needle)
{
	return strstr(err, needle) != NULL;
}

/* ------------------------------------------------------------------------ */
/* Hand cases                                                                 */

#define M NODE_MASTER
#define R NODE_REPLICA

/* Three masters with equal thirds (0-5460, 5461-10922, 10923-16383) at
 * indices 0..2, three empty masters 3..5, one replica of each of 0..2 at 6..8. */
static struct topology *six_masters_three_empty(void)
{
	struct topology *t = topo_new(9);
	int i;

	/* ids deliberately not in index order; old and new interleave so two of
	 * the four leftover slots (16384 = 6 * 2730 + 4) go to new masters */
	node_set(t, 0, 0x30, M);
	node_set(t, 1, 0x10, M);
	node_set(t, 2, 0x50, M);
	node_set(t, 3, 0x60, M);
	node_set(t, 4, 0x40, M);
	node_set(t, 5, 0x20, M);
	for (i = 0; i < 3; i++) {
		node_set(t, 6 + i, 0x70 + (unsigned)i, R);
		memcpy(t->nodes[6 + i].master_id, t->nodes[i].id, sizeof(t->nodes[i].id));
	}
	own(t, 0, 5460, 0);
	own(t, 5461, 10922, 1);
	own(t, 10923, 16383, 2);
	topo_sync_ranges(t);
	return t;
}

static void test_scale_out_3_to_6(void)
{
	struct topology *t = six_masters_three_empty();
	struct plan_opts o = {.use_empty_masters = 1};
	struct plan *p = NULL, *p2 = NULL;
	char err[256] = "", why[256] = "";
	int i, mn = CLUSTER_SLOTS, mx = 0;

	CHECK_MSG(plan_rebalance(t, &o, &p, err, sizeof(err)) == 0, "%s", err);
	if (!p)
		goto out;
	CHECK_MSG(p->nmoves == 8191, "%zu moves", p->nmoves);
	CHECK(p->nmasters == 6);
	for (i = 3; i < 6; i++)
		CHECK_MSG(p->target_slots[i] == 2730 || p->target_slots[i] == 2731, "new master %d target %d", i,
			  p->target_slots[i]);
	for (i = 6; i < 9; i++)
		CHECK(p->target_slots[i] == -1);
	CHECK_MSG(check_shape(p, t->nnodes, NULL, why, sizeof(why)) >= 0, "%s", why);
	CHECK_MSG(groups_contiguous(p), "a (src,dst) group is not one contiguous range");
	/* sources only the old masters, targets only the new ones */
	for (i = 0; i < (int)p->nmoves; i++) {
		CHECK(p->moves[i].src < 3 && p->moves[i].dst >= 3 && p->moves[i].dst < 6);
		if (!(p->moves[i].src < 3 && p->moves[i].dst >= 3 && p->moves[i].dst < 6))
			break;
	}
	CHECK_MSG(apply_plan(t, p, why, sizeof(why)) == 0, "%s", why);
	for (i = 0; i < 6; i++) {
		int c = count_owned(t, i);

		CHECK(c == p->target_slots[i]);
		mn = c < mn ? c : mn;
		mx = c > mx ? c : mx;
	}
	CHECK_MSG(mx - mn <= 1, "final counts %d..%d", mn, mx);
	/* the four 2731s: the three old masters (each holds more than 2730
	 * already, so the extra slot stays), then the smallest new id (0x20) */
	CHECK(p->target_slots[0] == 2731 && p->target_slots[1] == 2731 && p->target_slots[2] == 2731 &&
	      p->target_slots[5] == 2731 && p->target_slots[3] == 2730 && p->target_slots[4] == 2730);

	/* idempotence */
	CHECK_MSG(plan_rebalance(t, &o, &p2, err, sizeof(err)) == 0, "%s", err);
	CHECK(p2 && p2->nmoves == 0);
out:
	plan_free(p);
	plan_free(p2);
	topo_free_test(t);
}

static void test_empty_masters_ignored_by_default(void)
{
	struct topology *t = six_masters_three_empty();
	struct plan_opts o = {0};
	struct plan *p = NULL;
	char err[256] = "";

	CHECK_MSG(plan_rebalance(t, &o, &p, err, sizeof(err)) == 0, "%s", err);
	CHECK(p && p->nmoves == 0 && p->nmasters == 3);
	CHECK(p && p->target_slots[3] == -1);
	plan_free(p);
	/* NULL options mean the defaults */
	p = NULL;
	CHECK_MSG(plan_rebalance(t, NULL, &p, err, sizeof(err)) == 0, "%s", err);
	CHECK(p && p->nmoves == 0 && p->nmasters == 3);
	plan_free(p);
	topo_free_test(t);
}

/* Six masters each with a contiguous sixth; drain indices 1, 3, 5. */
static void test_drain_6_to_3(void)
{
	struct topology *t = topo_new(6);
	char ids[3][NODE_ID_LEN + 1];
	const char *drain[3];
	struct plan_opts o = {0};
	struct plan *p = NULL, *p2 = NULL;
	unsigned char isdrain[6] = {0, 1, 0, 1, 0, 1};
	char err[256] = "", why[256] = "";
	int i, start = 0;

	for (i = 0; i < 6; i++) {
		int n = CLUSTER_SLOTS / 6 + (i < CLUSTER_SLOTS % 6);

		node_set(t, i, 0x100 + (unsigned)(5 - i), M);
		own(t, start, start + n - 1, i);
		start += n;
	}
	topo_sync_ranges(t);
	for (i = 0; i < 3; i++) {
		memcpy(ids[i], t->nodes[2 * i + 1].id, sizeof(ids[i]));
		drain[i] = ids[i];
	}
	o.drain_ids = drain;
	o.ndrain = 3;
	CHECK_MSG(plan_rebalance(t, &o, &p, err, sizeof(err)) == 0, "%s", err);
	if (!p)
		goto out;
	CHECK(p->nmoves == (size_t)(t->nodes[1].nslots + t->nodes[3].nslots + t->nodes[5].nslots));
	for (i = 0; i < 6; i++)
		CHECK(isdrain[i] ? p->target_slots[i] == 0 : p->target_slots[i] >= 5461 && p->target_slots[i] <= 5462);
	CHECK_MSG(check_shape(p, t->nnodes, isdrain, why, sizeof(why)) >= 0, "%s", why);
	CHECK_MSG(apply_plan(t, p, why, sizeof(why)) == 0, "%s", why);
	for (i = 0; i < 6; i++)
		CHECK(count_owned(t, i) == p->target_slots[i]);
	/* rerunning the same drain: drained masters are empty now, still fine */
	CHECK_MSG(plan_rebalance(t, &o, &p2, err, sizeof(err)) == 0, "%s", err);
	CHECK(p2 && p2->nmoves == 0);
out:
	plan_free(p);
	plan_free(p2);
	topo_free_test(t);
}

/* Drains come first even when another source also gives: A 9000, B 4000,
 * C 3384 drained, D empty (use_empty_masters). */
static void test_drains_before_fills(void)
{
	struct topology *t = topo_new(4);
	const char *drain[1];
	struct plan_opts o = {.use_empty_masters = 1};
	struct plan *p = NULL;
	unsigned char isdrain[4] = {0, 0, 1, 0};
	char err[256] = "", why[256] = "";
	size_t i, first_filler = 0, last_drain = 0;

	node_set(t, 0, 0x1, M);
	node_set(t, 1, 0x2, M);
	node_set(t, 2, 0x3, M);
	node_set(t, 3, 0x4, M);
	own(t, 0, 8999, 0);
	own(t, 9000, 12999, 1);
	own(t, 13000, 16383, 2);
	topo_sync_ranges(t);
	drain[0] = t->nodes[2].id;
	o.drain_ids = drain;
	o.ndrain = 1;
	CHECK_MSG(plan_rebalance(t, &o, &p, err, sizeof(err)) == 0, "%s", err);
	if (!p)
		goto out;
	/* 16384/3 = 5461.33: A, B, D get 5462, 5461, 5461 */
	CHECK(p->target_slots[0] == 5462 && p->target_slots[1] == 5461 && p->target_slots[2] == 0 &&
	      p->target_slots[3] == 5461);
	CHECK(p->nmoves == (size_t)(9000 - 5462 + 3384));
	CHECK_MSG(check_shape(p, t->nnodes, isdrain, why, sizeof(why)) >= 0, "%s", why);
	for (i = 0; i < p->nmoves; i++) {
		if (p->moves[i].src == 2)
			last_drain = i;
		else if (!first_filler)
			first_filler = i;
	}
	CHECK(p->moves[0].src == 2 && last_drain == 3383 && first_filler == 3384);
	CHECK_MSG(apply_plan(t, p, why, sizeof(why)) == 0, "%s", why);
	CHECK(count_owned(t, 2) == 0);
out:
	plan_free(p);
	topo_free_test(t);
}

static void test_weights_2_1_1(void)
{
	struct topology *t = topo_new(3);
	struct plan_weight w[3];
	struct plan_opts o = {0};
	struct plan *p = NULL, *p2 = NULL;
	char err[256] = "", why[256] = "";

	node_set(t, 0, 0xc, M);
	node_set(t, 1, 0xb, M);
	node_set(t, 2, 0xa, M);
	own(t, 0, 5460, 0);
	own(t, 5461, 10922, 1);
	own(t, 10923, 16383, 2);
	topo_sync_ranges(t);
	memcpy(w[0].node_id, t->nodes[1].id, sizeof(w[0].node_id));
	w[0].weight = 2;
	memcpy(w[1].node_id, t->nodes[0].id, sizeof(w[1].node_id));
	w[1].weight = 1;
	memcpy(w[2].node_id, t->nodes[2].id, sizeof(w[2].node_id));
	w[2].weight = 1;
	o.weights = w;
	o.nweights = 3;
	CHECK_MSG(plan_rebalance(t, &o, &p, err, sizeof(err)) == 0, "%s", err);
	if (!p)
		goto out;
	CHECK(p->target_slots[1] == 8192 && p->target_slots[0] == 4096 && p->target_slots[2] == 4096);
	CHECK(p->nmoves == (5461 - 4096) + (5461 - 4096));
	CHECK_MSG(check_shape(p, t->nnodes, NULL, why, sizeof(why)) >= 0, "%s", why);
	CHECK_MSG(apply_plan(t, p, why, sizeof(why)) == 0, "%s", why);
	CHECK(count_owned(t, 1) == 8192 && count_owned(t, 0) == 4096 && count_owned(t, 2) == 4096);
	CHECK_MSG(plan_rebalance(t, &o, &p2, err, sizeof(err)) == 0, "%s", err);
	CHECK(p2 && p2->nmoves == 0);
	plan_free(p2);
	p2 = NULL;
	/* fractional weights in the same ratio give the same targets */
	w[0].weight = 0.5;
	w[1].weight = 0.25;
	w[2].weight = 0.25;
	CHECK_MSG(plan_rebalance(t, &o, &p2, err, sizeof(err)) == 0, "%s", err);
	CHECK(p2 && p2->nmoves == 0);
out:
	plan_free(p);
	plan_free(p2);
	topo_free_test(t);
}

/* Equal exact remainders with different weights tie and go by id:
 * W = 10, weights 1 and 6 (and 3): 16384 * 1 / 10 = 1638.4, * 6 / 10 = 9830.4,
 * * 3 / 10 = 4915.2; one leftover slot goes to the smaller id of the two .4s. */
static void test_remainder_ties_by_id(void)
{
	unsigned long long idnums[2][3] = {{0x1, 0x2, 0x3}, {0x2, 0x1, 0x3}};
	int k;

	for (k = 0; k < 2; k++) {
		struct topology *t = topo_new(3);
		struct plan_weight w[3];
		struct plan_opts o = {.use_empty_masters = 1};
		struct plan *p = NULL;
		char err[256] = "";
		double wt[3] = {1, 6, 3};
		int i;

		for (i = 0; i < 3; i++) {
			node_set(t, i, idnums[k][i], M);
			memcpy(w[i].node_id, t->nodes[i].id, sizeof(w[i].node_id));
			w[i].weight = wt[i];
		}
		own(t, 0, 16383, 2);
		topo_sync_ranges(t);
		o.weights = w;
		o.nweights = 3;
		CHECK_MSG(plan_rebalance(t, &o, &p, err, sizeof(err)) == 0, "%s", err);
		if (p && k == 0)
			CHECK(p->target_slots[0] == 1639 && p->target_slots[1] == 9830 && p->target_slots[2] == 4915);
		if (p && k == 1)
			CHECK(p->target_slots[0] == 1638 && p->target_slots[1] == 9831 && p->target_slots[2] == 4915);
		plan_free(p);
		topo_free_test(t);
	}
}

/* A source owning a big run and a lone top slot gives from the big run (one
 * range), not the lone slot plus the big run's top (two ranges). */
static void test_fewest_ranges(void)
{
	struct topology *t = topo_new(2);
	struct plan_opts o = {0};
	struct plan *p = NULL;
	char err[256] = "";

	node_set(t, 0, 0xa, M);
	node_set(t, 1, 0xb, M);
	own(t, 0, 8299, 1);
	own(t, 16383, 16383, 1);
	own(t, 8300, 16382, 0);
	topo_sync_ranges(t);
	CHECK_MSG(plan_rebalance(t, &o, &p, err, sizeof(err)) == 0, "%s", err);
	if (p) {
		CHECK(p->nmoves == 109);
		CHECK(groups_contiguous(p));
		CHECK(p->nmoves && p->moves[0].slot == 8191 && p->moves[p->nmoves - 1].slot == 8299);
	}
	plan_free(p);
	topo_free_test(t);
}

static void expect_error(const struct topology *t, const struct plan_opts *o, const char *needle, const char *what)
{
	struct plan *p = (struct plan *)1;
	char err[256] = "";
	int rc = plan_rebalance(t, o, &p, err, sizeof(err));

	CHECK_MSG(rc == -1 && p == NULL, "%s: expected an error, got rc %d", what, rc);
	CHECK_MSG(err_has(err, needle), "%s: error \"%s\" does not contain \"%s\"", what, err, needle);
	if (rc == 0)
		plan_free(p);
}

static void test_errors(void)
{
	struct topology *t = six_masters_three_empty();
	char unknown[NODE_ID_LEN + 1], replica[NODE_ID_LEN + 1], m0[NODE_ID_LEN + 1], e3[NODE_ID_LEN + 1];
	const char *ids[2];
	struct plan_weight w[2], zw[3];
	struct plan_opts o = {0};
	struct plan *p = NULL;
	char err[256] = "";
	int i;

	mkid(unknown, 0xdead);
	memcpy(replica, t->nodes[6].id, sizeof(replica));
	memcpy(m0, t->nodes[0].id, sizeof(m0));
	memcpy(e3, t->nodes[3].id, sizeof(e3));

	memset(w, 0, sizeof(w));
	memcpy(w[0].node_id, unknown, sizeof(unknown));
	w[0].weight = 1;
	o.weights = w;
	o.nweights = 1;
	expect_error(t, &o, unknown, "unknown weight id");
	memcpy(w[0].node_id, m0, sizeof(m0));
	w[0].weight = -1;
	expect_error(t, &o, m0, "negative weight");
	w[0].weight = NAN;
	expect_error(t, &o, m0, "NaN weight");
	w[0].weight = 1;
	memcpy(w[1].node_id, m0, sizeof(m0));
	w[1].weight = 2;
	o.nweights = 2;
	expect_error(t, &o, m0, "weight given twice");
	memcpy(w[0].node_id, replica, sizeof(replica));
	o.nweights = 1;
	expect_error(t, &o, replica, "weight on a replica");
	/* all weights 0 while slots exist */
	for (i = 0; i < 3; i++) {
		memcpy(zw[i].node_id, t->nodes[i].id, sizeof(zw[i].node_id));
		zw[i].weight = 0;
	}
	o.weights = zw;
	o.nweights = 3;
	expect_error(t, &o, "all weights are 0", "all weights 0");
	o.weights = NULL;
	o.nweights = 0;

	ids[0] = unknown;
	o.drain_ids = ids;
	o.ndrain = 1;
	expect_error(t, &o, unknown, "unknown drain id");
	ids[0] = replica;
	expect_error(t, &o, replica, "drain a replica");
	ids[0] = m0;
	o.exclude_ids = ids;
	o.nexclude = 1;
	expect_error(t, &o, m0, "drain an excluded master");
	o.drain_ids = NULL;
	o.ndrain = 0;
	ids[0] = unknown;
	expect_error(t, &o, unknown, "unknown exclude id");
	o.exclude_ids = NULL;
	o.nexclude = 0;

	/* failing masters taking part */
	t->nodes[1].flags |= NODE_FAIL;
	expect_error(t, &o, t->nodes[1].id, "failed master");
	t->nodes[1].flags = NODE_MASTER | NODE_PFAIL;
	expect_error(t, &o, t->nodes[1].id, "pfail master");
	/* ... but excluded is fine, and its slots stay put */
	ids[0] = t->nodes[1].id;
	o.exclude_ids = ids;
	o.nexclude = 1;
	o.use_empty_masters = 1;
	CHECK_MSG(plan_rebalance(t, &o, &p, err, sizeof(err)) == 0, "%s", err);
	if (p) {
		CHECK(p->target_slots[1] == -1 && p->nmasters == 5);
		for (i = 0; i < (int)p->nmoves; i++)
			if (p->moves[i].src == 1 || p->moves[i].dst == 1)
				break;
		CHECK(i == (int)p->nmoves);
		/* 10922 over 5 masters: the two that hold slots keep the extra
		 * ones (2185), the new ones get 2184 */
		CHECK(p->target_slots[0] == 2185 && p->target_slots[2] == 2185 && p->target_slots[5] == 2184);
		CHECK(p->nmoves == 2 * (5461 - 2185));
	}
	plan_free(p);
	p = NULL;
	o.exclude_ids = NULL;
	o.nexclude = 0;
	t->nodes[1].flags = NODE_MASTER;
	/* a failing empty master only matters when empties take part */
	t->nodes[3].flags |= NODE_FAIL;
	expect_error(t, &o, e3, "failed empty master");
	o.use_empty_masters = 0;
	CHECK_MSG(plan_rebalance(t, &o, &p, err, sizeof(err)) == 0, "%s", err);
	plan_free(p);
	p = NULL;
	t->nodes[3].flags = NODE_MASTER;

	/* uncovered slot */
	t->slot_owner[12345] = -1;
	expect_error(t, &o, "slots not covered: fix coverage first", "uncovered slot");
	t->slot_owner[12345] = 2;
	/* slot owned by a replica */
	t->slot_owner[0] = 6;
	expect_error(t, &o, replica, "slot owned by a replica");
	t->slot_owner[0] = 0;
	/* duplicate node id */
	memcpy(t->nodes[5].id, t->nodes[4].id, sizeof(t->nodes[5].id));
	expect_error(t, &o, t->nodes[4].id, "duplicate id");
	topo_free_test(t);
}

static void test_determinism_shuffle(void)
{
	struct topology *t = six_masters_three_empty();
	size_t perm[9] = {8, 3, 6, 1, 0, 7, 5, 2, 4};
	struct topology *u = topo_copy(t, perm);
	struct plan_opts o = {.use_empty_masters = 1};
	struct plan *p = NULL, *q = NULL;
	char err[256] = "";

	CHECK_MSG(plan_rebalance(t, &o, &p, err, sizeof(err)) == 0, "%s", err);
	CHECK_MSG(plan_rebalance(u, &o, &q, err, sizeof(err)) == 0, "%s", err);
	CHECK(p && q && p->nmoves == 8191 && plans_same(t, p, u, q));
	plan_free(p);
	plan_free(q);
	topo_free_test(t);
	topo_free_test(u);
}

/* ------------------------------------------------------------------------ */
/* Property tests                                                             */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int rng_int(int n) /* 0..n-1 */
{
	return (int)(rng_next() % (uint64_t)n);
}

struct gen_case {
	struct topology *t;
	struct plan_opts o;
	struct plan_weight weights[32];
	const char *drain[32];
	const char *exclude[32];
	long long w[64];           /* expected weight per node (0 drain) */
	unsigned char part[64];    /* expected to take part */
	unsigned char drained[64]; /* weight 0 taking part */
};

/* A random cluster: 1..20 masters, a few replicas, fragmented ownership,
 * empties, integer weights 0..4, drains, excludes (some failing). Node 0 of
 * the generation always owns slots with weight >= 1, so no error is due. */
static void gen_random(struct gen_case *g)
{
	int nm = 1 + rng_int(20), nrep = rng_int(4), n = nm + nrep, i, s, maxrun;
	size_t *perm;
	struct topology *t0 = topo_new((size_t)n);
	int owners[32], nowners = 0;

	memset(&g->o, 0, sizeof(g->o));
	for (i = 0; i < n; i++) {
		struct cluster_node *nd = &t0->nodes[i];

		snprintf(nd->id, sizeof(nd->id), "%016llx%016llx%08x", (unsigned long long)rng_next(),
			 (unsigned long long)rng_next(), (unsigned)(rng_next() & 0xffffffffu));
		nd->flags = i < nm ? NODE_MASTER : NODE_REPLICA;
		if (i >= nm) {
			memcpy(nd->master_id, t0->nodes[rng_int(nm)].id, sizeof(nd->master_id));
			if (rng_int(4) == 0)
				nd->flags |= NODE_FAIL;
		}
	}
	for (i = 0; i < nm; i++)
		if (i == 0 || rng_int(10) < 7)
			owners[nowners++] = i;
	maxrun = (int[]){1, 3, 20, 500, 4000, 16384}[rng_int(6)];
	for (s = 0; s < CLUSTER_SLOTS;) {
		int len = 1 + rng_int(maxrun), o = s == 0 ? 0 : owners[rng_int(nowners)], e;

		e = s + len - 1 < CLUSTER_SLOTS - 1 ? s + len - 1 : CLUSTER_SLOTS - 1;
		own(t0, s, e, o);
		s = e + 1;
	}
	g->o.use_empty_masters = rng_int(2);
	g->o.weights = g->weights;
	g->o.drain_ids = g->drain;
	g->o.exclude_ids = g->exclude;
	for (i = 0; i < nm; i++) {
		int r = rng_int(20);
		long long w = 1;

		if (i > 0 && r < 3) {
			g->drain[g->o.ndrain++] = t0->nodes[i].id;
			w = 0;
		} else if (i > 0 && r < 5) {
			g->exclude[g->o.nexclude++] = t0->nodes[i].id;
			if (rng_int(2))
				t0->nodes[i].flags |= rng_int(2) ? NODE_FAIL : NODE_PFAIL;
			w = -1;
		}
		if (w >= 0 && rng_int(2)) {
			struct plan_weight *pw = &g->weights[g->o.nweights++];
			long long given = i == 0 ? 1 + rng_int(4) : rng_int(5);

			memcpy(pw->node_id, t0->nodes[i].id, sizeof(pw->node_id));
			pw->weight = (double)given;
			if (w > 0)
				w = given;
		}
		g->w[i] = w < 0 ? 0 : w;
	}
	/* shuffle positions so generation order says nothing */
	perm = xcalloc((size_t)n, sizeof(*perm));
	for (i = 0; i < n; i++)
		perm[i] = (size_t)i;
	for (i = n - 1; i > 0; i--) {
		int j = rng_int(i + 1);
		size_t tmp = perm[i];

		perm[i] = perm[j];
		perm[j] = tmp;
	}
	g->t = topo_copy(t0, perm);
	/* expectations per final index */
	{
		long long w2[64];

		for (i = 0; i < n; i++) {
			int from = (int)perm[i], j, dr = 0, ex = 0;
			struct cluster_node *nd = &g->t->nodes[i];

			for (j = 0; j < (int)g->o.ndrain; j++)
				dr |= strcmp(g->drain[j], t0->nodes[from].id) == 0;
			for (j = 0; j < (int)g->o.nexclude; j++)
				ex |= strcmp(g->exclude[j], t0->nodes[from].id) == 0;
			w2[i] = from < nm ? g->w[from] : 0;
			g->part[i] = (nd->flags & NODE_MASTER) && !ex &&
				     (nd->nslots > 0 || g->o.use_empty_masters || dr);
			g->drained[i] = g->part[i] && w2[i] == 0;
		}
		memcpy(g->w, w2, sizeof(w2));
	}
	/* the id pointers must point into the final topology's storage or stay valid: t0 dies */
	for (i = 0; i < (int)g->o.ndrain; i++)
		g->drain[i] = g->t->nodes[find_id(g->t, g->drain[i])].id;
	for (i = 0; i < (int)g->o.nexclude; i++)
		g->exclude[i] = g->t->nodes[find_id(g->t, g->exclude[i])].id;
	free(perm);
	topo_free_test(t0);
}

/* Reference apportionment, exact: floor of total*w/W plus one for the
 * largest remainders, ties by id. */
static void expected_targets(const struct gen_case *g, int total, int *tgt)
{
	size_t n = g->t->nnodes, i, j;
	long long W = 0, left = total;
	unsigned char got[64] = {0};

	for (i = 0; i < n; i++)
		if (g->part[i])
			W += g->w[i];
	for (i = 0; i < n; i++) {
		tgt[i] = -1;
		if (!g->part[i])
			continue;
		tgt[i] = W ? (int)((long long)total * g->w[i] / W) : 0;
		left -= tgt[i];
	}
	while (W && left-- > 0) {
		int best = -1;
		long long br = -1;

		for (j = 0; j < n; j++) {
			long long r;

			if (!g->part[j] || got[j])
				continue;
			r = (long long)total * g->w[j] % W;
			/* ties: a node holding more than its floor first, then the smaller id */
			if (r > br ||
			    (r == br && (g->t->nodes[j].nslots > tgt[j]) != (g->t->nodes[best].nslots > tgt[best])
				     ? g->t->nodes[j].nslots > tgt[j]
				     : r == br && strcmp(g->t->nodes[j].id, g->t->nodes[best].id) < 0)) {
				best = (int)j;
				br = r;
			}
		}
		got[best] = 1;
		tgt[best]++;
	}
}

static int cmp_int_desc(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return x > y ? -1 : x < y;
}

/* Fewest ranges a source can give k slots in: its m longest runs. */
static int min_ranges_for(const struct topology *t, int idx, int k)
{
	const struct cluster_node *nd = &t->nodes[idx];
	int *len = xcalloc(nd->nranges, sizeof(*len));
	size_t i;
	int m = 0;

	for (i = 0; i < nd->nranges; i++)
		len[i] = nd->ranges[i].end - nd->ranges[i].start + 1;
	qsort(len, nd->nranges, sizeof(*len), cmp_int_desc);
	for (i = 0; i < nd->nranges && k > 0; i++, m++)
		k -= len[i];
	free(len);
	return m;
}

/* One random case; returns 0 when every property holds. */
static int property_case(uint64_t seed)
{
	struct gen_case g;
	struct plan *p = NULL, *p2 = NULL, *q = NULL;
	struct topology *before = NULL, *u = NULL;
	char err[256] = "", why[256] = "";
	int tgt[64], total = 0, failed0 = test_failed, i, groups, nsrc = 0, ndst = 0;
	size_t n, sum_surplus = 0, k, start;

	memset(&g, 0, sizeof(g));
	rng_state = seed;
	gen_random(&g);
	n = g.t->nnodes;
	for (i = 0; i < (int)n; i++)
		if (g.part[i])
			total += g.t->nodes[i].nslots;
	expected_targets(&g, total, tgt);
	before = topo_copy(g.t, NULL);

	/* the caller prints the seed of a failing case */
#define P(cond, ...) CHECK_MSG(cond, __VA_ARGS__)
	P(plan_rebalance(g.t, &g.o, &p, err, sizeof(err)) == 0, "plan failed: %s", err);
	if (!p)
		goto out;
	/* targets: exactly the reference largest-remainder apportionment */
	for (i = 0; i < (int)n; i++) {
		P(p->target_slots[i] == tgt[i], "node %d target %d, expected %d", i, p->target_slots[i], tgt[i]);
		if (p->target_slots[i] != tgt[i])
			goto out;
	}
	{
		int np = 0;

		for (i = 0; i < (int)n; i++)
			np += g.part[i];
		P(p->nmasters == np, "nmasters %d, expected %d", p->nmasters, np);
	}
	/* minimal: exactly the sum of surpluses */
	for (i = 0; i < (int)n; i++) {
		if (!g.part[i])
			continue;
		if (g.t->nodes[i].nslots > tgt[i]) {
			sum_surplus += (size_t)(g.t->nodes[i].nslots - tgt[i]);
			nsrc++;
		} else if (g.t->nodes[i].nslots < tgt[i]) {
			ndst++;
		}
	}
	P(p->nmoves == sum_surplus, "%zu moves, sum of surpluses %zu", p->nmoves, sum_surplus);
	/* shape: grouping, ascending, drains first; few pairs */
	groups = check_shape(p, n, g.drained, why, sizeof(why));
	P(groups >= 0, "%s", why);
	P(groups <= (nsrc + ndst > 0 ? nsrc + ndst - 1 : 0), "%d pairs for %d sources, %d targets", groups, nsrc, ndst);
	/* ranges: each source gives in the fewest runs, plus one cut per extra target */
	for (k = 0, start = 0; k <= p->nmoves && p->nmoves; k++) {
		if (k < p->nmoves && p->moves[k].src == p->moves[start].src)
			continue;
		{
			int src = p->moves[start].src, ranges = 0, pairs = 0, best;
			size_t a = start, b;

			for (b = start + 1; b <= k; b++) {
				if (b == k || p->moves[b].dst != p->moves[a].dst) {
					ranges += group_ranges(p, a, b);
					pairs++;
					a = b;
				}
			}
			best = min_ranges_for(g.t, src, (int)(k - start));
			P(ranges <= best + pairs - 1, "source %d gives %zu slots in %d ranges to %d targets (best %d)",
			  src, k - start, ranges, pairs, best);
		}
		start = k;
	}
	/* apply: src owns each slot, no slot twice */
	P(apply_plan(g.t, p, why, sizeof(why)) == 0, "%s", why);
	if (test_failed != failed0)
		goto out;
	{
		int sum = 0;

		for (i = 0; i < (int)n; i++) {
			int c = g.t->nodes[i].nslots;

			sum += c;
			if (g.part[i]) {
				long long W = 0;
				int j;

				for (j = 0; j < (int)n; j++)
					W += g.part[j] ? g.w[j] : 0;
				P(c == tgt[i], "node %d owns %d after, target %d", i, c, tgt[i]);
				/* within one slot of the exact share: |c*W - total*w| < W */
				P(llabs((long long)c * W - (long long)total * g.w[i]) < W,
				  "node %d owns %d, exact share %d*%lld/%lld", i, c, total, g.w[i], W);
				if (g.drained[i])
					P(c == 0, "drained node %d still owns %d", i, c);
			} else {
				P(c == before->nodes[i].nslots, "non-participant %d changed", i);
			}
		}
		P(sum == CLUSTER_SLOTS, "%d slots owned after", sum);
		for (i = 0; i < CLUSTER_SLOTS; i++) {
			int o0 = before->slot_owner[i];

			if (g.t->slot_owner[i] < 0 || (!g.part[o0] && g.t->slot_owner[i] != o0))
				break;
		}
		P(i == CLUSTER_SLOTS, "slot %d unowned, or moved off a non-participant", i);
	}
	/* idempotent */
	P(plan_rebalance(g.t, &g.o, &p2, err, sizeof(err)) == 0, "replan failed: %s", err);
	P(p2 && p2->nmoves == 0, "replan has %zu moves", p2 ? p2->nmoves : 0);
	/* deterministic whatever the node order */
	{
		size_t *perm = xcalloc(n, sizeof(*perm));

		for (k = 0; k < n; k++)
			perm[k] = n - 1 - k;
		for (k = n - 1; k > 0; k--) {
			size_t j = (size_t)rng_int((int)k + 1), tmp = perm[k];

			perm[k] = perm[j];
			perm[j] = tmp;
		}
		u = topo_copy(before, perm);
		free(perm);
		P(plan_rebalance(u, &g.o, &q, err, sizeof(err)) == 0, "shuffled plan failed: %s", err);
		if (q)
			P(plans_same(before, p, u, q), "plan differs after shuffling node order");
	}
#undef P
out:
	plan_free(p);
	plan_free(p2);
	plan_free(q);
	topo_free_test(g.t);
	topo_free_test(before);
	topo_free_test(u);
	return test_failed != failed0;
}

static void test_properties(void)
{
	const char *env = getenv("PLANNER_SEED");
	uint64_t base = 0x6175746f73686172ULL; /* "autoshar" */
	int i, ncases = 2000;

	if (env) {
		if (property_case(strtoull(env, NULL, 0)))
			fprintf(stderr, "property case PLANNER_SEED=%s failed\n", env);
		return;
	}
	for (i = 0; i < ncases; i++) {
		uint64_t seed = base + (uint64_t)i * 0x9e3779b97f4a7c15ULL;

		if (property_case(seed)) {
			fprintf(stderr, "property case %d failed; replay with PLANNER_SEED=0x%016llx\n", i,
				(unsigned long long)seed);
			break;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Performance                                                                */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int under_valgrind(void)
{
	const char *pre = getenv("LD_PRELOAD");

	return pre && strstr(pre, "vgpreload");
}

/* 100 masters owning every 100th slot (16384 single-slot ranges) plus 100
 * empty ones; and 100 masters of which 50 drain. */
static void test_performance(void)
{
	struct topology *t = topo_new(200);
	struct plan_opts o = {.use_empty_masters = 1};
	const char *drain[50];
	struct plan *p = NULL;
	char err[256] = "";
	double t0, best1 = 1e9, best2 = 1e9;
	int i, s, rep;

	for (i = 0; i < 200; i++)
		node_set(t, i, 0x1000 + (unsigned long long)i * 7919 % 1000, M);
	for (s = 0; s < CLUSTER_SLOTS; s++)
		t->slot_owner[s] = (int16_t)(s % 100);
	topo_sync_ranges(t);
	for (rep = 0; rep < 3; rep++) {
		t0 = now_s();
		CHECK_MSG(plan_rebalance(t, &o, &p, err, sizeof(err)) == 0, "%s", err);
		t0 = now_s() - t0;
		best1 = t0 < best1 ? t0 : best1;
		/* the 100 holders keep 82 each (the extra slots stay with them) */
		CHECK_MSG(p && p->nmoves == CLUSTER_SLOTS - 100 * 82, "%zu moves", p ? p->nmoves : 0);
		plan_free(p);
		p = NULL;
	}
	o.use_empty_masters = 0;
	for (i = 0; i < 50; i++)
		drain[i] = t->nodes[2 * i].id;
	o.drain_ids = drain;
	o.ndrain = 50;
	for (rep = 0; rep < 3; rep++) {
		t0 = now_s();
		CHECK_MSG(plan_rebalance(t, &o, &p, err, sizeof(err)) == 0, "%s", err);
		t0 = now_s() - t0;
		best2 = t0 < best2 ? t0 : best2;
		CHECK(p && p->nmoves == 8192);
		plan_free(p);
		p = NULL;
	}
	printf("plan 16384 slots, 200 masters: %.2f ms; drain 50 of 100: %.2f ms\n", best1 * 1e3, best2 * 1e3);
	if (!under_valgrind()) {
		CHECK_MSG(best1 < 0.1, "took %.1f ms", best1 * 1e3);
		CHECK_MSG(best2 < 0.1, "took %.1f ms", best2 * 1e3);
	}
	topo_free_test(t);
}

/* ------------------------------------------------------------------------ */
/* plan_fix_open_slots                                                        */

/* ref: A B C masters (indices 0..2), a replica at 3; A owns 0-5460, B
 * 5461-10922, C 10923-16383. Views list the nodes in reverse order. */
static struct topology *fix_ref(void)
{
	struct topology *t = topo_new(4);

	node_set(t, 0, 0xaa, M);
	node_set(t, 1, 0xbb, M);
	node_set(t, 2, 0xcc, M);
	node_set(t, 3, 0xdd, R);
	memcpy(t->nodes[3].master_id, t->nodes[0].id, sizeof(t->nodes[0].id));
	own(t, 0, 5460, 0);
	own(t, 5461, 10922, 1);
	own(t, 10923, 16383, 2);
	topo_sync_ranges(t);
	return t;
}

/* node ref_idx's own view: reversed node order, myself set */
static struct topology *fix_view(const struct topology *ref, int ref_idx)
{
	size_t perm[4] = {3, 2, 1, 0};
	struct topology *v = topo_copy(ref, perm);

	v->myself = 3 - ref_idx;
	v->nodes[v->myself].flags |= NODE_MYSELF;
	return v;
}

static void view_open(struct topology *v, int slot, int importing, const struct topology *ref, int peer_ref_idx)
{
	struct cluster_node *me = &v->nodes[v->myself];

	me->open = realloc(me->open, (me->nopen + 1) * sizeof(*me->open));
	if (!me->open)
		exit(1);
	me->open[me->nopen].slot = slot;
	me->open[me->nopen].importing = importing;
	memcpy(me->open[me->nopen].peer_id, ref->nodes[peer_ref_idx].id, NODE_ID_LEN + 1);
	me->nopen++;
}

/* slot owner in view v, by ref index */
static void view_own(struct topology *v, int slot, const struct topology *ref, int ref_idx)
{
	v->slot_owner[slot] = (int16_t)find_id(v, ref->nodes[ref_idx].id);
	topo_sync_ranges(v);
}

/* Keys per (ref index, slot): keys[node] unless an override matches. */
struct keys_table {
	long long keys[4];
	struct {
		int node, slot;
		long long keys;
	} over[4];
	int nover, calls, bad_index;
};

static long long keys_cb(void *arg, int node_index, int slot)
{
	struct keys_table *k = arg;
	int i;

	k->calls++;
	if (node_index < 0 || node_index >= 4 || slot < 0 || slot >= CLUSTER_SLOTS) {
		k->bad_index = 1;
		return -1;
	}
	for (i = 0; i < k->nover; i++)
		if (k->over[i].node == node_index && k->over[i].slot == slot)
			return k->over[i].keys;
	return k->keys[node_index];
}

static void keys_override(struct keys_table *k, int node, int slot, long long keys)
{
	k->over[0].node = node;
	k->over[0].slot = slot;
	k->over[0].keys = keys;
	k->nover = 1;
}

static void test_fix_open_slots(void)
{
	struct topology *ref = fix_ref(), *v[3];
	const struct topology *views[3];
	struct keys_table kt = {.nover = 0};
	struct slot_fix *fx = NULL;
	size_t nfx = 99;
	char err[256] = "";
	int i;

	for (i = 0; i < 3; i++)
		v[i] = fix_view(ref, i);
	/* views in a different order than ref */
	views[0] = v[2];
	views[1] = v[0];
	views[2] = v[1];

	/* nothing open */
	CHECK_MSG(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0, "%s", err);
	CHECK(nfx == 0 && fx == NULL);
	free(fx);
	fx = NULL;

	/* slot 100: A MIGRATING to B, B IMPORTING from A -> FINISH A->B */
	view_open(v[0], 100, 0, ref, 1);
	view_open(v[1], 100, 1, ref, 0);
	/* slot 6000 (B's): C IMPORTING from B only, C holds no keys -> ROLLBACK */
	view_open(v[2], 6000, 1, ref, 1);
	/* slot 12000 (C's): C MIGRATING to A; A already claims it in its own view -> SETOWNER C->A */
	view_open(v[2], 12000, 0, ref, 0);
	view_own(v[0], 12000, ref, 0);
	/* slot 200 (A's): A MIGRATING to C without IMPORTING on C -> FINISH A->C */
	view_open(v[0], 200, 0, ref, 2);
	/* slot 7000 (B's): B claimed by C in C's view, B conceded (its view says C),
	 * A's view lags (B) -> SETOWNER B->C */
	view_own(v[2], 7000, ref, 2);
	view_own(v[1], 7000, ref, 2);
	kt.keys[0] = kt.keys[1] = kt.keys[2] = 0;
	CHECK_MSG(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0, "%s", err);
	CHECK(!kt.bad_index);
	CHECK_MSG(nfx == 5, "%zu fixes", nfx);
	if (fx && nfx == 5) {
		CHECK(fx[0].slot == 100 && fx[0].kind == FIX_FINISH && fx[0].src == 0 && fx[0].dst == 1);
		CHECK(fx[1].slot == 200 && fx[1].kind == FIX_FINISH && fx[1].src == 0 && fx[1].dst == 2);
		CHECK(fx[2].slot == 6000 && fx[2].kind == FIX_ROLLBACK && fx[2].src == 1 && fx[2].dst == 2);
		CHECK(fx[3].slot == 7000 && fx[3].kind == FIX_SETOWNER && fx[3].src == 1 && fx[3].dst == 2);
		CHECK(fx[4].slot == 12000 && fx[4].kind == FIX_SETOWNER && fx[4].src == 2 && fx[4].dst == 0);
	}
	free(fx);
	fx = NULL;

	/* the same in any view order */
	views[0] = v[1];
	views[1] = v[2];
	views[2] = v[0];
	CHECK_MSG(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0, "%s", err);
	CHECK(nfx == 5 && fx && fx[2].kind == FIX_ROLLBACK && fx[4].kind == FIX_SETOWNER);
	free(fx);
	fx = NULL;

	/* keys already on the importing node: finish the move instead */
	keys_override(&kt, 2, 6000, 5);
	CHECK_MSG(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0, "%s", err);
	CHECK(nfx == 5 && fx && fx[2].slot == 6000 && fx[2].kind == FIX_FINISH && fx[2].src == 1 && fx[2].dst == 2);
	free(fx);
	fx = NULL;
	/* the old owner still holding keys while the target claims the slot: refuse */
	keys_override(&kt, 2, 12000, 7);
	{
		struct slot_fix *bad = (struct slot_fix *)1;

		CHECK(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &bad, &nfx, err, sizeof(err)) == -1);
		CHECK_MSG(err_has(err, "12000") && err_has(err, ref->nodes[2].id), "%s", err);
		CHECK(bad == NULL && nfx == 0);
	}
	/* a key count failure is an error naming the node */
	keys_override(&kt, 2, 6000, -1);
	CHECK(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == -1);
	CHECK_MSG(err_has(err, ref->nodes[2].id) && err_has(err, "6000"), "%s", err);
	kt.nover = 0;
	/* no callback when one is needed */
	CHECK(plan_fix_open_slots(ref, views, 3, NULL, NULL, &fx, &nfx, err, sizeof(err)) == -1);

	/* importing on two nodes: refuse */
	view_open(v[0], 6000, 1, ref, 1);
	CHECK(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == -1);
	CHECK_MSG(err_has(err, "6000"), "%s", err);
	v[0]->nodes[v[0]->myself].nopen--;

	/* peer not in the topology */
	{
		struct cluster_node *me = &v[1]->nodes[v[1]->myself];

		mkid(me->open[0].peer_id, 0xbad);
		CHECK(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == -1);
		CHECK_MSG(err_has(err, me->open[0].peer_id), "%s", err);
		memcpy(me->open[0].peer_id, ref->nodes[0].id, NODE_ID_LEN + 1);
	}
	/* a view from a node the reference does not know: ignored (see
	 * test_fix_ignores_forgotten_node), so its open marks are not fixed */
	{
		struct cluster_node *me = &v[1]->nodes[v[1]->myself];
		char saved[NODE_ID_LEN + 1];

		memcpy(saved, me->id, sizeof(saved));
		mkid(me->id, 0xf00);
		CHECK_MSG(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0, "%s",
			  err);
		free(fx);
		fx = NULL;
		memcpy(me->id, saved, sizeof(saved));
	}
	/* the same node's view twice */
	views[1] = views[0];
	CHECK(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == -1);
	CHECK_MSG(err_has(err, "two views"), "%s", err);
	/* no views: nothing to fix */
	CHECK(plan_fix_open_slots(ref, NULL, 0, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0 && nfx == 0);
	free(fx);

	for (i = 0; i < 3; i++)
		topo_free_test(v[i]);
	topo_free_test(ref);
}

/* Two masters claim a slot and nobody is migrating: the one without keys
 * gives way; with no keys on either, the higher config epoch wins. */
static void test_fix_conflict_by_keys_and_epoch(void)
{
	struct topology *ref = fix_ref(), *v[3];
	const struct topology *views[3];
	struct keys_table kt = {.nover = 0};
	struct slot_fix *fx = NULL;
	size_t nfx = 0;
	char err[256] = "";
	int i;

	for (i = 0; i < 3; i++) {
		v[i] = fix_view(ref, i);
		views[i] = v[i];
	}
	view_own(v[1], 50, ref, 1); /* B claims A's slot 50 in its own view */
	kt.keys[0] = 0;
	kt.keys[1] = 3;
	CHECK_MSG(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0, "%s", err);
	CHECK(nfx == 1 && fx && fx[0].slot == 50 && fx[0].kind == FIX_SETOWNER && fx[0].src == 0 && fx[0].dst == 1);
	free(fx);
	fx = NULL;
	kt.keys[1] = 0;
	v[0]->nodes[v[0]->myself].config_epoch = 9;
	v[1]->nodes[v[1]->myself].config_epoch = 4;
	CHECK_MSG(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0, "%s", err);
	CHECK(nfx == 1 && fx && fx[0].kind == FIX_SETOWNER && fx[0].src == 1 && fx[0].dst == 0);
	free(fx);
	fx = NULL;
	kt.keys[0] = kt.keys[1] = 2;
	CHECK(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == -1);
	CHECK_MSG(err_has(err, "both hold keys"), "%s", err);
	for (i = 0; i < 3; i++)
		topo_free_test(v[i]);
	topo_free_test(ref);
}

/* Redis 7 after a kill between SETSLOT NODE on the target and on the source:
 * every view (the source's too, by gossip) names B as owner of slot 100, but
 * A still marks it MIGRATING to B. With no key on A that is a SETOWNER (which
 * clears the mark); with keys it is refused; MIGRATING to a third node is
 * refused. */
static void test_fix_stale_migrating_mark(void)
{
	struct topology *ref = fix_ref(), *v[3];
	const struct topology *views[3];
	struct keys_table kt = {.nover = 0};
	struct slot_fix *fx = NULL;
	size_t nfx = 0;
	char err[256] = "";
	int i;

	ref->slot_owner[100] = 1;
	topo_sync_ranges(ref);
	for (i = 0; i < 3; i++) {
		v[i] = fix_view(ref, i);
		views[i] = v[i];
	}
	view_open(v[0], 100, 0, ref, 1);
	CHECK_MSG(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0, "%s", err);
	CHECK(nfx == 1 && fx && fx[0].slot == 100 && fx[0].kind == FIX_SETOWNER && fx[0].src == 0 && fx[0].dst == 1);
	free(fx);
	fx = NULL;
	keys_override(&kt, 0, 100, 5);
	CHECK(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == -1);
	CHECK_MSG(err_has(err, "still MIGRATING it with 5 keys"), "%s", err);
	kt.nover = 0;
	memcpy(v[0]->nodes[v[0]->myself].open[0].peer_id, ref->nodes[2].id, NODE_ID_LEN + 1);
	CHECK(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == -1);
	CHECK_MSG(err_has(err, "fix by hand"), "%s", err);
	for (i = 0; i < 3; i++)
		topo_free_test(v[i]);
	topo_free_test(ref);
}

/* The split seen after a kill in a Redis 7 drain: C's claim of slot 12000
 * reached B at an epoch higher than B's own before C was told B owns it, so
 * B's own view names C, C's names B, and A's (the reference's) names B:
 * nobody claims the slot. B, named by the views, must claim it again; if only
 * C holds keys of the slot, C must; keys on both are refused. A slot every
 * view agrees on is left alone. */
static void test_fix_claimed_by_nobody(void)
{
	struct topology *ref = fix_ref(), *v[3];
	const struct topology *views[3];
	struct keys_table kt = {.nover = 0};
	struct slot_fix *fx = NULL;
	size_t nfx = 0;
	char err[256] = "";
	int i;

	ref->slot_owner[12000] = 1;
	topo_sync_ranges(ref);
	for (i = 0; i < 3; i++) {
		v[i] = fix_view(ref, i);
		views[i] = v[i];
	}
	CHECK_MSG(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0, "%s", err);
	CHECK_MSG(nfx == 0, "agreeing views gave %zu fixes", nfx);
	free(fx);
	fx = NULL;
	view_own(v[1], 12000, ref, 2); /* B: C owns it */
	kt.keys[1] = 4;
	CHECK_MSG(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0, "%s", err);
	CHECK_MSG(nfx == 1 && fx && fx[0].slot == 12000 && fx[0].kind == FIX_SETOWNER && fx[0].dst == 1 &&
			  fx[0].src == 2,
		  "nfx %zu", nfx);
	free(fx);
	fx = NULL;
	kt.keys[1] = 0;
	keys_override(&kt, 2, 12000, 7);
	CHECK_MSG(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0, "%s", err);
	CHECK(nfx == 1 && fx && fx[0].kind == FIX_SETOWNER && fx[0].dst == 2 && fx[0].src == 1);
	free(fx);
	fx = NULL;
	kt.keys[1] = 1;
	CHECK(plan_fix_open_slots(ref, views, 3, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == -1);
	CHECK_MSG(err_has(err, "claimed by no master"), "%s", err);
	for (i = 0; i < 3; i++)
		topo_free_test(v[i]);
	topo_free_test(ref);
}

/* A node the reference no longer lists (forgotten after a drain, still
 * answering as an empty master) is not part of the cluster: its view is
 * ignored, not an error, and changes no decision. */
static void test_fix_ignores_forgotten_node(void)
{
	struct topology *ref = fix_ref(), *v[4];
	const struct topology *views[4];
	struct keys_table kt = {.nover = 0};
	struct slot_fix *fx = NULL;
	size_t nfx = 7;
	char err[256] = "";
	int i;

	for (i = 0; i < 3; i++) {
		v[i] = fix_view(ref, i);
		views[i] = v[i];
	}
	v[3] = fix_view(ref, 0);
	memset(v[3]->nodes[v[3]->myself].id, 'e', NODE_ID_LEN); /* an id ref does not know */
	for (int s = 0; s < CLUSTER_SLOTS; s++)
		v[3]->slot_owner[s] = -1;
	topo_sync_ranges(v[3]);
	views[3] = v[3];
	CHECK_MSG(plan_fix_open_slots(ref, views, 4, keys_cb, &kt, &fx, &nfx, err, sizeof(err)) == 0, "%s", err);
	CHECK_MSG(nfx == 0, "%zu fixes", nfx);
	free(fx);
	for (i = 0; i < 4; i++)
		topo_free_test(v[i]);
	topo_free_test(ref);
}

int main(void)
{
	test_scale_out_3_to_6();
	test_empty_masters_ignored_by_default();
	test_drain_6_to_3();
	test_drains_before_fills();
	test_weights_2_1_1();
	test_remainder_ties_by_id();
	test_fewest_ranges();
	test_errors();
	test_determinism_shuffle();
	test_properties();
	test_performance();
	test_fix_open_slots();
	test_fix_conflict_by_keys_and_epoch();
	test_fix_stale_migrating_mark();
	test_fix_claimed_by_nobody();
	test_fix_ignores_forgotten_node();
	return TEST_DONE();
}
