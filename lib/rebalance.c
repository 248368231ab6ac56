#include "rebalance.h"

#include <stdlib.h>
#include <string.h>

#include "evloop.h"
#include "node.h"

/* A master that gives away its last slot is turned into a replica by the
 * server (cluster-allow-replica-migration, default yes). Masters that have
 * not yet been told the new owner of its final slots then drop those slots
 * as unassigned when they see the role change, and answer CLUSTERDOWN until
 * gossip teaches them the owner. So sources that will end with no slot keep
 * their role for the duration: the setting is turned off on them and put
 * back afterwards. hold[] gets the previous value per ref node ("" = left
 * alone). Best effort: a node that refuses CONFIG keeps the server default. */
static void hold_masters_that_empty(const struct topology *ref, const struct slot_move *moves, size_t nmoves,
				    const char *password, char (*hold)[8])
{
	int *gives = calloc(ref->nnodes, sizeof(int));

	if (!gives)
		return;
	for (size_t i = 0; i < nmoves; i++)
		gives[moves[i].src]++;
	for (size_t i = 0; i < ref->nnodes; i++) {
		const struct cluster_node *cn = &ref->nodes[i];
		struct hostport hp;
		struct node_conn *n;
		redisReply *r;
		if (gives[i] == 0 || gives[i] < cn->nslots || !cn->ip[0])
			continue;
		strlcpy_a(hp.host, cn->ip, sizeof(hp.host));
		hp.port = cn->port;
		if (!(n = node_connect(&hp, password, 2000, NULL, 0)))
			continue;
		r = node_command(n, NULL, 0, "CONFIG GET cluster-allow-replica-migration");
		if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[1]->type == REDIS_REPLY_STRING &&
		    node_command_ok(n, NULL, 0, "CONFIG SET cluster-allow-replica-migration no") == 0)
			strlcpy_a(hold[i], r->element[1]->str, sizeof(hold[i]));
		if (r)
			freeReplyObject(r);
		node_close(n);
	}
	free(gives);
}

static void release_masters(const struct topology *ref, const char *password, char (*hold)[8])
{
	for (size_t i = 0; i < ref->nnodes; i++) {
		struct hostport hp;
		struct node_conn *n;
		if (!hold[i][0] || strcmp(hold[i], "no") == 0)
			continue;
		strlcpy_a(hp.host, ref->nodes[i].ip, sizeof(hp.host));
		hp.port = ref->nodes[i].port;
		if ((n = node_connect(&hp, password, 2000, NULL, 0))) {
			node_command_ok(n, NULL, 0, "CONFIG SET cluster-allow-replica-migration %s", hold[i]);
			node_close(n);
		}
	}
}

int rebalance_execute(const struct topology *ref, const struct slot_move *moves, size_t nmoves,
		      const struct slot_fix *fixes, size_t nfixes, const struct migrator_opts *mo,
		      struct migrator_stats *st, char *err, size_t errlen)
{
	struct migrate_node *nodes = NULL;
	struct migrate_task *tasks = NULL;
	int *map = NULL;
	size_t nn = 0, nt = 0;
	struct evloop *loop = NULL;
	char(*hold)[8] = NULL;
	int ret = -1;

	nodes = calloc(ref->nnodes, sizeof(*nodes));
	map = calloc(ref->nnodes, sizeof(*map));
	tasks = calloc(nmoves + nfixes + 1, sizeof(*tasks));
	loop = evloop_new();
	if (!nodes || !map || !tasks || !loop) {
		seterr(err, errlen, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < ref->nnodes; i++) {
		const struct cluster_node *cn = &ref->nodes[i];
		map[i] = -1;
		if (!(cn->flags & NODE_MASTER) || (cn->flags & (NODE_FAIL | NODE_NOADDR | NODE_HANDSHAKE)) ||
		    !cn->ip[0])
			continue;
		map[i] = (int)nn;
		strlcpy_a(nodes[nn].id, cn->id, sizeof(nodes[nn].id));
		strlcpy_a(nodes[nn].host, cn->ip, sizeof(nodes[nn].host));
		nodes[nn].port = cn->port;
		nn++;
	}
	for (size_t i = 0; i < nfixes; i++) {
		struct migrate_task *t = &tasks[nt];
		if (map[fixes[i].src] < 0 || map[fixes[i].dst] < 0) {
			seterr(err, errlen, "slot %d: open between nodes that are not live masters", fixes[i].slot);
			goto done;
		}
		t->kind = fixes[i].kind == FIX_FINISH     ? MIGRATE_MOVE
			  : fixes[i].kind == FIX_ROLLBACK ? MIGRATE_ROLLBACK
							  : MIGRATE_SETOWNER;
		t->slot = fixes[i].slot;
		t->src = map[fixes[i].src];
		t->dst = map[fixes[i].dst];
		nt++;
	}
	for (size_t i = 0; i < nmoves; i++) {
		struct migrate_task *t = &tasks[nt];
		if (map[moves[i].src] < 0 || map[moves[i].dst] < 0) {
			seterr(err, errlen, "slot %d: move between nodes that are not live masters", moves[i].slot);
			goto done;
		}
		t->kind = MIGRATE_MOVE;
		t->slot = moves[i].slot;
		t->src = map[moves[i].src];
		t->dst = map[moves[i].dst];
		nt++;
	}
	memset(st, 0, sizeof(*st));
	hold = calloc(ref->nnodes, sizeof(*hold));
	if (!hold) {
		seterr(err, errlen, "out of memory");
		goto done;
	}
	hold_masters_that_empty(ref, moves, nmoves, mo->password, hold);
	ret = migrator_run(loop, nodes, nn, tasks, nt, mo, st, err, errlen);
	release_masters(ref, mo->password, hold);
done:
	free(hold);
	evloop_free(loop);
	free(nodes);
	free(tasks);
	free(map);
	return ret;
}
