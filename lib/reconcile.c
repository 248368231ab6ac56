#include "reconcile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "log.h"
#include "node.h"
#include "ops.h"
#include "planner.h"
#include "rebalance.h"

/* State of one reconcile step. views[0..members->n-1] are the members in list
 * order; further views are nodes the members know about (leaving nodes). */
struct rc {
	const struct member_list *m;
	const struct reconcile_opts *o;
	struct cluster_snapshot *snap;
	struct node_conn **conns;   /* per view, opened on demand */
	const struct topology *ref; /* the view acted on (existing cluster) */
	char *msg;
	size_t msglen;
};

const char *reconcile_result_str(enum reconcile_result r)
{
	switch (r) {
	case RECONCILE_DONE:
		return "done";
	case RECONCILE_PROGRESS:
		return "progress";
	case RECONCILE_WAIT:
		return "waiting";
	case RECONCILE_ERROR:
		return "error";
	case RECONCILE_REFUSED:
		return "refused";
	}
	return "?";
}

void reconcile_opts_init(struct reconcile_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 2000;
	o->converge_ms = 10000;
	o->rebalance = 1;
}

static void rc_msg(struct rc *rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rc_msg(struct rc *rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rc->msg, rc->msglen, fmt, ap);
	va_end(ap);
}

static void rc_action(struct rc *rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rc_action(struct rc *rc, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (rc->o->on_action)
		rc->o->on_action(buf, rc->o->action_arg);
	snprintf(rc->msg, rc->msglen, "%s", buf);
}

static struct node_conn *rc_conn(struct rc *rc, size_t i, char *err, size_t errlen)
{
	if (!rc->conns[i])
		rc->conns[i] = node_connect(&rc->snap->views[i].addr, rc->o->password, rc->o->timeout_ms, err, errlen);
	return rc->conns[i];
}

static const struct node_view *member_view(const struct rc *rc, size_t i)
{
	return &rc->snap->views[i];
}

/* Every member (with all_views, also every other reachable node) forgets id,
 * in one step, inside FORGET's blacklist window. */
static int forget_everywhere(struct rc *rc, const char *id, int all_views, char *err, size_t errlen)
{
	size_t n = all_views ? rc->snap->nviews : rc->m->n, nc = 0;
	struct node_conn **conns = calloc(n + 1, sizeof(*conns));
	int r;

	if (!conns)
		return seterr(err, errlen, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (i < rc->m->n || rc->snap->views[i].reachable)
			conns[nc++] = rc_conn(rc, i, err, errlen);
	r = op_forget_everywhere(conns, nc, id, err, errlen);
	free(conns);
	return r;
}

/* Index of the member whose node id is id, or -1. */
static int member_by_id(const struct rc *rc, const char *id)
{
	for (size_t i = 0; i < rc->m->n; i++)
		if (rc->snap->views[i].id[0] && strcmp(rc->snap->views[i].id, id) == 0)
			return (int)i;
	return -1;
}

static int view_by_id(const struct rc *rc, const char *id)
{
	for (size_t i = 0; i < rc->snap->nviews; i++)
		if (rc->snap->views[i].reachable && strcmp(rc->snap->views[i].id, id) == 0)
			return (int)i;
	return -1;
}

static int node_is_live(const struct cluster_node *n)
{
	return !(n->flags & (NODE_HANDSHAKE | NODE_NOADDR));
}

/* Slots the node owns in its own view. */
static int own_slots(const struct node_view *v)
{
	return v->topo && v->topo->myself >= 0 ? v->topo->nodes[v->topo->myself].nslots : 0;
}

/* 1 when the node with this id says in its own view that it is a master
 * (with with_slots, one that owns slots). Role changes check this as well
 * as the reference view, which may lag a failover by a gossip round. */
static int own_view_master(const struct rc *rc, const char *id, int with_slots)
{
	int vi = view_by_id(rc, id);
	const struct topology *t;

	if (vi < 0 || !(t = rc->snap->views[vi].topo) || t->myself < 0)
		return 0;
	return (t->nodes[t->myself].flags & NODE_MASTER) && (!with_slots || t->nodes[t->myself].nslots > 0);
}

/* ---- bootstrap ---------------------------------------------------------- */

struct boot_plan {
	int nmasters;
	int *master_of; /* per member: -1 if it is a master, else the member index of its master */
	int *rank;      /* per master member: its position 0..nmasters-1 */
};

static void boot_plan_free(struct boot_plan *p)
{
	free(p->master_of);
	free(p->rank);
}

static int boot_plan_make(const struct member_list *m, int replicas, struct boot_plan *p)
{
	int *nrep = NULL;

	memset(p, 0, sizeof(*p));
	p->nmasters = (int)(m->n / (size_t)(replicas + 1));
	if (p->nmasters < 1)
		p->nmasters = 1;
	p->master_of = calloc(m->n, sizeof(int));
	p->rank = calloc(m->n, sizeof(int));
	nrep = calloc(m->n, sizeof(int));
	if (!p->master_of || !p->rank || !nrep) {
		free(nrep);
		boot_plan_free(p);
		return -1;
	}
	for (size_t i = 0; i < m->n; i++) {
		p->master_of[i] = (int)i < p->nmasters ? -1 : -2;
		p->rank[i] = (int)i < p->nmasters ? (int)i : -1;
	}
	/* Each replica goes to the master with fewest replicas on another host,
	 * else (all masters share its host) to the one with fewest replicas. */
	for (size_t i = (size_t)p->nmasters; i < m->n; i++) {
		int best = -1, best_other = -1;
		for (int k = 0; k < p->nmasters; k++) {
			if (best < 0 || nrep[k] < nrep[best])
				best = k;
			if (strcmp(m->v[k].host, m->v[i].host) != 0 && (best_other < 0 || nrep[k] < nrep[best_other]))
				best_other = k;
		}
		if (best_other >= 0)
			best = best_other;
		p->master_of[i] = best;
		nrep[best]++;
	}
	free(nrep);
	return 0;
}

static void boot_range(int rank, int nmasters, struct slot_range *r)
{
	r->start = (int)((long)rank * CLUSTER_SLOTS / nmasters);
	r->end = (int)((long)(rank + 1) * CLUSTER_SLOTS / nmasters) - 1;
}

/* 1 when the live state is a (possibly partial) run of this very bootstrap:
 * no keys, every node known is a member, slots only where the plan puts them,
 * replicas only of their planned master. */
static int boot_compatible(struct rc *rc, const struct boot_plan *p, char *why, size_t whylen)
{
	for (size_t i = 0; i < rc->m->n; i++) {
		const struct node_view *v = member_view(rc, i);
		const struct topology *t = v->topo;
		if (v->dbsize != 0)
			return seterr(why, whylen, "node %s holds %lld keys", v->addr.host, v->dbsize), 0;
		for (size_t j = 0; j < t->nnodes; j++) {
			const struct cluster_node *cn = &t->nodes[j];
			int mi;
			if (!node_is_live(cn))
				continue;
			mi = member_by_id(rc, cn->id);
			if (mi < 0)
				return seterr(why, whylen, "node %s:%d knows node %.8s at %s:%d, not a member",
					      v->addr.host, v->addr.port, cn->id, cn->ip, cn->port),
				       0;
			if (cn->flags & NODE_REPLICA) {
				int want = p->master_of[mi];
				if (want < 0 || strcmp(member_view(rc, (size_t)want)->id, cn->master_id) != 0)
					return seterr(why, whylen, "node %.8s replicates another master than planned",
						      cn->id),
					       0;
			}
		}
		for (int s = 0; s < CLUSTER_SLOTS; s++) {
			int owner = t->slot_owner[s];
			int mi, rank;
			struct slot_range r;
			if (owner < 0)
				continue;
			mi = member_by_id(rc, t->nodes[owner].id);
			if (mi < 0 || (rank = p->rank[mi]) < 0)
				return seterr(why, whylen, "slot %d is owned by a node that is not a planned master",
					      s),
				       0;
			boot_range(rank, p->nmasters, &r);
			if (s < r.start || s > r.end)
				return seterr(why, whylen, "slot %d is owned by another master than planned", s), 0;
		}
	}
	return 1;
}

/* Poll every member's CLUSTER NODES until each knows every member (by id, out
 * of handshake), at most converge_ms. 1 converged, 0 not yet, -1 error. */
static int wait_members_known(struct rc *rc, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + (rc->o->converge_ms > 0 ? rc->o->converge_ms : 10000);

	for (;;) {
		int all = 1;
		for (size_t i = 0; i < rc->m->n && all; i++) {
			struct node_conn *c = rc_conn(rc, i, err, errlen);
			redisReply *r;
			struct topology *t = NULL;
			if (!c)
				return -1;
			r = node_command(c, err, errlen, "CLUSTER NODES");
			if (!r)
				return -1;
			if (r->type != REDIS_REPLY_STRING ||
			    topology_parse_nodes(r->str, r->len, &t, err, errlen) < 0) {
				freeReplyObject(r);
				return -1;
			}
			freeReplyObject(r);
			for (size_t j = 0; j < rc->m->n && all; j++) {
				int k = topology_find(t, member_view(rc, j)->id);
				if (k < 0 || !node_is_live(&t->nodes[k]))
					all = 0;
			}
			topology_free(t);
		}
		if (all)
			return 1;
		if (now_ms() > deadline)
			return 0;
		sleep_ms(20);
	}
}

static enum reconcile_result do_bootstrap(struct rc *rc, const struct boot_plan *p)
{
	char err[512];
	int did = 0, rcw;

	/* Unique config epochs before anyone meets, so no epoch collision has to be
	 * resolved by gossip (that is what slows valkey-cli create down). */
	for (size_t i = 0; i < rc->m->n; i++) {
		const struct node_view *v = member_view(rc, i);
		struct node_conn *c;
		if (v->topo->nnodes != 1 || v->info.current_epoch != 0)
			continue;
		if (!(c = rc_conn(rc, i, err, sizeof(err))) || op_set_config_epoch(c, i + 1, err, sizeof(err)) < 0)
			goto fail;
	}
	/* Slots first: a node that owns no slot counts itself in a minority on
	 * every cron tick, and its first cluster_state:ok comes a rejoin delay
	 * (min(cluster-node-timeout, 5 s)) after that stops. Assigning slots
	 * before meeting starts that clock as early as possible. */
	for (size_t i = 0; i < rc->m->n; i++) {
		const struct node_view *v = member_view(rc, i);
		struct slot_range want, *missing = NULL;
		size_t nmissing = 0;
		struct node_conn *c;
		int in = 0;
		if (p->rank[i] < 0)
			continue;
		boot_range(p->rank[i], p->nmasters, &want);
		missing = calloc((size_t)(want.end - want.start + 2), sizeof(*missing));
		if (!missing) {
			snprintf(err, sizeof(err), "out of memory");
			goto fail;
		}
		for (int s = want.start; s <= want.end; s++) {
			int owned = v->topo->slot_owner[s] >= 0;
			if (!owned && !in) {
				missing[nmissing].start = s;
				in = 1;
			}
			if (owned && in) {
				missing[nmissing++].end = s - 1;
				in = 0;
			}
		}
		if (in)
			missing[nmissing++].end = want.end;
		if (nmissing) {
			rc_action(rc, "node %s:%d: assigning slots %d-%d", v->addr.host, v->addr.port, want.start,
				  want.end);
			if (!(c = rc_conn(rc, i, err, sizeof(err))) ||
			    op_addslots(c, missing, nmissing, err, sizeof(err)) < 0) {
				free(missing);
				goto fail;
			}
			did = 1;
		}
		free(missing);
	}
	/* Meet every pair once (i<j) that does not know each other yet: one
	 * handshake round instead of waiting for gossip to spread. */
	for (size_t i = 0; i < rc->m->n; i++) {
		const struct node_view *vi = member_view(rc, i);
		for (size_t j = i + 1; j < rc->m->n; j++) {
			const struct node_view *vj = member_view(rc, j);
			int ki = topology_find(vi->topo, vj->id), kj = topology_find(vj->topo, vi->id);
			struct node_conn *c;
			if ((ki >= 0 && node_is_live(&vi->topo->nodes[ki])) ||
			    (kj >= 0 && node_is_live(&vj->topo->nodes[kj])))
				continue;
			if (!(c = rc_conn(rc, i, err, sizeof(err))) ||
			    op_meet(c, vj->addr.host, vj->addr.port, err, sizeof(err)) < 0)
				goto fail;
			did = 1;
		}
	}
	if (did)
		rc_action(rc, "bootstrap: %d masters, %zu members met, waiting for gossip", p->nmasters, rc->m->n);
	rcw = wait_members_known(rc, err, sizeof(err));
	if (rcw < 0)
		goto fail;
	if (rcw == 0) {
		rc_msg(rc, "bootstrap: members do not know each other yet");
		return RECONCILE_WAIT;
	}
	for (size_t i = 0; i < rc->m->n; i++) {
		const struct node_view *v = member_view(rc, i);
		const struct cluster_node *me = &v->topo->nodes[v->topo->myself];
		const char *mid;
		struct node_conn *c;
		if (p->master_of[i] < 0)
			continue;
		mid = member_view(rc, (size_t)p->master_of[i])->id;
		if ((me->flags & NODE_REPLICA) && strcmp(me->master_id, mid) == 0)
			continue;
		rc_action(rc, "node %s:%d: replicating %s:%d", v->addr.host, v->addr.port,
			  member_view(rc, (size_t)p->master_of[i])->addr.host,
			  member_view(rc, (size_t)p->master_of[i])->addr.port);
		if (!(c = rc_conn(rc, i, err, sizeof(err))) || op_replicate(c, mid, err, sizeof(err)) < 0)
			goto fail;
		did = 1;
	}
	if (!did)
		rc_msg(rc, "bootstrap complete, waiting for health");
	return did ? RECONCILE_PROGRESS : RECONCILE_WAIT;
fail:
	rc_msg(rc, "bootstrap: %s", err);
	return RECONCILE_ERROR;
}

/* ---- existing cluster --------------------------------------------------- */

/* plan_fix_open_slots callback: keys the node (index in the reference
 * topology) holds in slot, asked of that node itself; -1 if it cannot say. */
static long long count_keys_cb(void *arg, int node_index, int slot)
{
	struct rc *rc = arg;
	char err[256];
	int vi;
	struct node_conn *c;
	redisReply *r;
	long long n = -1;

	if (!rc->ref || node_index < 0 || (size_t)node_index >= rc->ref->nnodes)
		return -1;
	vi = view_by_id(rc, rc->ref->nodes[node_index].id);
	if (vi < 0 || !(c = rc_conn(rc, (size_t)vi, err, sizeof(err))))
		return -1;
	r = node_command(c, err, sizeof(err), "CLUSTER COUNTKEYSINSLOT %d", slot);
	if (r && r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	if (r)
		freeReplyObject(r);
	return n;
}

static int rc_migrate(struct rc *rc, const struct topology *ref, const struct slot_move *moves, size_t nmoves,
		      const struct slot_fix *fixes, size_t nfixes, char *err, size_t errlen)
{
	struct migrator_opts mo = rc->o->migrate;
	struct migrator_stats st;

	mo.password = rc->o->password;
	return rebalance_execute(ref, moves, nmoves, fixes, nfixes, &mo, &st, err, errlen);
}

/* Choose the master (view index into ref) an empty member should replicate:
 * masters needing replicas first (fewest replicas), preferring another host. */
static int pick_master_for_replica(const struct rc *rc, const struct topology *ref, const int *nrep,
				   const int *is_target, int replica_member, int need_only)
{
	int best = -1, best_other = -1;
	const char *host = rc->m->v[replica_member].host;

	for (size_t k = 0; k < ref->nnodes; k++) {
		const struct cluster_node *cn = &ref->nodes[k];
		int mi;
		if (!(cn->flags & NODE_MASTER) || (cn->flags & (NODE_FAIL | NODE_PFAIL)))
			continue;
		if (cn->nslots == 0 && !is_target[k])
			continue;
		mi = member_by_id(rc, cn->id);
		if (mi < 0 || mi == replica_member || !own_view_master(rc, cn->id, !is_target[k]))
			continue;
		if (need_only && nrep[k] >= rc->o->replicas)
			continue;
		if (best < 0 || nrep[k] < nrep[best])
			best = (int)k;
		if (strcmp(rc->m->v[mi].host, host) != 0 && (best_other < 0 || nrep[k] < nrep[best_other]))
			best_other = (int)k;
	}
	return best_other >= 0 ? best_other : best;
}

/* A node this cluster forgot that comes back as a replica (persistent data,
 * scaled down then up again): it owns no slot, its own view says it replicates
 * a master, and it knows nodes of this cluster. Its keys are a copy of a shard
 * the cluster still holds, so it may rejoin; it resyncs from its new master. */
static int former_replica(const struct node_view *v, const struct topology *ref)
{
	const struct cluster_node *me;
	int shared = 0;

	if (!v->topo || v->topo->myself < 0 || own_slots(v) > 0)
		return 0;
	me = &v->topo->nodes[v->topo->myself];
	if (!(me->flags & NODE_REPLICA) || !me->master_id[0])
		return 0;
	for (size_t j = 0; j < v->topo->nnodes; j++)
		if ((int)j != v->topo->myself && topology_find(ref, v->topo->nodes[j].id) >= 0)
			shared++;
	return shared > 0;
}

/* ---- lost shards ---------------------------------------------------- */

/* Member whose address is the node's address but whose id is another: the
 * instance restarted as a new, empty node. -1 if none. */
static int member_at_address(const struct rc *rc, const struct cluster_node *cn)
{
	for (size_t i = 0; i < rc->m->n; i++) {
		const struct node_view *v = member_view(rc, i);
		if (cn->ip[0] && strcmp(v->addr.host, cn->ip) == 0 && v->addr.port == cn->port &&
		    strcmp(v->id, cn->id) != 0)
			return (int)i;
	}
	return -1;
}

static int has_live_replica(const struct topology *ref, const char *master_id)
{
	for (size_t j = 0; j < ref->nnodes; j++) {
		const struct cluster_node *r = &ref->nodes[j];
		if ((r->flags & NODE_REPLICA) && strcmp(r->master_id, master_id) == 0 &&
		    !(r->flags & (NODE_FAIL | NODE_PFAIL | NODE_NOADDR | NODE_HANDSHAKE)))
			return 1;
	}
	return 0;
}

/* Slots nobody will serve again: masters that are no member, cannot be
 * reached, have no replica to take over, and are gone for good (their address
 * answers as another node, or the cluster agreed they FAIL), plus slots no
 * node claims at all. With reassign_lost_slots they go, empty, to a member
 * master (the instance that replaced the dead node when there is one) after
 * every reachable node forgot the dead ids; otherwise the step waits and says
 * why. Returns -1 when nothing is lost (go on), else the step's result. */
static int fix_lost_slots(struct rc *rc, const struct topology *ref, char *err, size_t errlen)
{
	const char *lost[64];
	size_t nlost = 0;
	int target = -1, target_member = -1, nslots = 0, uncovered = 0;
	struct slot_range *ranges = NULL;
	size_t nranges = 0;
	int res = RECONCILE_ERROR;

	for (size_t k = 0; k < ref->nnodes; k++) {
		const struct cluster_node *cn = &ref->nodes[k];
		int replaced;
		if (!(cn->flags & NODE_MASTER) || cn->nslots == 0 || member_by_id(rc, cn->id) >= 0 ||
		    view_by_id(rc, cn->id) >= 0)
			continue;
		replaced = member_at_address(rc, cn);
		if (has_live_replica(ref, cn->id)) {
			rc_msg(rc, "master %.8s (%s:%d) is down with %d slots; waiting for its replica to take over",
			       cn->id, cn->ip, cn->port, cn->nslots);
			return RECONCILE_WAIT;
		}
		if (replaced < 0 && !(cn->flags & (NODE_FAIL | NODE_NOADDR)))
			continue; /* not known to be gone yet: the drain step waits for it */
		if (!rc->o->reassign_lost_slots) {
			rc_msg(rc,
			       "master %.8s (%s:%d) is gone with %d slots and no replica%s; its keys are on no member. "
			       "Bring it back, or allow reassigning lost slots (ephemeral mode or --reassign-lost-slots)",
			       cn->id, cn->ip, cn->port, cn->nslots,
			       replaced >= 0 ? " (its address answers as a new node)" : "");
			return RECONCILE_WAIT;
		}
		if (replaced >= 0 && target_member < 0) {
			int t = topology_find(ref, member_view(rc, (size_t)replaced)->id);
			if (t >= 0 && (ref->nodes[t].flags & NODE_MASTER) && ref->nodes[t].nslots == 0)
				target_member = replaced;
		}
		if (nlost < sizeof(lost) / sizeof(lost[0])) {
			lost[nlost++] = cn->id;
			nslots += cn->nslots;
		}
	}
	/* Unowned in every reachable view (a claim just made by a node may not
	 * have reached the others yet). */
	for (int s = 0; s < CLUSTER_SLOTS; s++) {
		int owned = ref->slot_owner[s] >= 0;
		for (size_t i = 0; i < rc->snap->nviews && !owned; i++)
			if (rc->snap->views[i].reachable && rc->snap->views[i].topo)
				owned = rc->snap->views[i].topo->slot_owner[s] >= 0;
		if (!owned)
			uncovered++;
	}
	if (nlost == 0 && uncovered == 0)
		return -1;
	if (nlost == 0 && !rc->o->reassign_lost_slots) {
		rc_msg(rc, "%d slots have no owner; allow reassigning lost slots to give them to the members",
		       uncovered);
		return RECONCILE_WAIT;
	}
	/* Target: the replacement instance, else the member master with the
	 * fewest slots. The rebalance step evens things out afterwards. */
	if (target_member >= 0) {
		target = target_member;
	} else {
		int best = CLUSTER_SLOTS + 1;
		for (size_t i = 0; i < rc->m->n; i++) {
			int t = topology_find(ref, member_view(rc, i)->id);
			if (t < 0 || !(ref->nodes[t].flags & NODE_MASTER) || !node_is_live(&ref->nodes[t]))
				continue;
			if (ref->nodes[t].nslots < best) {
				best = ref->nodes[t].nslots;
				target = (int)i;
			}
		}
	}
	if (target < 0) {
		rc_msg(rc, "%d slots are lost and no member is a master to take them", nslots + uncovered);
		return RECONCILE_WAIT;
	}
	ranges = calloc(CLUSTER_SLOTS / 2 + 1, sizeof(*ranges));
	if (!ranges) {
		seterr(err, errlen, "out of memory");
		goto done;
	}
	for (size_t j = 0; j < nlost; j++) {
		rc_action(rc, "forgetting lost master %.8s on every node", lost[j]);
		if (forget_everywhere(rc, lost[j], 1, err, errlen) < 0)
			goto done;
	}
	/* After the forget, every node sees those slots unassigned. */
	for (int s = 0; s < CLUSTER_SLOTS; s++) {
		int o = ref->slot_owner[s], lostslot = o < 0;
		for (size_t i = 0; i < rc->snap->nviews && o < 0 && lostslot; i++)
			if (rc->snap->views[i].reachable && rc->snap->views[i].topo &&
			    rc->snap->views[i].topo->slot_owner[s] >= 0)
				lostslot = 0;
		for (size_t j = 0; j < nlost && o >= 0 && !lostslot; j++)
			lostslot = strcmp(ref->nodes[o].id, lost[j]) == 0;
		if (!lostslot)
			continue;
		if (nranges && ranges[nranges - 1].end == s - 1)
			ranges[nranges - 1].end = s;
		else
			ranges[nranges++] = (struct slot_range){s, s};
	}
	{
		const struct node_view *tv = member_view(rc, (size_t)target);
		struct node_conn *c = rc_conn(rc, (size_t)target, err, errlen);
		rc_action(rc, "node %s:%d: taking over %d lost slots in %zu ranges, empty (their keys are gone)",
			  tv->addr.host, tv->addr.port, nslots + uncovered, nranges);
		if (!c || op_addslots(c, ranges, nranges, err, errlen) < 0 ||
		    node_command_ok(c, err, errlen, "CLUSTER BUMPEPOCH") < 0)
			goto done;
	}
	res = RECONCILE_PROGRESS;
done:
	free(ranges);
	return res;
}

/* ---- too few masters ------------------------------------------------ */

/* The member replica (member index) whose own view says it replicates a
 * master that is up, reachable and holds slots, chosen by want: a leaving
 * master's synced replica (FAILOVER), or else one of a master that keeps more
 * than R member replicas without it (detach; one whose link is down first,
 * then the last member). *mk gets the master's index in ref. -1 if none. */
enum spare_kind { SPARE_OF_LEAVING, SPARE_SURPLUS };

static int pick_spare_replica(const struct rc *rc, const struct topology *ref, const int *nrep, enum spare_kind want,
			      int *mk)
{
	int best = -1, best_up = 1;

	for (size_t i = 0; i < rc->m->n; i++) {
		const struct node_view *v = member_view(rc, i);
		const struct cluster_node *me = &v->topo->nodes[v->topo->myself];
		const struct cluster_node *cm;
		int k, leaving;
		if (!(me->flags & NODE_REPLICA) || own_slots(v) > 0 || (k = topology_find(ref, me->master_id)) < 0)
			continue;
		cm = &ref->nodes[k];
		if (!(cm->flags & NODE_MASTER) || (cm->flags & (NODE_FAIL | NODE_PFAIL)) || !node_is_live(cm) ||
		    cm->nslots == 0 || !own_view_master(rc, cm->id, 1))
			continue;
		leaving = member_by_id(rc, cm->id) < 0;
		if (want == SPARE_OF_LEAVING) {
			if (!leaving || !v->master_link_up)
				continue;
			*mk = k;
			return (int)i;
		}
		if (nrep[k] <= rc->o->replicas)
			continue;
		if (best < 0 || best_up || !v->master_link_up) {
			best = (int)i;
			best_up = v->master_link_up;
			*mk = k;
		}
	}
	return best;
}

/* Fewer member masters (with slots, plus the empty ones the slot step fills)
 * than wanted, with no empty member left to become one: failovers turned
 * masters into replicas and a scale down then took the masters away, or a
 * drain gave every slot to the one master left and Valkey's replica migration
 * made the others its replicas. A member replica becomes a master:
 * - a synced replica of a leaving master takes over its slots by a
 *   coordinated CLUSTER FAILOVER (the master pauses writes until the replica
 *   has caught up, so nothing acknowledged is lost, and no key moves); the
 *   old master is then a replica that step 5 forgets;
 * - else a replica whose master keeps more than R replicas without it is
 *   detached: CLUSTER RESET HARD (never on a master: the role is asked right
 *   before, and Valkey refuses a master with keys; the replica's keys are a
 *   copy its master keeps), met again under its new id, its old id forgotten
 *   everywhere; the slot step then fills it.
 * have: the member masters (with slots, plus the empty ones the slot step
 * fills), as step 3 counted them. One node per step. Returns -1 when nothing
 * applies (or nothing can yet), else the step's result. */
static int add_master_from_replica(struct rc *rc, const struct topology *ref, const int *nrep, int have, int wanted,
				   char *err, size_t errlen)
{
	int mk = -1, i, m, wait = rc->o->converge_ms > 0 ? rc->o->converge_ms : 10000;
	const struct node_view *v;
	struct node_conn *c, *oc;
	redisReply *r = NULL;
	char newid[NODE_ID_LEN + 1], oldid[NODE_ID_LEN + 1];

	if (have >= wanted)
		return -1;
	if ((i = pick_spare_replica(rc, ref, nrep, SPARE_OF_LEAVING, &mk)) >= 0) {
		v = member_view(rc, (size_t)i);
		rc_action(rc,
			  "node %s:%d: taking over the %d slots of leaving master %s:%d (coordinated failover; %d "
			  "of %d masters)",
			  v->addr.host, v->addr.port, ref->nodes[mk].nslots, ref->nodes[mk].ip, ref->nodes[mk].port,
			  have, wanted);
		/* Until the old master has seen it too, both claim the slots in
		 * their own views (the open-slot step would call that a conflict). */
		if (!(c = rc_conn(rc, (size_t)i, err, errlen)) ||
		    !(oc = rc_conn(rc, (size_t)view_by_id(rc, ref->nodes[mk].id), err, errlen)))
			return RECONCILE_ERROR;
		if ((m = op_failover(c, wait, err, errlen)) == 1)
			m = op_wait_role(oc, 0, wait, err, errlen);
		if (m < 0)
			return RECONCILE_ERROR;
		if (m == 0) {
			rc_msg(rc, "node %s:%d: failover from %s:%d has not finished yet", v->addr.host, v->addr.port,
			       ref->nodes[mk].ip, ref->nodes[mk].port);
			return RECONCILE_WAIT;
		}
		return RECONCILE_PROGRESS;
	}
	/* None to spare yet: the slot step goes on (it waits itself for a
	 * syncing replica); a drain onto the masters left makes the replicas of
	 * the drained ones spare. */
	if ((i = pick_spare_replica(rc, ref, nrep, SPARE_SURPLUS, &mk)) < 0)
		return -1;
	v = member_view(rc, (size_t)i);
	snprintf(oldid, sizeof(oldid), "%s", v->id);
	rc_action(rc, "node %s:%d: leaving %s:%d (which keeps %d replicas) to become a master (%d of %d masters)",
		  v->addr.host, v->addr.port, ref->nodes[mk].ip, ref->nodes[mk].port, nrep[mk] - 1, have, wanted);
	if (!(c = rc_conn(rc, (size_t)i, err, errlen)) || (m = op_is_master(c, err, errlen)) < 0)
		return RECONCILE_ERROR;
	if (m == 1) {
		rc_msg(rc, "node %s:%d: is a master now, not reset", v->addr.host, v->addr.port);
		return RECONCILE_WAIT;
	}
	if (node_command_ok(c, err, errlen, "CLUSTER RESET HARD") < 0 ||
	    !(r = node_command(c, err, errlen, "CLUSTER MYID")))
		return RECONCILE_ERROR;
	if (r->type != REDIS_REPLY_STRING || r->len != NODE_ID_LEN) {
		freeReplyObject(r);
		seterr(err, errlen, "node %s:%d: CLUSTER MYID: unexpected reply", v->addr.host, v->addr.port);
		return RECONCILE_ERROR;
	}
	snprintf(newid, sizeof(newid), "%s", r->str);
	freeReplyObject(r);
	/* It meets its former master (up and reachable, checked above), which
	 * knows the rest. */
	rc_action(rc, "node %s:%d: reset as %.8s, meeting %s:%d; forgetting %.8s", v->addr.host, v->addr.port, newid,
		  ref->nodes[mk].ip, ref->nodes[mk].port, oldid);
	if (op_meet(c, ref->nodes[mk].ip, ref->nodes[mk].port, err, errlen) < 0 ||
	    forget_everywhere(rc, oldid, 1, err, errlen) < 0)
		return RECONCILE_ERROR;
	return RECONCILE_PROGRESS;
}

static enum reconcile_result do_existing(struct rc *rc, int refi)
{
	const struct node_view *refv = member_view(rc, (size_t)refi);
	const struct topology *ref = refv->topo;
	char err[512];
	int did = 0;
	int nmembers_masters_wanted = (int)(rc->m->n / (size_t)(rc->o->replicas + 1));
	int *nrep = NULL, *is_target = NULL;
	int masters = 0; /* member masters with slots, plus the empty ones step 4 fills */
	const char **drain = NULL, **exclude = NULL;
	size_t ndrain = 0, nexclude = 0;
	struct plan *plan = NULL;
	struct slot_fix *fixes = NULL;
	size_t nfixes = 0;
	enum reconcile_result res = RECONCILE_ERROR;

	if (nmembers_masters_wanted < 1)
		nmembers_masters_wanted = 1;
	rc->ref = ref;

	/* 0. Whose cluster is it? When some members are outside it and the members
	 * inside are outnumbered by nodes that are not members, it is another
	 * cluster that one of our instances belongs to, not ours shrinking. */
	{
		size_t in_c = 0, others = 0;
		for (size_t i = 0; i < rc->m->n; i++) {
			int k = topology_find(ref, member_view(rc, i)->id);
			if (k >= 0 && node_is_live(&ref->nodes[k]))
				in_c++;
		}
		for (size_t k = 0; k < ref->nnodes; k++)
			if (node_is_live(&ref->nodes[k]) && member_by_id(rc, ref->nodes[k].id) < 0)
				others++;
		if (in_c < rc->m->n && in_c < others) {
			rc_msg(rc,
			       "node %s:%d already belongs to another cluster (%zu of its %zu nodes are not members); nothing changed",
			       refv->addr.host, refv->addr.port, others, ref->nnodes);
			return RECONCILE_REFUSED;
		}
	}

	/* 1. Members the cluster does not know (or knows at another address) are
	 * met; members that belong elsewhere are refused before anything changes. */
	for (size_t i = 0; i < rc->m->n; i++) {
		const struct node_view *v = member_view(rc, i);
		int k = topology_find(ref, v->id);
		if (k >= 0 && node_is_live(&ref->nodes[k]) && strcmp(ref->nodes[k].ip, v->addr.host) == 0 &&
		    ref->nodes[k].port == v->addr.port)
			continue;
		if (k < 0 && (own_slots(v) > 0 || v->dbsize > 0) && !former_replica(v, ref)) {
			rc_msg(rc,
			       "node %s:%d already belongs to another cluster (owns %d slots, holds %lld keys, knows %zu nodes); nothing changed",
			       v->addr.host, v->addr.port, own_slots(v), v->dbsize, v->topo->nnodes);
			return RECONCILE_REFUSED;
		}
	}
	for (size_t i = 0; i < rc->m->n; i++) {
		const struct node_view *v = member_view(rc, i);
		int k = topology_find(ref, v->id);
		struct node_conn *c;
		if (k >= 0 && node_is_live(&ref->nodes[k]) && strcmp(ref->nodes[k].ip, v->addr.host) == 0 &&
		    ref->nodes[k].port == v->addr.port)
			continue;
		rc_action(rc, "node %s:%d: %s", v->addr.host, v->addr.port,
			  k < 0 ? "joining the cluster" : "re-meeting at its new address");
		if (!(c = rc_conn(rc, (size_t)refi, err, sizeof(err))) ||
		    op_meet(c, v->addr.host, v->addr.port, err, sizeof(err)) < 0)
			goto fail;
		did = 1;
	}
	if (did) {
		int w = wait_members_known(rc, err, sizeof(err));
		if (w < 0)
			goto fail;
		res = RECONCILE_PROGRESS;
		goto done;
	}

	/* 1b. A master that set IMPORTING on a slot before it had learnt the
	 * slot's owner ignores every later ownership update for it (Redis 7 and
	 * Valkey skip importing slots), so it sees the slot unowned for good and
	 * refuses the keys with "Hash slot not served". Tell it the owner; that
	 * also clears the mark, and the resume below opens the slot again. */
	for (size_t i = 0; i < rc->m->n; i++) {
		const struct node_view *v = member_view(rc, i);
		const struct cluster_node *me = &v->topo->nodes[v->topo->myself];
		struct node_conn *c;
		if (!(me->flags & NODE_MASTER))
			continue;
		for (size_t j = 0; j < me->nopen; j++) {
			int s = me->open[j].slot, owner = ref->slot_owner[s];
			if (!me->open[j].importing || v->topo->slot_owner[s] >= 0 || owner < 0)
				continue;
			rc_action(rc,
				  "node %s:%d: imports slot %d but has not learnt its owner; telling it %s:%d owns it",
				  v->addr.host, v->addr.port, s, ref->nodes[owner].ip, ref->nodes[owner].port);
			if (!(c = rc_conn(rc, i, err, sizeof(err))) ||
			    node_command_ok(c, err, sizeof(err), "CLUSTER SETSLOT %d NODE %s", s,
					    ref->nodes[owner].id) < 0)
				goto fail;
			did = 1;
		}
	}
	if (did) {
		res = RECONCILE_PROGRESS;
		goto done;
	}

	/* 1c. Slots of masters that are gone for good. */
	{
		int l = fix_lost_slots(rc, ref, err, sizeof(err));
		if (l == RECONCILE_ERROR)
			goto fail;
		if (l >= 0) {
			res = (enum reconcile_result)l;
			goto done;
		}
	}

	/* 2. Open slots from an interrupted migration are finished or rolled back
	 * before anything else moves. */
	{
		const struct topology **views = calloc(rc->snap->nviews, sizeof(*views));
		size_t nv = 0;
		if (!views) {
			snprintf(err, sizeof(err), "out of memory");
			goto fail;
		}
		/* Replicas mirror their master's open slots (Valkey 8 replicates
		 * SETSLOT); only masters' own views say what is in flight. */
		for (size_t i = 0; i < rc->snap->nviews; i++) {
			const struct node_view *v = &rc->snap->views[i];
			if (!v->reachable || !v->topo || v->topo->myself < 0 ||
			    !(v->topo->nodes[v->topo->myself].flags & NODE_MASTER))
				continue;
			views[nv++] = v->topo;
		}
		if (plan_fix_open_slots(ref, views, nv, count_keys_cb, rc, &fixes, &nfixes, err, sizeof(err)) < 0) {
			free(views);
			goto fail;
		}
		free(views);
		if (nfixes) {
			rc_action(rc, "finishing %zu open slot(s) left by an interrupted migration", nfixes);
			if (rc_migrate(rc, ref, NULL, 0, fixes, nfixes, err, sizeof(err)) < 0)
				goto fail;
			res = RECONCILE_PROGRESS;
			goto done;
		}
	}

	/* 2b. A replica left with an open slot its master no longer has (it was
	 * syncing when the migration ended): the master re-announces the owner,
	 * which replicates and clears it. */
	for (size_t i = 0; i < rc->m->n; i++) {
		const struct node_view *v = member_view(rc, i);
		const struct cluster_node *me = &v->topo->nodes[v->topo->myself];
		const struct node_view *mv;
		int mvi;
		struct node_conn *c;
		if (!(me->flags & NODE_REPLICA) || me->nopen == 0 || (mvi = view_by_id(rc, me->master_id)) < 0)
			continue;
		mv = &rc->snap->views[mvi];
		for (size_t j = 0; j < me->nopen; j++) {
			int s = me->open[j].slot, owner = mv->topo->slot_owner[s], busy = 0;
			const struct cluster_node *mme = &mv->topo->nodes[mv->topo->myself];
			for (size_t q = 0; q < mme->nopen; q++)
				if (mme->open[q].slot == s)
					busy = 1;
			if (busy || owner < 0)
				continue;
			/* Both are replicated (Valkey 8); a replica clears an IMPORTING
			 * mark on STABLE, not on NODE naming its own primary. */
			rc_action(rc, "node %s:%d: clearing stale open slot %d on its replica %s:%d", mv->addr.host,
				  mv->addr.port, s, v->addr.host, v->addr.port);
			if (!(c = rc_conn(rc, (size_t)mvi, err, sizeof(err))) ||
			    node_command_ok(c, err, sizeof(err), "CLUSTER SETSLOT %d STABLE", s) < 0 ||
			    node_command_ok(c, err, sizeof(err), "CLUSTER SETSLOT %d NODE %s", s,
					    mv->topo->nodes[owner].id) < 0)
				goto fail;
			did = 1;
		}
	}
	if (did) {
		res = RECONCILE_PROGRESS;
		goto done;
	}

	/* 3. Roles of empty member masters: replica where a master needs one,
	 * else a new master that will receive slots. */
	nrep = calloc(ref->nnodes, sizeof(int));
	is_target = calloc(ref->nnodes, sizeof(int));
	drain = calloc(ref->nnodes, sizeof(*drain));
	exclude = calloc(ref->nnodes, sizeof(*exclude));
	if (!nrep || !is_target || !drain || !exclude) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	for (size_t k = 0; k < ref->nnodes; k++) {
		const struct cluster_node *cn = &ref->nodes[k];
		if (member_by_id(rc, cn->id) < 0)
			continue;
		if ((cn->flags & NODE_REPLICA) && node_is_live(cn)) {
			int mk = topology_find(ref, cn->master_id);
			if (mk >= 0)
				nrep[mk]++;
		}
		if ((cn->flags & NODE_MASTER) && cn->nslots > 0)
			masters++;
	}
	for (size_t i = 0; i < rc->m->n; i++) {
		const struct node_view *v = member_view(rc, i);
		int k = topology_find(ref, v->id);
		int mk;
		struct node_conn *c;
		if (k < 0 || !(ref->nodes[k].flags & NODE_MASTER) || ref->nodes[k].nslots > 0 ||
		    !own_view_master(rc, v->id, 0) || own_slots(v) > 0)
			continue;
		if (rc->o->replicas > 0) {
			mk = pick_master_for_replica(rc, ref, nrep, is_target, (int)i, 1);
			if (mk < 0 && masters >= nmembers_masters_wanted)
				mk = pick_master_for_replica(rc, ref, nrep, is_target, (int)i, 0);
			if (mk >= 0) {
				rc_action(rc, "node %s:%d: replicating %s:%d", v->addr.host, v->addr.port,
					  ref->nodes[mk].ip, ref->nodes[mk].port);
				if (!(c = rc_conn(rc, i, err, sizeof(err))) ||
				    op_replicate(c, ref->nodes[mk].id, err, sizeof(err)) < 0)
					goto fail;
				nrep[mk]++;
				did = 1;
				continue;
			}
		}
		is_target[k] = 1;
		masters++;
	}
	if (did) {
		res = RECONCILE_PROGRESS;
		goto done;
	}

	/* 3b. Replicas spread: a member master that owns slots and has fewer
	 * than R replicas takes a member replica from a master that has more.
	 * Valkey moves the replicas of a master that gave away its last slot to
	 * the master that took it (replica migration), which may have its own
	 * already; after a scale down one shard could stay without a replica. */
	for (size_t k = 0; rc->o->replicas > 0 && k < ref->nnodes && !did; k++) {
		const struct cluster_node *cn = &ref->nodes[k];
		int ki = member_by_id(rc, cn->id);
		if (!(cn->flags & NODE_MASTER) || (cn->flags & (NODE_FAIL | NODE_PFAIL)) || cn->nslots == 0 ||
		    !node_is_live(cn) || ki < 0 || nrep[k] >= rc->o->replicas)
			continue;
		for (size_t j = 0; j < ref->nnodes && !did; j++) {
			const struct cluster_node *r = &ref->nodes[j];
			int mk, mi = member_by_id(rc, r->id);
			struct node_conn *c;
			if (mi < 0 || !(r->flags & NODE_REPLICA) || !node_is_live(r) ||
			    (mk = topology_find(ref, r->master_id)) < 0 || nrep[mk] <= rc->o->replicas ||
			    strcmp(rc->m->v[mi].host, rc->m->v[ki].host) == 0)
				continue;
			rc_action(rc, "node %s:%d: replicating %s:%d (its master has %d replicas, that one %d)", r->ip,
				  r->port, cn->ip, cn->port, nrep[mk], nrep[k]);
			if (!(c = rc_conn(rc, (size_t)mi, err, sizeof(err))) ||
			    op_replicate(c, cn->id, err, sizeof(err)) < 0)
				goto fail;
			did = 1;
		}
	}
	if (did) {
		res = RECONCILE_PROGRESS;
		goto done;
	}

	/* 3c. Too few masters: a member replica becomes one. */
	{
		int a = add_master_from_replica(rc, ref, nrep, masters, nmembers_masters_wanted, err, sizeof(err));
		if (a == RECONCILE_ERROR)
			goto fail;
		if (a >= 0) {
			res = (enum reconcile_result)a;
			goto done;
		}
	}

	/* 4. Slots move: off leaving masters, off masters beyond the wanted count
	 * (they become replicas next step), onto new masters, and to balance. */
	{
		int masters_with_slots = 0, mn = CLUSTER_SLOTS + 1, mx = -1, ntargets = 0;
		for (size_t k = 0; k < ref->nnodes; k++) {
			const struct cluster_node *cn = &ref->nodes[k];
			if (!(cn->flags & NODE_MASTER) || !node_is_live(cn))
				continue;
			if (cn->nslots > 0 && member_by_id(rc, cn->id) < 0) {
				if (view_by_id(rc, cn->id) < 0) {
					rc_msg(rc,
					       "node %s:%d left with %d slots and is unreachable; waiting for failover",
					       cn->ip, cn->port, cn->nslots);
					res = RECONCILE_WAIT;
					goto done;
				}
				drain[ndrain++] = cn->id;
				continue;
			}
			if (cn->nslots > 0) {
				masters_with_slots++;
				if (cn->nslots < mn)
					mn = cn->nslots;
				if (cn->nslots > mx)
					mx = cn->nslots;
			}
			if (is_target[k])
				ntargets++;
		}
		/* Demote surplus masters, last members first. */
		for (size_t i = rc->m->n; i-- > 0 && masters_with_slots + ntargets > nmembers_masters_wanted;) {
			int k = topology_find(ref, member_view(rc, i)->id);
			if (k >= 0 && (ref->nodes[k].flags & NODE_MASTER) && ref->nodes[k].nslots > 0) {
				drain[ndrain++] = ref->nodes[k].id;
				masters_with_slots--;
			}
		}
		if (rc->o->rebalance && (ndrain || ntargets || (masters_with_slots > 1 && mx - mn > 1))) {
			/* Move only onto a converged cluster: every member master sees
			 * cluster_state:ok (a new master is not ok for a rejoin delay
			 * after it joins and refuses keys with CLUSTERDOWN) and the same
			 * owner for every slot (a target that opens a slot before it
			 * knows the owner never learns it). */
			{
				char why[256];
				if (cluster_converged(rc->snap, rc->m->n, ref, why, sizeof(why)) < 0) {
					rc_msg(rc, "waiting before moving slots: %s", why);
					res = RECONCILE_WAIT;
					goto done;
				}
			}
			/* Valkey 8 replicates SETSLOT and waits for replicas: move only
			 * once every member replica has finished its initial sync. */
			for (size_t i = 0; i < rc->m->n; i++) {
				const struct node_view *v = member_view(rc, i);
				if ((v->topo->nodes[v->topo->myself].flags & NODE_REPLICA) && !v->master_link_up) {
					rc_msg(rc, "waiting for replica %s:%d to finish syncing before moving slots",
					       v->addr.host, v->addr.port);
					res = RECONCILE_WAIT;
					goto done;
				}
			}
			/* Masters that are no members and own nothing (gone, e.g. the
			 * old id of a master killed and failed over, or leaving) take
			 * no part: step 5 forgets them, and the planner refuses a
			 * failing one, which would block the move for good. */
			for (size_t k = 0; k < ref->nnodes; k++)
				if ((ref->nodes[k].flags & NODE_MASTER) && ref->nodes[k].nslots == 0 &&
				    member_by_id(rc, ref->nodes[k].id) < 0)
					exclude[nexclude++] = ref->nodes[k].id;
			struct plan_opts po;
			memset(&po, 0, sizeof(po));
			po.use_empty_masters = ntargets > 0;
			po.drain_ids = drain;
			po.ndrain = ndrain;
			po.exclude_ids = exclude;
			po.nexclude = nexclude;
			if (plan_rebalance(ref, &po, &plan, err, sizeof(err)) < 0)
				goto fail;
			if (plan->nmoves) {
				rc_action(rc, "moving %zu slots (%zu masters leaving, %d new)", plan->nmoves, ndrain,
					  ntargets);
				if (rc_migrate(rc, ref, plan->moves, plan->nmoves, NULL, 0, err, sizeof(err)) < 0)
					goto fail;
				res = RECONCILE_PROGRESS;
				goto done;
			}
		}
	}

	/* 5. Nodes that left and hold no slots: their member replicas are
	 * re-pointed, then every node forgets them. */
	for (size_t k = 0; k < ref->nnodes; k++) {
		const struct cluster_node *cn = &ref->nodes[k];
		if (member_by_id(rc, cn->id) >= 0 || cn->nslots > 0 || (cn->flags & (NODE_MYSELF | NODE_HANDSHAKE)))
			continue;
		if (cn->flags & NODE_MASTER) {
			for (size_t j = 0; j < ref->nnodes; j++) {
				const struct cluster_node *r = &ref->nodes[j];
				int mi = member_by_id(rc, r->id), mk;
				struct node_conn *c;
				if (mi < 0 || !(r->flags & NODE_REPLICA) || strcmp(r->master_id, cn->id) != 0)
					continue;
				mk = pick_master_for_replica(rc, ref, nrep, is_target, mi, 1);
				if (mk < 0)
					mk = pick_master_for_replica(rc, ref, nrep, is_target, mi, 0);
				if (mk < 0)
					continue;
				rc_action(rc, "node %s:%d: replicating %s:%d (its master is leaving)", r->ip, r->port,
					  ref->nodes[mk].ip, ref->nodes[mk].port);
				if (!(c = rc_conn(rc, (size_t)mi, err, sizeof(err))) ||
				    op_replicate(c, ref->nodes[mk].id, err, sizeof(err)) < 0)
					goto fail;
				nrep[mk]++;
				did = 1;
			}
			if (did) {
				res = RECONCILE_PROGRESS;
				goto done;
			}
		}
		rc_action(rc, "forgetting node %.8s (%s:%d) on every member", cn->id, cn->ip, cn->port);
		if (forget_everywhere(rc, cn->id, 0, err, sizeof(err)) < 0)
			goto fail;
		did = 1;
	}
	if (did) {
		res = RECONCILE_PROGRESS;
		goto done;
	}

	/* 5b. Dead ids only some members still know (the view acted on may be a
	 * node that never learnt them, e.g. an instance that restarted empty):
	 * every node forgets them too, or the health check waits forever. */
	for (size_t i = 0; i < rc->m->n && !did; i++) {
		const struct topology *t = member_view(rc, i)->topo;
		for (size_t k = 0; t && k < t->nnodes && !did; k++) {
			const struct cluster_node *cn = &t->nodes[k];
			int rk = topology_find(ref, cn->id);
			if ((cn->flags & (NODE_MYSELF | NODE_HANDSHAKE)) || member_by_id(rc, cn->id) >= 0 ||
			    cn->nslots > 0 || view_by_id(rc, cn->id) >= 0 || (rk >= 0 && ref->nodes[rk].nslots > 0))
				continue;
			rc_action(rc, "forgetting node %.8s (%s:%d), still known to %s:%d, on every member", cn->id,
				  cn->ip, cn->port, member_view(rc, i)->addr.host, member_view(rc, i)->addr.port);
			if (forget_everywhere(rc, cn->id, 0, err, sizeof(err)) < 0)
				goto fail;
			did = 1;
		}
	}
	if (did) {
		res = RECONCILE_PROGRESS;
		goto done;
	}

	/* 6. Nothing to change: healthy and shaped as wanted? */
	{
		struct cluster_snapshot members_only = {rc->snap->views, rc->m->n};
		struct health_expect e = {nmembers_masters_wanted, -1, (int)rc->m->n, 0, 0, 0};
		struct health_report hr;
		int h = health_check(&members_only, &e, &hr);
		if (h == 0) {
			rc_msg(rc, "healthy: %d masters, %d replicas", hr.masters, hr.replicas);
			res = RECONCILE_DONE;
		} else {
			rc_msg(rc, "waiting: %s%s", hr.nproblems ? hr.problems[0] : "unhealthy",
			       hr.nproblems > 1 ? " (and more)" : "");
			res = RECONCILE_WAIT;
		}
		health_report_free(&hr);
	}
	goto done;
fail:
	rc_msg(rc, "%s", err);
	res = RECONCILE_ERROR;
done:
	plan_free(plan);
	free(fixes);
	free(nrep);
	free(is_target);
	free(drain);
	free(exclude);
	return res;
}

enum reconcile_result reconcile_step(const struct member_list *members, const struct reconcile_opts *o, char *msg,
				     size_t msglen)
{
	struct rc rc;
	struct hostport *addrs = NULL;
	struct cluster_gather_opts go;
	struct boot_plan bp;
	char err[512], why[256];
	enum reconcile_result res = RECONCILE_ERROR;
	int any_slots = 0, refi;

	memset(&rc, 0, sizeof(rc));
	memset(&bp, 0, sizeof(bp));
	rc.m = members;
	rc.o = o;
	rc.msg = msg;
	rc.msglen = msglen;
	if (members->n == 0) {
		rc_msg(&rc, "no members");
		return RECONCILE_ERROR;
	}
	addrs = calloc(members->n, sizeof(*addrs));
	if (!addrs)
		goto oom;
	for (size_t i = 0; i < members->n; i++)
		addrs[i] = members->v[i].addr;
	memset(&go, 0, sizeof(go));
	go.password = o->password;
	go.timeout_ms = o->timeout_ms;
	go.follow = 1;
	if (cluster_gather(addrs, members->n, &go, &rc.snap, err, sizeof(err)) < 0) {
		rc_msg(&rc, "%s", err);
		goto done;
	}
	rc.conns = calloc(rc.snap->nviews, sizeof(*rc.conns));
	if (!rc.conns)
		goto oom;
	for (size_t i = 0; i < members->n; i++) {
		const struct node_view *v = member_view(&rc, i);
		if (!v->reachable) {
			rc_msg(&rc, "%s", v->error);
			res = RECONCILE_WAIT;
			goto done;
		}
		if (!v->cluster_enabled) {
			rc_msg(&rc, "%s", v->error);
			res = RECONCILE_REFUSED;
			goto done;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(member_view(&rc, j)->id, v->id) == 0) {
				rc_msg(&rc, "instances %s:%d and %s:%d are the same node",
				       member_view(&rc, j)->addr.host, member_view(&rc, j)->addr.port, v->addr.host,
				       v->addr.port);
				res = RECONCILE_REFUSED;
				goto done;
			}
		if (v->info.slots_assigned > 0)
			any_slots = 1;
	}
	if (boot_plan_make(members, o->replicas, &bp) < 0)
		goto oom;
	refi = cluster_pick_ref(rc.snap, members->n, 1);
	if (boot_compatible(&rc, &bp, why, sizeof(why))) {
		res = do_bootstrap(&rc, &bp);
		/* A finished bootstrap is confirmed by the health check below. */
		if (res == RECONCILE_WAIT && strstr(msg, "complete"))
			res = any_slots ? do_existing(&rc, refi >= 0 ? refi : 0) : RECONCILE_PROGRESS;
		goto done;
	}
	if (!any_slots) {
		rc_msg(&rc, "cannot bootstrap: %s; nothing changed", why);
		res = RECONCILE_REFUSED;
		goto done;
	}
	res = do_existing(&rc, refi);
	goto done;
oom:
	rc_msg(&rc, "out of memory");
	res = RECONCILE_ERROR;
done:
	boot_plan_free(&bp);
	if (rc.conns)
		for (size_t i = 0; rc.snap && i < rc.snap->nviews; i++)
			node_close(rc.conns[i]);
	free(rc.conns);
	cluster_snapshot_free(rc.snap);
	free(addrs);
	return res;
}

enum reconcile_result reconcile_until_done(const struct member_list *members, const struct reconcile_opts *o,
					   int deadline_ms, char *msg, size_t msglen)
{
	int64_t end = now_ms() + deadline_ms;
	enum reconcile_result r;
	int pause = 25;

	for (;;) {
		r = reconcile_step(members, o, msg, msglen);
		if (r == RECONCILE_DONE || r == RECONCILE_REFUSED || now_ms() >= end)
			return r;
		if (r == RECONCILE_PROGRESS) {
			pause = 25;
			continue;
		}
		/* Short polls while convergence is seconds away; back off when a
		 * wait is long (an unreachable member), to keep the load down. */
		sleep_ms(pause);
		if (now_ms() - (end - deadline_ms) > 5000 && pause < 500)
			pause *= 2;
	}
}
