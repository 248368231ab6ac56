/* Health check: a pure function over a cluster snapshot. Healthy means: every
 * node answered and is in cluster mode; all 16384 slots are covered; no slot is
 * open (MIGRATING/IMPORTING) on any node; every node agrees on the node set,
 * on each slot's owner and on roles (who replicates whom); no node is flagged
 * fail/pfail/handshake/noaddr by anyone; cluster_state:ok on every node; and,
 * when expectations are given, the number of masters and replicas matches
 * (and, when asked, no master is left without slots). */
#ifndef AUTOSHARD_HEALTH_H
#define AUTOSHARD_HEALTH_H

#include <stddef.h>

#include "cluster.h"

struct health_expect {
	int masters;             /* masters owning slots; 0 = any */
	int replicas_per_master; /* -1 = any */
	int nodes;               /* total nodes; 0 = any */
	/* The settled shape of R replicas per master when the node count is not
	 * a multiple of R+1: with replicas_per_master -1, every master with
	 * slots has at least this many replicas (0 = any); no_empty_masters: no
	 * master is without slots. */
	int min_replicas_per_master;
	int no_empty_masters;
	/* The masters with slots own counts within one slot of each other, as
	 * the planner leaves them (a rebalance is not still under way). */
	int balanced;
};

/* Counts come from the majority view: the node set, roles and slot owners
 * that most usable nodes agree on (ties: the view gathered first). Handshake
 * nodes are not counted. */
struct health_report {
	char **problems; /* owned; one line each, naming the node/slot concerned */
	size_t nproblems;
	int masters, replicas, nodes;
	int slots_covered;
	int open_slots; /* distinct slots MIGRATING/IMPORTING on any node */
};

/* Always fills *r (caller frees with health_report_free); returns 0 if healthy,
 * 1 if not, -1 on out of memory. Problems are deduplicated and capped at 200
 * lines (the last line then says how many more there were). */
int health_check(const struct cluster_snapshot *s, const struct health_expect *e, struct health_report *r);
void health_report_free(struct health_report *r);

#endif
