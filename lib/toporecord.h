/* The topology record and the clone guard.
 *
 * In persistent mode every instance keeps a small record next to its data:
 * what cluster the data belongs to and what shape that cluster had when it
 * was last healthy (instance count, shard count, the node id of every
 * instance, a generation that grows when the shape changes). It is written
 * atomically (write, fsync, rename, fsync of the directory).
 *
 * Before the server starts, the clone guard compares the record with the
 * instance count the platform reports now. A copy of the data started with a
 * different count (a preview environment cloned from a parent of another
 * size) would silently lose or mix shards, so that is refused unless the user
 * chose, explicitly, to adopt the new count or to start fresh. A restart
 * while the cluster is being scaled is not a clone: a live peer still knows
 * this node's id, and the guard lets it through.
 *
 * Parsing and the decision are pure; the load/save functions do file I/O only. */
#ifndef AUTOSHARD_TOPORECORD_H
#define AUTOSHARD_TOPORECORD_H

#include <stddef.h>

#include "util.h"

#define TOPO_RECORD_FILE "autoshard-topology.json"
#define TOPO_RECORD_MAX_BYTES (256u << 10)
#define TOPO_RECORD_MAX_NODES 1000
#define TOPO_RECORD_NAME_MAX 128

struct topo_record_node {
	char addr[HOST_MAX + 8];  /* "host:port" the instance had */
	char id[NODE_ID_LEN + 1]; /* its node id */
};

struct topo_record {
	char cluster_name[TOPO_RECORD_NAME_MAX];
	/* Lineage: the node id that owned slot 0 when this instance first
	 * recorded the cluster; kept through later rewrites. */
	char cluster_id[NODE_ID_LEN + 1];
	unsigned long long generation;
	int instances;
	int shards;
	int replicas; /* replicas per shard wanted */
	char self_id[NODE_ID_LEN + 1];
	struct topo_record_node *nodes; /* owned; instance order (after an adopt, the old ones) */
	size_t nnodes;
	long long updated; /* unix seconds */
	/* Set by prestart when the user chose to adopt a different count; the
	 * run loop may then give the slots of shards that are not here to the
	 * instances that are. Cleared by the next healthy record. */
	int adopt_pending;
	int adopted_from; /* instance count before the adopt */
};

void topo_record_free(struct topo_record *r);

/* Parse a record. Strict: unknown format, wrong types, ids that are not 40
 * hex characters, counts out of range are errors naming the field.
 * *out is zeroed first; caller frees with topo_record_free. */
int topo_record_parse(const char *buf, size_t len, struct topo_record *out, char *err, size_t errlen);

/* The record as JSON text, newline-terminated. Caller frees; NULL on OOM. */
char *topo_record_format(const struct topo_record *r);

/* 1 when a and b describe the same shape: counts, self id and node ids. */
int topo_record_same_shape(const struct topo_record *a, const struct topo_record *b);

/* Read DIR/autoshard-topology.json. 0 with *exists 1 and *out filled, 0 with
 * *exists 0 when there is no record, -1 with err when it cannot be read or
 * parsed (the guard refuses on that: an unreadable record is not "none"). */
int topo_record_load(const char *dir, struct topo_record *out, int *exists, char *err, size_t errlen);

/* Write atomically (write_file_atomic: temporary file, fsync, rename, fsync DIR). */
int topo_record_save(const char *dir, const struct topo_record *r, char *err, size_t errlen);

/* Remove the record (fresh start). 0 also when there was none. */
int topo_record_remove(const char *dir, char *err, size_t errlen);

enum mismatch_policy {
	MISMATCH_REFUSE = 0, /* default */
	MISMATCH_ADOPT,      /* keep this data, join with the new count, reshard */
	MISMATCH_FRESH,      /* erase this instance's cluster state and data */
};

/* "refuse" | "adopt" | "fresh" -> policy; -1 for anything else. */
int mismatch_policy_parse(const char *s, enum mismatch_policy *out);

enum guard_verdict {
	GUARD_START = 0, /* start as usual */
	GUARD_REFUSE,    /* do not start, touch nothing, exit EXIT_REFUSED */
	GUARD_ADOPT,     /* start; mark the record adopt_pending with the new count */
	GUARD_FRESH,     /* erase cluster state and data, then start */
};

/* The clone guard's decision. rec is NULL when there is no record.
 * current is the instance count the platform reports; live_knows_me is 1
 * when a reachable peer's cluster knows rec->self_id (a restart inside a live
 * cluster, not a clone). msg gets one line: why it starts, or for a refusal
 * the recorded and current counts and the way out (name the variable in
 * how_to_override, e.g. "AUTOSHARD_TOPOLOGY_MISMATCH"). */
enum guard_verdict clone_guard_decide(const struct topo_record *rec, const char *dir, int current, int live_knows_me,
				      enum mismatch_policy policy, const char *how_to_override, char *msg,
				      size_t msglen);

#endif
