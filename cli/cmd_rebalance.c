/* autoshard rebalance: plan and move slots with their keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cluster.h"
#include "config.h"
#include "log.h"
#include "node.h"
#include "planner.h"
#include "ops.h"
#include "rebalance.h"

#define NOPTS(t) (sizeof(t) / sizeof((t)[0]))

static const struct cfg_option rebalance_opts[] = {
	{"seed", CFG_STRING, 0, 0, NULL, "AUTOSHARD_SEED", NULL, "any node of the cluster (HOST:PORT)"},
	{"password-file", CFG_STRING, 0, 0, NULL, NULL, NULL, "file holding the password"},
	{"use-empty-masters", CFG_BOOL, 0, 0, "false", NULL, NULL, "give slots to masters that have none"},
	{"weight", CFG_LIST, 0, 0, NULL, NULL, NULL, "NODE=W: NODE is an id, id prefix or HOST:PORT; W >= 0"},
	{"drain", CFG_LIST, 0, 0, NULL, NULL, NULL, "HOST:PORT or id of a master to empty"},
	{"dry-run", CFG_BOOL, 0, 0, "false", NULL, NULL, "print the plan and change nothing"},
	{"remove", CFG_BOOL, 0, 0, "false", NULL, NULL,
	 "after draining: re-point their replicas, forget drained nodes everywhere, reset them if empty"},
	{"slots-in-flight", CFG_INT, 1, 1024, "16", NULL, NULL, "slots moving at once per source->target pair"},
	{"keys-per-batch", CFG_INT, 1, 100000, "1000", NULL, NULL, "keys per MIGRATE"},
	{"timeout-ms", CFG_INT, 50, 600000, "2000", NULL, NULL, "connect/command timeout for reading the cluster"},
};

/* Node index in t for an id, id prefix (>= 6 chars) or HOST:PORT; -1 if none
 * or ambiguous. */
static int resolve_node(const struct topology *t, const char *spec)
{
	struct hostport hp;
	int found = -1;
	size_t l = strlen(spec);

	if (strchr(spec, ':') && hostport_parse(spec, 6379, &hp, NULL, 0) == 0) {
		for (size_t i = 0; i < t->nnodes; i++)
			if (t->nodes[i].port == hp.port &&
			    (!strcmp(t->nodes[i].ip, hp.host) || !strcmp(t->nodes[i].hostname, hp.host)))
				return (int)i;
		return -1;
	}
	if (l < 6)
		return -1;
	for (size_t i = 0; i < t->nnodes; i++)
		if (strncmp(t->nodes[i].id, spec, l) == 0) {
			if (found >= 0)
				return -1;
			found = (int)i;
		}
	return found;
}

struct keys_arg {
	const struct cluster_snapshot *snap;
	const struct topology *ref;
	const char *password;
};

static long long keys_in_slot(void *arg, int node_index, int slot)
{
	struct keys_arg *ka = arg;
	const struct node_view *v = cluster_view_by_id(ka->snap, ka->ref->nodes[node_index].id);
	struct node_conn *n;
	redisReply *r;
	long long k = -1;

	if (!v || !(n = node_connect(&v->addr, ka->password, 2000, NULL, 0)))
		return -1;
	r = node_command(n, NULL, 0, "CLUSTER COUNTKEYSINSLOT %d", slot);
	if (r && r->type == REDIS_REPLY_INTEGER)
		k = r->integer;
	if (r)
		freeReplyObject(r);
	node_close(n);
	return k;
}

static void print_plan(const struct topology *t, const struct plan *p)
{
	size_t i = 0;

	printf("plan: %zu slot moves over %d masters\n", p->nmoves, p->nmasters);
	while (i < p->nmoves) {
		size_t j = i;
		int src = p->moves[i].src, dst = p->moves[i].dst;
		printf("  %s:%d (%.8s) -> %s:%d (%.8s): ", t->nodes[src].ip, t->nodes[src].port, t->nodes[src].id,
		       t->nodes[dst].ip, t->nodes[dst].port, t->nodes[dst].id);
		while (j < p->nmoves && p->moves[j].src == src && p->moves[j].dst == dst)
			j++;
		/* ranges */
		for (size_t k = i; k < j;) {
			size_t e = k;
			while (e + 1 < j && p->moves[e + 1].slot == p->moves[e].slot + 1)
				e++;
			if (e == k)
				printf("%s%d", k == i ? "" : ",", p->moves[k].slot);
			else
				printf("%s%d-%d", k == i ? "" : ",", p->moves[k].slot, p->moves[e].slot);
			k = e + 1;
		}
		printf(" (%zu)\n", j - i);
		i = j;
	}
	for (size_t k = 0; k < t->nnodes; k++)
		if (p->target_slots && p->target_slots[k] >= 0)
			printf("  after: %s:%d (%.8s) %d slots (now %d)\n", t->nodes[k].ip, t->nodes[k].port,
			       t->nodes[k].id, p->target_slots[k], t->nodes[k].nslots);
}

/* After a drain: every replica of a drained master replicates a surviving
 * master (fewest replicas first), every other node forgets the drained ones
 * (within one blacklist window, so gossip cannot bring them back), and a
 * drained node that holds no key is soft-reset so it can be reused. */
static int remove_drained(const struct hostport *seed, const char *pw, char *const *drained, size_t ndrained)
{
	struct cluster_snapshot *snap = NULL;
	struct cluster_gather_opts go = {pw, 2000, 1};
	struct node_conn **conns = NULL;
	const struct topology *t;
	char err[512];
	int rc = -1;

	if (cluster_gather(seed, 1, &go, &snap, err, sizeof(err)) < 0 || !snap->views[0].topo) {
		fprintf(stderr, "autoshard: %s\n", snap ? snap->views[0].error : err);
		goto done;
	}
	t = snap->views[0].topo;
	conns = calloc(snap->nviews, sizeof(*conns));
	if (!conns)
		goto done;
	for (size_t i = 0; i < snap->nviews; i++) {
		int drained_node = 0;
		for (size_t d = 0; d < ndrained; d++)
			if (!strcmp(snap->views[i].id, drained[d]))
				drained_node = 1;
		if (snap->views[i].reachable && !drained_node &&
		    !(conns[i] = node_connect(&snap->views[i].addr, pw, 2000, err, sizeof(err)))) {
			fprintf(stderr, "autoshard: %s\n", err);
			goto done;
		}
	}
	for (size_t d = 0; d < ndrained; d++) {
		int k = topology_find(t, drained[d]);
		if (k >= 0 && t->nodes[k].nslots > 0) {
			fprintf(stderr, "autoshard: node %s:%d still owns %d slots; not removing it\n", t->nodes[k].ip,
				t->nodes[k].port, t->nodes[k].nslots);
			goto done;
		}
	}
	for (size_t i = 0; i < t->nnodes; i++) {
		const struct cluster_node *r = &t->nodes[i];
		int best = -1, bestn = 0, vi = -1, of_drained = 0;
		for (size_t d = 0; d < ndrained; d++)
			if (!strcmp(r->master_id, drained[d]))
				of_drained = 1;
		if (!(r->flags & NODE_REPLICA) || !of_drained)
			continue;
		for (size_t j = 0; j < snap->nviews; j++)
			if (!strcmp(snap->views[j].id, r->id))
				vi = (int)j;
		for (size_t k = 0; k < t->nnodes; k++) {
			int n = 0;
			if (!(t->nodes[k].flags & NODE_MASTER) || t->nodes[k].nslots == 0)
				continue;
			for (size_t q = 0; q < t->nnodes; q++)
				if ((t->nodes[q].flags & NODE_REPLICA) &&
				    !strcmp(t->nodes[q].master_id, t->nodes[k].id))
					n++;
			if (best < 0 || n < bestn) {
				best = (int)k;
				bestn = n;
			}
		}
		if (vi < 0 || best < 0 || !conns[vi])
			continue;
		printf("replica %s:%d now replicates %s:%d\n", r->ip, r->port, t->nodes[best].ip, t->nodes[best].port);
		if (op_replicate(conns[vi], t->nodes[best].id, err, sizeof(err)) < 0) {
			fprintf(stderr, "autoshard: %s\n", err);
			goto done;
		}
	}
	for (size_t d = 0; d < ndrained; d++) {
		if (op_forget_everywhere(conns, snap->nviews, drained[d], err, sizeof(err)) < 0) {
			fprintf(stderr, "autoshard: forgetting %.8s: %s\n", drained[d], err);
			goto done;
		}
		printf("node %.8s forgotten by every node\n", drained[d]);
	}
	for (size_t i = 0; i < snap->nviews; i++) {
		const struct node_view *v = &snap->views[i];
		struct node_conn *n;
		int drained_node = 0;
		for (size_t d = 0; d < ndrained; d++)
			if (!strcmp(v->id, drained[d]))
				drained_node = 1;
		if (!drained_node || !v->reachable)
			continue;
		if (v->dbsize != 0) {
			printf("node %s:%d holds %lld keys: left as it is (not reset)\n", v->addr.host, v->addr.port,
			       v->dbsize);
			continue;
		}
		if ((n = node_connect(&v->addr, pw, 2000, err, sizeof(err))) &&
		    node_command_ok(n, err, sizeof(err), "CLUSTER RESET SOFT") == 0)
			printf("node %s:%d reset: it is a fresh empty node now\n", v->addr.host, v->addr.port);
		else
			fprintf(stderr, "autoshard: %s\n", err);
		node_close(n);
	}
	rc = 0;
done:
	for (size_t i = 0; conns && i < snap->nviews; i++)
		node_close(conns[i]);
	free(conns);
	cluster_snapshot_free(snap);
	return rc;
}

/* Average dataset bytes per key over the masters that give slots away, for
 * the progress estimate; 0 when it cannot be read. */
static double bytes_per_key(const struct cluster_snapshot *snap, const char *pw)
{
	double bytes = 0, keys = 0;

	for (size_t i = 0; i < snap->nviews; i++) {
		const struct node_view *v = &snap->views[i];
		struct node_conn *n;
		redisReply *r;
		char val[32];
		if (!v->reachable || v->dbsize <= 0 || !(n = node_connect(&v->addr, pw, 2000, NULL, 0)))
			continue;
		r = node_command(n, NULL, 0, "INFO memory");
		if (r && r->type == REDIS_REPLY_STRING &&
		    info_get_field(r->str, r->len, "used_memory_dataset", val, sizeof(val)) == 0) {
			bytes += atof(val);
			keys += (double)v->dbsize;
		}
		if (r)
			freeReplyObject(r);
		node_close(n);
	}
	return keys > 0 ? bytes / keys : 0;
}

/* The bounded wait of one rebalance pass for gossip to settle: *since is
 * when this wait began (0: not waiting). Says why on stderr the first time
 * (*waited counts the waits of the whole run), sleeps ms and returns 1 to
 * look again, or 0 once WAIT_BOUND_MS have passed. */
#define WAIT_BOUND_MS 30000
static int wait_again(int64_t *since, int *waited, int ms, const char *why)
{
	if (!*since)
		*since = now_ms();
	if (now_ms() - *since > WAIT_BOUND_MS)
		return 0;
	if (!(*waited)++)
		fprintf(stderr, "waiting for %s\n", why);
	sleep_ms(ms);
	return 1;
}

int cmd_rebalance(int argc, char **argv)
{
	struct cfg c;
	struct cluster_snapshot *snap = NULL;
	struct plan *plan = NULL;
	struct plan_weight *weights = NULL;
	const char **drain = NULL, **drain_plan = NULL;
	struct slot_fix *fixes = NULL;
	size_t nfixes = 0, nweights = 0, ndrain = 0, ndrain_plan = 0;
	const struct cfg_value *wv, *dv;
	char *pw = NULL, err[512], perr[256];
	int rc = EXIT_FAILURE_GENERIC, refi;
	const struct topology *ref;
	struct migrator_opts mo;
	struct migrator_stats st;
	struct hostport seed;
	double avg_key_bytes = 0;
	int waited = 0, passes = 0; /* passes: plans executed so far */
	size_t moved_slots = 0;
	unsigned long long moved_keys = 0;
	int64_t t0, wait_from = 0;

	if (cfg_parse(&c, rebalance_opts, NOPTS(rebalance_opts), argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "autoshard: %s\n", err);
		return EXIT_USAGE;
	}
	if (cfg_handle_info(&c, "autoshard rebalance --seed HOST:PORT [--use-empty-masters] [--weight NODE=W ...] "
				"[--drain HOST:PORT ...] [--remove] [--dry-run]")) {
		cfg_free(&c);
		return 0;
	}
	if (secret_load_password(cfg_str(&c, "password-file"), &pw, err, sizeof(err)) < 0) {
		fprintf(stderr, "autoshard: %s\n", err);
		goto done;
	}
	if (!cfg_str(&c, "seed") || hostport_parse(cfg_str(&c, "seed"), 6379, &seed, perr, sizeof(perr)) < 0) {
		fprintf(stderr, "autoshard: --seed: %s\n", cfg_str(&c, "seed") ? perr : "required (HOST:PORT)");
		rc = EXIT_USAGE;
		goto done;
	}
	t0 = now_ms();
again:
	cluster_snapshot_free(snap);
	snap = NULL;
	{
		struct cluster_gather_opts go = {pw, (int)cfg_int(&c, "timeout-ms"), 1};
		if (cluster_gather(&seed, 1, &go, &snap, err, sizeof(err)) < 0) {
			fprintf(stderr, "autoshard: %s\n", err);
			goto done;
		}
	}
	if (!snap->views[0].reachable || !snap->views[0].cluster_enabled) {
		fprintf(stderr, "autoshard: %s\n", snap->views[0].error);
		goto done;
	}
	for (size_t i = 0; i < snap->nviews; i++) {
		if (snap->views[i].reachable && snap->views[i].topo)
			continue;
		/* After moves, a node may be busy for a few seconds: Valkey 8.0
		 * makes the replica of a master that gave away its last slot
		 * follow that slot, and its sync handshake can block it (up to
		 * repl-syncio-timeout). The closing pass waits for it, within the
		 * same bound as for convergence; before any move it is refused. */
		if (passes > 0) {
			char why[512];
			snprintf(why, sizeof(why), "node %s:%d after the moves: %s", snap->views[i].addr.host,
				 snap->views[i].addr.port, snap->views[i].error);
			if (wait_again(&wait_from, &waited, 200, why))
				goto again;
		}
		fprintf(stderr, "autoshard: %s; refusing to move slots while a node is %s%s\n", snap->views[i].error,
			snap->views[i].reachable ? "not usable" : "unreachable",
			passes > 0 ? " (30 s after the moves)" : "");
		goto done;
	}
	refi = cluster_pick_ref(snap, snap->nviews, 0);
	ref = snap->views[refi].topo;
	memset(&mo, 0, sizeof(mo));
	mo.password = pw;
	mo.slots_in_flight = (int)cfg_int(&c, "slots-in-flight");
	mo.keys_per_batch = (int)cfg_int(&c, "keys-per-batch");
	mo.progress = cli_progress;
	avg_key_bytes = bytes_per_key(snap, pw);
	mo.progress_arg = &avg_key_bytes;

	/* Finish what an interrupted run left open before planning anything new. */
	if (!nfixes) {
		const struct topology **views = calloc(snap->nviews, sizeof(*views));
		struct keys_arg ka = {snap, ref, pw};
		size_t nv = 0;
		if (!views)
			goto oom;
		/* Masters only: Valkey 8 replicas mirror their master's marks. */
		for (size_t i = 0; i < snap->nviews; i++) {
			const struct topology *t = snap->views[i].topo;
			if (t->myself < 0 || !(t->nodes[t->myself].flags & NODE_MASTER))
				continue;
			views[nv++] = t;
		}
		if (plan_fix_open_slots(ref, views, nv, keys_in_slot, &ka, &fixes, &nfixes, err, sizeof(err)) < 0) {
			free(views);
			fprintf(stderr, "autoshard: open slots: %s\n", err);
			goto done;
		}
		free(views);
		if (nfixes) {
			if (passes)
				printf("%zu slot(s) left open or with a split owner after the moves: fixing them\n",
				       nfixes);
			else
				printf("%zu open slot(s) from an interrupted migration%s\n", nfixes,
				       cfg_bool(&c, "dry-run") ? " would be finished first" : ": finishing them first");
			if (cfg_bool(&c, "dry-run")) {
				rc = 0;
				goto done;
			}
			if (rebalance_execute(ref, NULL, 0, fixes, nfixes, &mo, &st, err, sizeof(err)) < 0) {
				fprintf(stderr, "autoshard: %s\n", err);
				goto done;
			}
			goto again;
		}
	}

	/* Plan only on a converged cluster: a master that just joined is not ok
	 * for a rejoin delay, and one that opens a slot before it knows the
	 * slot's owner never learns it. Wait a bounded while for gossip. */
	{
		char why[256];
		if (cluster_converged(snap, snap->nviews, ref, why, sizeof(why)) < 0) {
			char what[300];
			snprintf(what, sizeof(what), "the cluster to converge: %s", why);
			if (wait_again(&wait_from, &waited, 100, what))
				goto again;
			fprintf(stderr, "autoshard: cluster has not converged after 30 s: %s\n", why);
			goto done;
		}
		wait_from = 0;
	}

	wv = cfg_get(&c, "weight");
	dv = cfg_get(&c, "drain");
	weights = calloc(wv->nlist + 1, sizeof(*weights));
	drain = calloc(dv->nlist + 1, sizeof(*drain));
	drain_plan = calloc(dv->nlist + 1, sizeof(*drain_plan));
	if (!weights || !drain || !drain_plan)
		goto oom;
	for (size_t i = 0; i < wv->nlist; i++) {
		char spec[300];
		char *eq, *end;
		int k;
		double w;
		strlcpy_a(spec, wv->list[i], sizeof(spec));
		eq = strrchr(spec, '=');
		if (!eq) {
			fprintf(stderr, "autoshard: --weight '%.60s': want NODE=WEIGHT\n", wv->list[i]);
			rc = EXIT_USAGE;
			goto done;
		}
		*eq = '\0';
		w = strtod(eq + 1, &end);
		if (*end || eq[1] == '\0' || w < 0 || w > 1e6) {
			fprintf(stderr, "autoshard: --weight '%.60s': weight must be a number >= 0\n", wv->list[i]);
			rc = EXIT_USAGE;
			goto done;
		}
		if ((k = resolve_node(ref, spec)) < 0) {
			fprintf(stderr, "autoshard: --weight: no single node matches '%.60s'\n", spec);
			rc = EXIT_USAGE;
			goto done;
		}
		strlcpy_a(weights[nweights].node_id, ref->nodes[k].id, sizeof(weights[0].node_id));
		weights[nweights++].weight = w;
	}
	for (size_t i = 0; i < dv->nlist; i++) {
		int k = resolve_node(ref, dv->list[i]);
		if (k < 0) {
			fprintf(stderr, "autoshard: --drain: no single node matches '%.60s'\n", dv->list[i]);
			rc = EXIT_USAGE;
			goto done;
		}
		drain[ndrain++] = ref->nodes[k].id;
		/* A drained master that gave away its last slot may have become a
		 * replica of a receiver (Valkey 8); it has nothing left to move. */
		if ((ref->nodes[k].flags & NODE_MASTER) && ref->nodes[k].nslots > 0)
			drain_plan[ndrain_plan++] = ref->nodes[k].id;
	}
	{
		struct plan_opts po;
		memset(&po, 0, sizeof(po));
		po.use_empty_masters = cfg_bool(&c, "use-empty-masters");
		po.weights = weights;
		po.nweights = nweights;
		po.drain_ids = drain_plan;
		po.ndrain = ndrain_plan;
		if (plan_rebalance(ref, &po, &plan, err, sizeof(err)) < 0) {
			fprintf(stderr, "autoshard: cannot plan: %s\n", err);
			goto done;
		}
	}
	if (cfg_bool(&c, "dry-run")) {
		print_plan(ref, plan);
		rc = 0;
		goto done;
	}
	if (plan->nmoves == 0) {
		if (passes)
			printf("moved %zu slots and %llu keys in %.2f s\n", moved_slots, moved_keys,
			       (double)(now_ms() - t0) / 1000.0);
		else
			printf("balanced: nothing to move\n");
		rc = 0;
		if (!cfg_bool(&c, "remove") || !ndrain)
			goto done;
		goto remove;
	}
	if (rebalance_execute(ref, plan->moves, plan->nmoves, NULL, 0, &mo, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "autoshard: %s\n", err);
		goto done;
	}
	moved_slots += st.slots_moved;
	moved_keys += (unsigned long long)st.keys_moved;
	if (++passes < 3) {
		/* Look again before saying done: the moves can leave what a
		 * kill leaves (a mark, or on Redis 7 a node that gave a slot
		 * back to its old owner in its own view while every other node
		 * names it). The fixer runs once more, then a plan that should
		 * be empty. */
		free(fixes);
		fixes = NULL;
		nfixes = 0;
		plan_free(plan);
		plan = NULL;
		free(weights);
		free(drain);
		free(drain_plan);
		weights = NULL;
		drain = drain_plan = NULL;
		nweights = ndrain = ndrain_plan = 0;
		goto again;
	}
	printf("moved %zu slots and %llu keys in %.2f s\n", moved_slots, moved_keys, (double)(now_ms() - t0) / 1000.0);
	rc = 0;
remove:
	if (cfg_bool(&c, "remove") && ndrain) {
		/* the ids point into snap, which remove_drained re-reads: copy them */
		char **ids = calloc(ndrain, sizeof(*ids));
		for (size_t i = 0; ids && i < ndrain; i++)
			ids[i] = strdup(drain[i]);
		rc = !ids || remove_drained(&seed, pw, ids, ndrain) < 0 ? EXIT_FAILURE_GENERIC : 0;
		for (size_t i = 0; ids && i < ndrain; i++)
			free(ids[i]);
		free(ids);
	}
	goto done;
oom:
	fprintf(stderr, "autoshard: out of memory\n");
done:
	plan_free(plan);
	free(fixes);
	free(weights);
	free(drain);
	free(drain_plan);
	cluster_snapshot_free(snap);
	secret_free(pw);
	cfg_free(&c);
	return rc;
}
