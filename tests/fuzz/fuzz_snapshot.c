/* What the engine does with the replies of a whole cluster, without sockets.
 * The input is the stream of RESP replies the nodes would send to
 * cluster_gather's view_fill (lib/cluster.c), node after node: INFO cluster,
 * CLUSTER NODES, CLUSTER INFO, DBSIZE, and INFO replication when the node is
 * a replica. view_fill is static and talks to a socket, so its reply
 * handling is repeated here step by step (same type checks, same parsers).
 * The snapshot then goes through every pure consumer: health_check,
 * cluster_pick_ref, cluster_converged, cluster_view_by_id, plan_rebalance and
 * plan_fix_open_slots, and their results are checked:
 *  - health: healthy exactly when no problem is listed; problems capped and
 *    one line each; counts within bounds; healthy implies full coverage and
 *    no open slot, and the expected counts when asked;
 *  - plan: every move takes a slot from its owner, no slot twice, the number
 *    of moves is the sum of surpluses, applying the moves gives every master
 *    its target, targets within one slot of each other (equal weights) and
 *    0 for drained masters, and the same input gives the same plan;
 *  - fixes: sorted by slot, one per slot, each slot open on some master,
 *    node indices within the reference topology.
 * Options (expectations, use-empty-masters, drain) come from the input
 * length so that seeds are plain reply streams. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "fuzz_common.h"
#include "health.h"
#include "planner.h"

#define MAX_VIEWS 8

struct stream {
	redisReader *rd;
	int ended;      /* no more replies (end of input or reader error) */
	size_t replies; /* replies read so far */
};

static redisReply *next_reply(struct stream *s)
{
	void *r = NULL;

	if (s->ended)
		return NULL;
	if (redisReaderGetReply(s->rd, &r) != REDIS_OK || !r) {
		s->ended = 1;
		return NULL;
	}
	fuzz_check_reply(r, 0);
	s->replies++;
	return r;
}

/* view_fill's check_reply: NULL (I/O error) and error replies fail the view. */
static redisReply *view_reply(struct stream *s, struct node_view *v, const char *what)
{
	redisReply *r = next_reply(s);

	if (!r) {
		seterr(v->error, sizeof(v->error), "node %s:%d: %s: connection lost", v->addr.host, v->addr.port, what);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		seterr(v->error, sizeof(v->error), "node %s:%d: %s: %.200s", v->addr.host, v->addr.port, what, r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* Same steps and checks as view_fill after the connection is made. */
static void fill_view(struct stream *s, struct node_view *v)
{
	redisReply *r = NULL;
	char val[32], perr[200];

	if (!(r = view_reply(s, v, "INFO")))
		goto fail;
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
		goto fail;
	v->cluster_enabled = info_get_field(r->str, r->len, "cluster_enabled", val, sizeof(val)) == 0 &&
			     strcmp(val, "1") == 0;
	freeReplyObject(r);
	r = NULL;
	if (!v->cluster_enabled) {
		seterr(v->error, sizeof(v->error), "not in cluster mode");
		v->reachable = 1;
		return;
	}
	if (!(r = view_reply(s, v, "CLUSTER NODES")) || r->type != REDIS_REPLY_STRING)
		goto fail;
	if (topology_parse_nodes(r->str, r->len, &v->topo, perr, sizeof(perr)) < 0) {
		fuzz_check_err(perr, sizeof(perr));
		goto fail;
	}
	fuzz_check_topology(v->topo, 0);
	freeReplyObject(r);
	if (!(r = view_reply(s, v, "CLUSTER INFO")) || r->type != REDIS_REPLY_STRING)
		goto fail;
	if (cluster_info_parse(r->str, r->len, &v->info, perr, sizeof(perr)) < 0) {
		fuzz_check_err(perr, sizeof(perr));
		goto fail;
	}
	freeReplyObject(r);
	if (!(r = view_reply(s, v, "DBSIZE")))
		goto fail;
	v->dbsize = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
	if (v->topo->myself >= 0)
		strlcpy_a(v->id, v->topo->nodes[v->topo->myself].id, sizeof(v->id));
	if (v->topo->myself >= 0 && (v->topo->nodes[v->topo->myself].flags & NODE_REPLICA)) {
		freeReplyObject(r);
		if (!(r = view_reply(s, v, "INFO replication")))
			goto fail;
		v->master_link_up = (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
				    info_get_field(r->str, r->len, "master_link_status", val, sizeof(val)) == 0 &&
				    strcmp(val, "up") == 0;
	}
	freeReplyObject(r);
	v->reachable = 1;
	v->error[0] = '\0';
	return;
fail:
	if (r)
		freeReplyObject(r);
	if (!v->error[0])
		seterr(v->error, sizeof(v->error), "node %s:%d: unexpected reply", v->addr.host, v->addr.port);
	topology_free(v->topo);
	v->topo = NULL;
	v->reachable = 0;
}

static int view_error_has_newline(const struct cluster_snapshot *s)
{
	for (size_t i = 0; i < s->nviews; i++)
		if (strchr(s->views[i].error, '\n'))
			return 1;
	return 0;
}

static void check_health(const struct cluster_snapshot *s, const struct health_expect *e)
{
	struct health_report hr;
	int rc = health_check(s, e, &hr);

	FUZZ_CHECK(rc == 0 || rc == 1, "health_check returned %d", rc);
	FUZZ_CHECK((rc == 0) == (hr.nproblems == 0), "health_check %d with %zu problems", rc, hr.nproblems);
	FUZZ_CHECK(hr.nproblems <= 201, "%zu problems, over the cap", hr.nproblems);
	for (size_t i = 0; i < hr.nproblems; i++) {
		FUZZ_CHECK(hr.problems[i] && hr.problems[i][0], "problem %zu empty", i);
		/* a view's error may quote a server's error reply, newlines and all
		 * (lib/node.c check_reply; see README.md); nothing else may */
		FUZZ_CHECK(!strchr(hr.problems[i], '\n') || view_error_has_newline(s), "problem %zu spans lines: %s", i,
			   hr.problems[i]);
		for (size_t j = 0; j < i && hr.nproblems < 201; j++)
			FUZZ_CHECK(strcmp(hr.problems[i], hr.problems[j]) != 0, "problem listed twice: %s",
				   hr.problems[i]);
	}
	FUZZ_CHECK(hr.slots_covered >= 0 && hr.slots_covered <= CLUSTER_SLOTS, "slots_covered %d", hr.slots_covered);
	FUZZ_CHECK(hr.open_slots >= 0 && hr.open_slots <= CLUSTER_SLOTS, "open_slots %d", hr.open_slots);
	FUZZ_CHECK(hr.masters >= 0 && hr.replicas >= 0 && hr.nodes >= 0, "negative counts");
	if (rc == 0) {
		FUZZ_CHECK(hr.slots_covered == CLUSTER_SLOTS && hr.open_slots == 0, "healthy with %d slots, %d open",
			   hr.slots_covered, hr.open_slots);
		for (size_t i = 0; i < s->nviews; i++)
			FUZZ_CHECK(s->views[i].reachable && s->views[i].topo, "healthy with view %zu unusable", i);
		FUZZ_CHECK(!e->masters || hr.masters == e->masters, "healthy with %d masters, expected %d", hr.masters,
			   e->masters);
		FUZZ_CHECK(!e->nodes || hr.nodes == e->nodes, "healthy with %d nodes, expected %d", hr.nodes, e->nodes);
		FUZZ_CHECK(e->replicas_per_master < 0 || hr.replicas >= hr.masters * e->replicas_per_master,
			   "healthy with %d replicas for %d masters, expected %d each", hr.replicas, hr.masters,
			   e->replicas_per_master);
		FUZZ_CHECK(e->replicas_per_master >= 0 || hr.replicas >= hr.masters * e->min_replicas_per_master,
			   "healthy with %d replicas for %d masters, expected at least %d each", hr.replicas,
			   hr.masters, e->min_replicas_per_master);
	}
	health_report_free(&hr);
}

static int plan_equal(const struct plan *a, const struct plan *b, size_t nnodes)
{
	return a->nmoves == b->nmoves && a->nmasters == b->nmasters &&
	       (!a->nmoves || memcmp(a->moves, b->moves, a->nmoves * sizeof(*a->moves)) == 0) &&
	       memcmp(a->target_slots, b->target_slots, nnodes * sizeof(int)) == 0;
}

static void check_plan(const struct topology *t, size_t size)
{
	static unsigned char moved[CLUSTER_SLOTS];
	struct plan_opts po;
	struct plan *p = NULL, *p2 = NULL;
	const char *drain[1];
	char err[256];
	int *count, lo = CLUSTER_SLOTS + 1, hi = -1, rc;
	long surplus = 0, owned = 0;
	int nparts = 0;

	memset(&po, 0, sizeof(po));
	po.use_empty_masters = size & 1;
	if (size & 2) {
		for (size_t i = 0; i < t->nnodes; i++)
			if (t->nodes[i].flags & NODE_MASTER) {
				drain[0] = t->nodes[i].id;
				po.drain_ids = drain;
				po.ndrain = 1;
				break;
			}
	}
	rc = plan_rebalance(t, &po, &p, err, sizeof(err));
	if (rc != 0) {
		FUZZ_CHECK(rc == -1 && p == NULL, "plan_rebalance rc %d", rc);
		fuzz_check_err(err, sizeof(err));
		return;
	}
	FUZZ_CHECK(p && p->target_slots && (p->nmoves == 0 || p->moves), "empty plan");
	FUZZ_CHECK(p->nmoves <= CLUSTER_SLOTS, "%zu moves", p->nmoves);
	count = calloc(t->nnodes, sizeof(*count));
	FUZZ_CHECK(count != NULL, "out of memory");
	for (int s = 0; s < CLUSTER_SLOTS; s++)
		if (t->slot_owner[s] >= 0)
			count[t->slot_owner[s]]++;
	memset(moved, 0, sizeof(moved));
	for (size_t i = 0; i < p->nmoves; i++) {
		const struct slot_move *m = &p->moves[i];
		FUZZ_CHECK(m->slot >= 0 && m->slot < CLUSTER_SLOTS, "move %zu: slot %d", i, m->slot);
		FUZZ_CHECK(m->src >= 0 && (size_t)m->src < t->nnodes && m->dst >= 0 && (size_t)m->dst < t->nnodes &&
				   m->src != m->dst,
			   "move %zu: %d -> %d of %zu nodes", i, m->src, m->dst, t->nnodes);
		FUZZ_CHECK(t->slot_owner[m->slot] == m->src, "move %zu: slot %d not owned by its source", i, m->slot);
		FUZZ_CHECK(!moved[m->slot], "slot %d moved twice", m->slot);
		FUZZ_CHECK(p->target_slots[m->dst] >= 0, "move %zu to a node not taking part", i);
		moved[m->slot] = 1;
		count[m->src]--;
		count[m->dst]++;
	}
	for (size_t i = 0; i < t->nnodes; i++) {
		int tg = p->target_slots[i];
		FUZZ_CHECK(tg >= -1 && tg <= CLUSTER_SLOTS, "node %zu: target %d", i, tg);
		if (tg < 0)
			continue;
		nparts++;
		FUZZ_CHECK(t->nodes[i].flags & NODE_MASTER, "node %zu takes part, not a master", i);
		FUZZ_CHECK(count[i] == tg, "node %zu: %d slots after the plan, target %d", i, count[i], tg);
		if (t->nodes[i].nslots > tg)
			surplus += t->nodes[i].nslots - tg;
		owned += t->nodes[i].nslots;
		if (po.ndrain && strcmp(t->nodes[i].id, drain[0]) == 0) {
			FUZZ_CHECK(tg == 0, "drained node %zu keeps %d slots", i, tg);
			continue;
		}
		lo = tg < lo ? tg : lo;
		hi = tg > hi ? tg : hi;
	}
	FUZZ_CHECK(nparts == p->nmasters, "%d nodes with a target, nmasters %d", nparts, p->nmasters);
	FUZZ_CHECK((long)p->nmoves == surplus, "%zu moves, surpluses sum to %ld", p->nmoves, surplus);
	if (hi >= 0)
		FUZZ_CHECK(hi - lo <= 1, "targets from %d to %d with equal weights", lo, hi);
	{
		long tsum = 0;
		for (size_t i = 0; i < t->nnodes; i++)
			if (p->target_slots[i] > 0)
				tsum += p->target_slots[i];
		FUZZ_CHECK(tsum == owned, "targets sum to %ld, masters own %ld", tsum, owned);
	}
	free(count);
	FUZZ_CHECK(plan_rebalance(t, &po, &p2, err, sizeof(err)) == 0, "second plan failed: %s", err);
	FUZZ_CHECK(plan_equal(p, p2, t->nnodes), "same input, different plan");
	plan_free(p2);
	plan_free(p);
}

static long long keys_in_slot(void *arg, int node_index, int slot)
{
	size_t size = *(const size_t *)arg;

	/* deterministic: some slots hold keys, some lookups fail */
	unsigned h = (unsigned)(node_index * 31 + slot) ^ (unsigned)size;
	return h % 7 == 0 ? -1 : (long long)(h % 3);
}

static void check_fixes(const struct cluster_snapshot *s, const struct topology *ref, size_t size)
{
	const struct topology *views[MAX_VIEWS];
	struct slot_fix *fixes = NULL;
	size_t nv = 0, nfix = 0;
	char err[256];
	int rc;

	int any_open = 0;

	for (size_t i = 0; i < s->nviews; i++) {
		const struct topology *t = s->views[i].topo;
		if (!s->views[i].reachable || !t || t->myself < 0 || !(t->nodes[t->myself].flags & NODE_MASTER))
			continue;
		views[nv++] = t;
		any_open |= t->nodes[t->myself].nopen > 0;
	}
	/* Like its callers (lib/reconcile.c, cli/cmd_rebalance.c), only when a
	 * master has an open slot: with none, lib/planner.c computes NULL + 0
	 * (UBSan: "applying zero offset to null pointer"); see README.md. */
	if (!any_open)
		return;
	rc = plan_fix_open_slots(ref, views, nv, keys_in_slot, &size, &fixes, &nfix, err, sizeof(err));
	if (rc != 0) {
		FUZZ_CHECK(rc == -1 && fixes == NULL && nfix == 0, "plan_fix_open_slots rc %d", rc);
		fuzz_check_err(err, sizeof(err));
		return;
	}
	FUZZ_CHECK(nfix <= CLUSTER_SLOTS && (nfix == 0 || fixes), "%zu fixes", nfix);
	for (size_t i = 0; i < nfix; i++) {
		const struct slot_fix *f = &fixes[i];
		int open = 0;
		FUZZ_CHECK(f->slot >= 0 && f->slot < CLUSTER_SLOTS, "fix %zu: slot %d", i, f->slot);
		FUZZ_CHECK(i == 0 || fixes[i - 1].slot < f->slot, "fixes not sorted by slot");
		FUZZ_CHECK(f->kind == FIX_FINISH || f->kind == FIX_ROLLBACK || f->kind == FIX_SETOWNER, "fix kind %d",
			   (int)f->kind);
		FUZZ_CHECK(f->src >= 0 && (size_t)f->src < ref->nnodes && f->dst >= 0 && (size_t)f->dst < ref->nnodes,
			   "fix %zu: nodes %d, %d of %zu", i, f->src, f->dst, ref->nnodes);
		for (size_t v = 0; v < nv; v++) {
			const struct cluster_node *me = &views[v]->nodes[views[v]->myself];
			for (size_t k = 0; k < me->nopen; k++)
				open |= me->open[k].slot == f->slot;
		}
		/* a SETOWNER fix may come from two claimers without any open mark */
		FUZZ_CHECK(open || f->kind == FIX_SETOWNER, "fix %zu for slot %d, which no master has open", i,
			   f->slot);
	}
	free(fixes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cluster_snapshot s = {0};
	struct node_view views[MAX_VIEWS];
	struct stream st = {fuzz_reader_new(), 0, 0};
	struct health_expect e = {(int)(size >> 3) % 5,  (int)((size >> 6) % 3) - 1, (int)(size >> 8) % 8,
				  (int)(size >> 11) % 3, (int)(size >> 13) % 2,      (int)(size >> 14) % 2};
	char why[256];
	int ref;

	memset(views, 0, sizeof(views));
	s.views = views;
	if (redisReaderFeed(st.rd, (const char *)data, size) != REDIS_OK)
		goto done;
	while (s.nviews < MAX_VIEWS && !st.ended) {
		struct node_view *v = &views[s.nviews];
		size_t before = st.replies;
		snprintf(v->addr.host, sizeof(v->addr.host), "127.0.0.%zu", s.nviews + 1);
		v->addr.port = 6379;
		v->dbsize = -1;
		fill_view(&st, v);
		/* the address a node announces, as cluster_gather would reach it */
		if (v->topo && v->topo->myself >= 0 && v->topo->nodes[v->topo->myself].ip[0]) {
			struct hostport hp;
			int dup = 0;
			strlcpy_a(hp.host, v->topo->nodes[v->topo->myself].ip, sizeof(hp.host));
			hp.port = v->topo->nodes[v->topo->myself].port;
			for (size_t i = 0; i < s.nviews; i++)
				dup |= hostport_eq(&views[i].addr, &hp);
			if (!dup && hp.port > 0)
				v->addr = hp;
		}
		if (st.replies == before)
			break; /* the input ran out before this node said anything */
		s.nviews++;
	}
	if (s.nviews == 0)
		goto done;

	check_health(&s, &e);
	ref = cluster_pick_ref(&s, s.nviews, (int)(size & 4));
	FUZZ_CHECK(ref >= -1 && ref < (int)s.nviews, "cluster_pick_ref %d", ref);
	if (ref >= 0) {
		const struct topology *rt = s.views[ref].topo;
		FUZZ_CHECK(rt && s.views[ref].reachable, "reference view %d unusable", ref);
		for (size_t i = 0; i < s.nviews; i++)
			if (s.views[i].reachable && s.views[i].topo)
				FUZZ_CHECK(s.views[i].info.slots_assigned <= s.views[ref].info.slots_assigned,
					   "view %zu sees more slots than the reference", i);
		why[0] = '\0';
		if (cluster_converged(&s, s.nviews, rt, why, sizeof(why)) != 0)
			fuzz_check_err(why, sizeof(why));
		for (size_t i = 0; i < s.nviews; i++) {
			const struct node_view *bv;
			if (!s.views[i].reachable || !s.views[i].id[0])
				continue;
			bv = cluster_view_by_id(&s, s.views[i].id);
			FUZZ_CHECK(bv && strcmp(bv->id, s.views[i].id) == 0, "cluster_view_by_id(%s)", s.views[i].id);
		}
		check_plan(rt, size);
		check_fixes(&s, rt, size);
	}
done:
	for (size_t i = 0; i < s.nviews; i++)
		topology_free(views[i].topo);
	redisReaderFree(st.rd);
	return 0;
}
