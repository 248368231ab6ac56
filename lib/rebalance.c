#include "rebalance.h"

#include <stdlib.h>
#include <string.h>

#include "evloop.h"

int rebalance_execute(const struct topology *ref, const struct slot_move *moves, size_t nmoves,
		      const struct slot_fix *fixes, size_t nfixes, const struct migrator_opts *mo,
		      struct migrator_stats *st, char *err, size_t errlen)
{
	struct migrate_node *nodes = NULL;
	struct migrate_task *tasks = NULL;
	int *map = NULL;
	size_t nn = 0, nt = 0;
	struct evloop *loop = NULL;
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
		if (!(cn->flags & NODE_MASTER) || (cn->flags & (NODE_FAIL | NODE_NOADDR | NODE_HANDSHAKE)) || !cn->ip[0])
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
		t->kind = fixes[i].kind == FIX_FINISH ? MIGRATE_MOVE
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
	ret = migrator_run(loop, nodes, nn, tasks, nt, mo, st, err, errlen);
done:
	evloop_free(loop);
	free(nodes);
	free(tasks);
	free(map);
	return ret;
}

