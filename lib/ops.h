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
/* ROLE: 1 when the node says it is a master (primary), 0 a replica, -1 with
 * err on an error or a reply of another shape. */
int op_is_master(struct node_conn *n, char *err, size_t errlen);
/* Poll ROLE every 20 ms for at most wait_ms until the node is a master
 * (master=1) or a replica (master=0). 1 when it is, 0 when not yet, -1 with
 * err. */
int op_wait_role(struct node_conn *n, int master, int wait_ms, char *err, size_t errlen);
/* CLUSTER FAILOVER (coordinated: the master pauses writes until the replica
 * caught up, so nothing acknowledged is lost) on the replica n, then
 * op_wait_role for master. A node that is already a master is not sent the
 * command: 1. Valkey may still finish a failover that took longer than
 * wait_ms (0), or give up after its own timeout. */
int op_failover(struct node_conn *n, int wait_ms, char *err, size_t errlen);

#endif
