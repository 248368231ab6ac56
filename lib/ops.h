/* Cluster operations, each idempotent: running one twice has the effect of
 * running it once. Errors name the node and go to err. */
#ifndef AUTOSHARD_OPS_H
#define AUTOSHARD_OPS_H

#include <stddef.h>

#include "node.h"
#include "topology.h"

/* CLUSTER MEET ip port on n. Meeting a node already known is harmless. */
int op_meet(struct node_conn *n, const char *ip, int port, char *err, size_t errlen);
/* CLUSTER ADDSLOTSRANGE for the given ranges (Valkey 7+/Redis 7+). */
int op_addslots(struct node_conn *n, const struct slot_range *r, size_t nr, char *err, size_t errlen);
/* CLUSTER REPLICATE master_id. */
int op_replicate(struct node_conn *n, const char *master_id, char *err, size_t errlen);
/* CLUSTER SET-CONFIG-EPOCH; "already set / knows other nodes" count as done. */
int op_set_config_epoch(struct node_conn *n, unsigned long long epoch, char *err, size_t errlen);
/* CLUSTER FORGET id on every connection in conns (skipping the node itself,
 * NULL entries allowed). "Unknown node" counts as done. Returns 0 when every
 * node forgot it, -1 with the first error otherwise (the others still tried). */
int op_forget_everywhere(struct node_conn *const *conns, size_t n, const char *id, char *err, size_t errlen);

#endif
