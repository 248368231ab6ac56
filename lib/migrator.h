/* The migrator: moves slots with their keys between masters on one event loop.
 * Standard protocol per slot: SETSLOT IMPORTING on the target, SETSLOT MIGRATING
 * on the source, GETKEYSINSLOT + MIGRATE ... KEYS in large batches until the
 * slot is empty, then SETSLOT NODE on the target first, then the source, then
 * every other master. Many source->target pairs run at once and many slots are
 * in flight per pair (pipelined). SETSLOTs go out in batches (setslot_batch
 * slots opened at once; finished slots grouped for up to finish_delay_ms), so
 * nodes rewrite and fsync nodes.conf and gossip new ownership once per batch,
 * not once per slot; within a finish batch only the first and last SETSLOT
 * NODE on the target bump its epoch (see migrator.c). Consequence: up to a few
 * hundred slots per pair may be open at once, and after kill -9 all of them
 * are open (harmless: clients get ASK redirects; the next run finishes them).
 * Memory stays bounded (caps below). Every step is idempotent, so a run
 * interrupted by kill -9 is finished by the next run (see plan_fix_open_slots). */
#ifndef AUTOSHARD_MIGRATOR_H
#define AUTOSHARD_MIGRATOR_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"
#include "util.h"

struct migrate_node {
	char id[NODE_ID_LEN + 1];
	char host[HOST_MAX]; /* address the migrator connects to and MIGRATE targets */
	int port;
};

enum migrate_kind {
	MIGRATE_MOVE,     /* full protocol */
	MIGRATE_SETOWNER, /* only SETSLOT NODE dst on every master (dst first); src may be -1 */
	MIGRATE_ROLLBACK, /* SETSLOT STABLE on src and dst (either may be -1, not both) */
};

struct migrate_task {
	enum migrate_kind kind;
	int slot;
	int src; /* index into nodes */
	int dst;
};

struct migrator_progress {
	size_t slots_total, slots_done;
	uint64_t keys_moved;
	uint64_t bytes_moved; /* approximate (sum of MIGRATEd key payload estimates; 0 if unknown) */
	int64_t elapsed_ms;
	const char *phase; /* "migrating", "finishing", ... (static string) */
};

typedef void migrator_progress_cb(const struct migrator_progress *p, void *arg);

struct migrator_opts {
	const char *password;           /* borrowed; AUTH for every connection and MIGRATE AUTH; may be NULL */
	int slots_in_flight;            /* per source->target pair; default 16 */
	int keys_per_batch;             /* GETKEYSINSLOT count / MIGRATE KEYS batch; default 1000 */
	int migrate_timeout_ms;         /* MIGRATE timeout argument; default 10000 */
	int command_timeout_ms;         /* a reply not seen by then fails the run; default 30000 */
	int max_pairs;                  /* concurrent pairs (0 = all); a node is in at most one pair as source */
	int setslot_batch;              /* slots per SETSLOT pipeline (open waves, finish batches); default 128 */
	int control_connections;        /* per node, for SETSLOT; default 16, fewer when the open-file
				  * limit requires (Valkey 8 holds each SETSLOT on a primary
				  * with replicas, and its connection, until they ack it) */
	int finish_delay_ms;            /* a slot whose keys moved waits at most this long for its batch's
				 * SETSLOT NODE; default 100 (0 = default; -1 = no wait) */
	migrator_progress_cb *progress; /* called at most every progress_interval_ms and at the end */
	void *progress_arg;
	int progress_interval_ms; /* default 250 */
};

struct migrator_stats {
	size_t slots_moved;  /* MOVE and SETOWNER tasks finished (ROLLBACK not counted) */
	uint64_t keys_moved; /* keys in MIGRATE batches that replied OK */
	uint64_t busykey_retries, tryagain_retries;
	uint64_t ioerr_retries; /* MIGRATE -IOERR, retried with REPLACE */
	uint64_t nokey_replies; /* MIGRATE +NOKEY: the batch's keys vanished */
	uint64_t migrate_commands, setslot_commands;
	uint64_t setslot_errors_ignored; /* SETSLOT NODE refused by a bystander master (gossip repairs it) */
	int64_t elapsed_ms;
};

/* Run every task to completion on loop (which it runs until done; the caller's
 * other loop users keep running). nodes must include every master of the
 * cluster (all get SETSLOT NODE). Returns 0 when every task finished; -1 with
 * err naming the node, slot and reply on the first permanent error (slots not
 * yet started are left untouched; a slot in flight stays open and the next run
 * finishes it). Handles BUSYKEY (retry with REPLACE: the source copy is the
 * authoritative one while the slot is MIGRATING), TRYAGAIN (retry after a short
 * timer), ASK/MOVED and slot-not-owned replies with a clear error, timeouts.
 * Never stores key values in memory.
 *
 * Connections: control_connections per node (SETSLOT, round robin) plus one
 * migrate connection per source (GETKEYSINSLOT and MIGRATE, so a slot's
 * rounds stay ordered).
 * The program must ignore SIGPIPE (hiredis writes with write(2)). An error
 * never contains the password. */
int migrator_run(struct evloop *loop, const struct migrate_node *nodes, size_t nnodes, const struct migrate_task *tasks,
		 size_t ntasks, const struct migrator_opts *o, struct migrator_stats *stats, char *err, size_t errlen);

#endif
