/* A snapshot of a cluster: what every reachable node says about it (CLUSTER
 * NODES, CLUSTER INFO, DBSIZE), gathered from a seed or from a member list. */
#ifndef AUTOSHARD_CLUSTER_H
#define AUTOSHARD_CLUSTER_H

#include <stddef.h>

#include "topology.h"
#include "util.h"

struct node_view {
	struct hostport addr;     /* where we reached (or tried to reach) it */
	int reachable;            /* connected, authenticated, answered */
	char error[256];          /* why not reachable / not usable; "" if fine */
	int cluster_enabled;      /* INFO cluster: cluster_enabled:1 */
	struct topology *topo;    /* owned; its CLUSTER NODES; NULL if unreachable */
	struct cluster_info info; /* valid when reachable */
	long long dbsize;         /* keys in the node, -1 unknown */
	char id[NODE_ID_LEN + 1]; /* its own node id (myself), "" unknown */
	int master_link_up;       /* replicas: INFO replication master_link_status:up */
};

struct cluster_snapshot {
	struct node_view *views; /* owned */
	size_t nviews;
};

struct cluster_gather_opts {
	const char *password; /* borrowed, may be NULL */
	int timeout_ms;       /* per connect and per command; default 2000 */
	int follow;           /* also visit nodes the visited ones know (seed mode) */
};

/* Visit the given addresses (and with follow, every node they know about, by
 * the address they announce). Unreachable nodes are views with reachable=0 and
 * an error; this returns -1 only for bad arguments or out of memory.
 * Caller frees with cluster_snapshot_free. */
int cluster_gather(const struct hostport *addrs, size_t naddrs, const struct cluster_gather_opts *o,
		   struct cluster_snapshot **out, char *err, size_t errlen);
void cluster_snapshot_free(struct cluster_snapshot *s);
/* Index of the view to act on among the first n views: the one that sees the
 * most slots assigned, then the highest current epoch. -1 if none of them is
 * reachable (with require_slots, if none sees any slot). */
int cluster_pick_ref(const struct cluster_snapshot *s, size_t n, int require_slots);
/* 0 when every reachable master among the first n views reports
 * cluster_state:ok and sees the same owner as ref for every slot; else -1
 * with why ("node H:P reports cluster_state:fail", "... another owner for
 * slot S"). Moves wait for this: a master that just joined is not ok for a
 * rejoin delay, and one that opens a slot before it knows the owner never
 * learns it (importing slots ignore ownership updates). */
int cluster_converged(const struct cluster_snapshot *s, size_t n, const struct topology *ref, char *why, size_t whylen);
/* View of the node with this id (its own view), or NULL. */
const struct node_view *cluster_view_by_id(const struct cluster_snapshot *s, const char *id);

#endif
