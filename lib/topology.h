/* Topology model of a Valkey/Redis Cluster as one node sees it, and strict,
 * bounded parsers for CLUSTER NODES, CLUSTER INFO and CLUSTER SHARDS replies.
 * Parsers do no I/O: they take bytes (or a reply tree) and return a model or an
 * error naming the offending line. */
#ifndef AUTOSHARD_TOPOLOGY_H
#define AUTOSHARD_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Caps on untrusted input. */
#define TOPOLOGY_MAX_NODES 2000       /* lines in CLUSTER NODES */
#define TOPOLOGY_MAX_REPLY (8u << 20) /* bytes in one CLUSTER NODES reply */
#define TOPOLOGY_MAX_LINE 262144      /* bytes in one line (16384 single slots fit) */

enum node_flag {
	NODE_MYSELF = 1u << 0,
	NODE_MASTER = 1u << 1,
	NODE_REPLICA = 1u << 2, /* "slave" */
	NODE_PFAIL = 1u << 3,   /* "fail?" */
	NODE_FAIL = 1u << 4,
	NODE_HANDSHAKE = 1u << 5,
	NODE_NOADDR = 1u << 6,
	NODE_NOFAILOVER = 1u << 7,
	NODE_UNKNOWN_FLAG = 1u << 30, /* a flag this version does not know; tolerated */
};

struct slot_range {
	int start, end; /* inclusive */
};

/* A slot this node has in MIGRATING (to peer) or IMPORTING (from peer) state. */
struct open_slot {
	int slot;
	int importing; /* 1 importing from peer, 0 migrating to peer */
	char peer_id[NODE_ID_LEN + 1];
};

struct cluster_node {
	char id[NODE_ID_LEN + 1];
	char ip[IP_MAX]; /* may be empty (noaddr / ":0") */
	int port;        /* client port */
	int bus_port;
	char hostname[HOST_MAX];         /* announced hostname, "" if none */
	unsigned flags;                  /* enum node_flag */
	char master_id[NODE_ID_LEN + 1]; /* "" when "-" */
	int64_t ping_sent, pong_recv;
	uint64_t config_epoch;
	int link_connected;        /* 1 "connected", 0 "disconnected" */
	struct slot_range *ranges; /* owned; sorted as in the reply */
	size_t nranges;
	int nslots;             /* sum of ranges */
	struct open_slot *open; /* owned */
	size_t nopen;
};

struct topology {
	struct cluster_node *nodes; /* owned */
	size_t nnodes;
	int myself;                        /* index of the "myself" node, -1 if absent */
	int16_t slot_owner[CLUSTER_SLOTS]; /* node index owning each slot, -1 if none */
};

/* Parse a CLUSTER NODES reply (len bytes, need not be NUL-terminated).
 * On success *out is a new topology (caller frees with topology_free) and 0 is
 * returned. On error -1, *out NULL, err names the line number and the problem.
 * Strict: wrong field count, bad id (not 40 hex), bad address, bad numbers, slot
 * out of range, a slot claimed twice, over-long lines, too many nodes are errors.
 * Unknown flag words are tolerated (NODE_UNKNOWN_FLAG). */
int topology_parse_nodes(const char *buf, size_t len, struct topology **out, char *err, size_t errlen);
void topology_free(struct topology *t);

/* Index of node with this id, or -1. */
int topology_find(const struct topology *t, const char *id);
/* Number of nodes flagged NODE_MASTER that own >= 1 slot (failed ones included). */
int topology_masters_with_slots(const struct topology *t);
/* Count of nodes whose master_id is the given master (0 for NULL or ""). */
int topology_replica_count(const struct topology *t, const char *master_id);
/* Fill ranges (caller array of up to maxranges) with the slots owned by node idx,
 * merged into contiguous ranges in slot order; returns the number of ranges
 * filled (never more than maxranges; CLUSTER_SLOTS / 2 always suffices). */
size_t topology_node_ranges(const struct topology *t, int idx, struct slot_range *ranges, size_t maxranges);

struct cluster_info {
	int state_ok; /* cluster_state:ok */
	int slots_assigned;
	int slots_ok;
	int slots_pfail;
	int slots_fail;
	int known_nodes;
	int size; /* cluster_size: masters serving slots */
	uint64_t current_epoch;
	uint64_t my_epoch;
};

/* Parse a CLUSTER INFO reply ("key:value\r\n" lines). Unknown keys, empty lines
 * and "#" lines are ignored; cluster_state and cluster_slots_assigned are
 * required. *out is zeroed first. Bounded like above. */
int cluster_info_parse(const char *buf, size_t len, struct cluster_info *out, char *err, size_t errlen);

/* INFO replies: find "key:value" in an INFO text; copies value (without "\r",
 * truncated to outlen - 1 bytes) into out. 0 found, -1 not. */
int info_get_field(const char *buf, size_t len, const char *key, char *out, size_t outlen);

struct redisReply;
/* Build a topology from a CLUSTER SHARDS reply tree (Valkey 7.2+/Redis 7.0+):
 * every shard's slot pairs and node maps (id, ip/endpoint, port, hostname,
 * role, health). Open slots are not present in CLUSTER SHARDS (nopen 0),
 * myself is -1, bus_port is 0, link_connected is 0 only for failed nodes, and
 * health "fail"/"failed" sets NODE_FAIL. Errors on any element of the wrong
 * type or shape, a shard with two masters, or slots without a master. */
int topology_from_shards(const struct redisReply *r, struct topology **out, char *err, size_t errlen);

#endif
