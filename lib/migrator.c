/* The migrator (see migrator.h for the contract).
 *
 * Connections. Every node gets control_connections control connections
 * (SETSLOT, COUNTKEYSINSLOT), used round robin: Valkey 8 holds a SETSLOT on a
 * primary with replicas until they ack it, and the connection with it. Every
 * source node also gets a migrate connection that carries
 * GETKEYSINSLOT and MIGRATE for its slots, in a strict alternation per slot:
 *
 *     MIGRATE <keys of batch i>, GETKEYSINSLOT <slot> <count>
 *
 * pipelined back to back. The GETKEYSINSLOT reply is both "the next batch" and
 * "is the slot empty now?", so a slot costs one round trip per batch instead of
 * two. The source runs MIGRATE synchronously (its event loop is blocked while
 * the target restores), so all of a source's MIGRATEs queue on that one
 * connection; SETSLOT NODE for finished slots goes over the control connection
 * and never waits behind them in our own output buffer.
 *
 * Slots. A MOVE slot walks IMPORTING -> MIGRATING -> OPEN -> MOVING ->
 * OWNER_DST -> OWNER_ALL -> DONE (see enum slot_state). Tasks are grouped into
 * pairs (src, dst). Each active pair keeps slots_in_flight slots MOVING, and
 * opens slots ahead in waves of setslot_batch (one pipeline of IMPORTING, then
 * one of MIGRATING); emptied slots wait on their target's finish queue and get
 * SETSLOT NODE in batches (on_finish_timer explains why that is safe). Every
 * SETSLOT makes a node rewrite and fsync nodes.conf before its next event-loop
 * iteration, and each epoch bump makes every node process a PONG that rescans
 * all slots: per-slot SETSLOTs cost more CPU than the keys. A source is in at
 * most one active pair at a time (its MIGRATEs serialize anyway); targets and
 * different sources run in parallel.
 *
 * Requests. Every command sent has a struct mreq on its connection's FIFO
 * (replies arrive in order). A per-connection timer fails the run when the
 * oldest request waits longer than command_timeout_ms, or the connection is
 * not up by then. hiredis calls every pending callback with a NULL reply when
 * a connection dies; that is "connection lost" unless we are tearing down.
 *
 * Memory. Key names live only in one GETKEYSINSLOT reply (freed by hiredis
 * after its callback) and in the formatted MIGRATE in hiredis's output
 * buffer; at most slots_in_flight batches per pair exist at once. Replies are
 * bounded by the counts we ask for (hiredis 0.14 has no reply size cap).
 * Commands are encoded here (format_command) and queued with
 * redisAsyncFormattedCommand. */
#include "migrator.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "redis_ev.h"
#include "resp_cap.h"

#define DEFAULT_SLOTS_IN_FLIGHT 16
#define DEFAULT_KEYS_PER_BATCH 1000
#define DEFAULT_MIGRATE_TIMEOUT_MS 10000
#define DEFAULT_COMMAND_TIMEOUT_MS 30000
#define DEFAULT_PROGRESS_INTERVAL_MS 250
#define DEFAULT_SETSLOT_BATCH 128
#define DEFAULT_CONTROL_CONNECTIONS 16
#define FD_RESERVE 64 /* file descriptors left to the rest of the process */
#define DEFAULT_FINISH_DELAY_MS 100
#define LOOSE_IN_FLIGHT 256 /* SETOWNER/ROLLBACK tasks running at once */
#define RETRY_DELAY_MS 50   /* after TRYAGAIN or IOERR */
#define MAX_TRYAGAIN 200    /* per slot: 10 s of TRYAGAIN or CLUSTERDOWN */
#define MAX_IOERR 3         /* per slot */
#define MAX_BUSYKEY 3       /* per slot, with REPLACE already on */
#define ERRMSG_MAX 200      /* bytes of a server reply quoted in an error */

enum conn_role { CONN_CONTROL, CONN_MIGRATE };

enum req_kind {
	REQ_AUTH,
	REQ_IMPORTING,
	REQ_MIGRATING,
	REQ_GETKEYS,
	REQ_MIGRATE,
	REQ_NODE,
	REQ_STABLE,
	REQ_COUNTKEYS,
	REQ_CLEAR, /* SETSLOT STABLE on dst right before its SETSLOT NODE (batched finish) */
	REQ_BUMP,  /* CLUSTER BUMPEPOCH on dst before it claims a slot it was not importing */
};

static const char *const req_names[] = {
	[REQ_AUTH] = "AUTH",
	[REQ_IMPORTING] = "CLUSTER SETSLOT IMPORTING",
	[REQ_MIGRATING] = "CLUSTER SETSLOT MIGRATING",
	[REQ_GETKEYS] = "CLUSTER GETKEYSINSLOT",
	[REQ_MIGRATE] = "MIGRATE",
	[REQ_NODE] = "CLUSTER SETSLOT NODE",
	[REQ_STABLE] = "CLUSTER SETSLOT STABLE",
	[REQ_COUNTKEYS] = "CLUSTER COUNTKEYSINSLOT",
	[REQ_CLEAR] = "CLUSTER SETSLOT STABLE",
	[REQ_BUMP] = "CLUSTER BUMPEPOCH",
};

enum slot_state {
	SLOT_WAITING,   /* not started */
	SLOT_IMPORTING, /* SETSLOT IMPORTING sent to dst */
	SLOT_MIGRATING, /* SETSLOT MIGRATING sent to src */
	SLOT_OPEN,      /* IMPORTING on dst and MIGRATING on src: waiting for a moving slot */
	SLOT_MOVING,    /* GETKEYSINSLOT/MIGRATE rounds on src's migrate connection */
	SLOT_RETRY,     /* waiting for the retry timer */
	SLOT_BUMPING,   /* SETOWNER: CLUSTER BUMPEPOCH sent to dst */
	SLOT_OWNER_DST, /* SETSLOT NODE dst sent to dst */
	SLOT_OWNER_ALL, /* SETSLOT NODE dst sent to every other node */
	SLOT_STABLE,    /* ROLLBACK: SETSLOT STABLE sent to src and dst */
	SLOT_ABORTING,  /* src does not own the slot: undoing IMPORTING on dst */
	SLOT_DONE,
};

struct mrun;
struct mpair;
struct mbatch;

struct mslot {
	const struct migrate_task *task;
	struct mpair *pair; /* NULL for SETOWNER/ROLLBACK */
	enum slot_state state;
	int pending; /* replies still expected (OWNER_ALL, STABLE) */
	int replace; /* next MIGRATE carries REPLACE */
	int retry;   /* last MIGRATE asked for a retry: skip the next GETKEYS reply */
	int tryagains, ioerrs, busykeys;
	int64_t timer; /* retry timer id, 0 none */
	struct mrun *run;
	struct mslot *link;   /* in its pair's open queue, or its target's finish queue */
	struct mbatch *batch; /* its finish batch while in OWNER_DST, else NULL */
};

/* A FIFO of slots linked through mslot.link. */
struct slot_queue {
	struct mslot *head, *tail;
	size_t len;
};

struct mpair {
	int src, dst;
	struct mslot **slots; /* in task order */
	size_t nslots, next;
	int opening;            /* slots in IMPORTING or MIGRATING */
	struct slot_queue open; /* slots in OPEN, in task order */
	int moving;             /* slots in MOVING or RETRY (at most slots_in_flight) */
	int finishing;          /* slots in OWNER_DST..OWNER_ALL */
	int active, done;
};

struct mreq {
	struct mreq *next;
	struct mconn *conn;
	struct mslot *slot; /* NULL for AUTH */
	enum req_kind kind;
	int64_t sent_ms;
	int nkeys; /* MIGRATE: keys in the batch */
	int node;  /* SETSLOT NODE/STABLE: the node it went to */
};

struct mconn {
	struct mrun *run;
	int node;
	enum conn_role role;
	redisAsyncContext *ac; /* NULL when closed */
	int connected;
	int64_t opened_ms;
	struct mreq *head, *tail; /* outstanding requests in reply order */
	int64_t timer;
};

/* Slots whose keys are all on this node, waiting for SETSLOT NODE here. */
struct mfinish {
	struct mrun *run;
	int node;
	struct slot_queue q;
	int64_t timer;    /* flush timer, 0 when not armed */
	int64_t timer_at; /* when it fires */
};

/* One finish batch on a target (see on_finish_timer): phase 1 is the first
 * slot's SETSLOT NODE, phase 2 the middle slots' STABLE + NODE pairs, spread
 * over the control connections, phase 3 the last slot's NODE. */
struct mbatch {
	struct mfinish *f;
	int phase;
	size_t n, pending;
	struct mslot *slots[]; /* n */
};

struct mrun {
	struct evloop *loop;
	const struct migrate_node *nodes;
	size_t nnodes;
	struct migrator_opts o;
	struct migrator_stats *stats;

	struct mconn *ctl;   /* [nnodes * nctl]: node i owns ctl[i * nctl .. + nctl - 1] */
	int nctl;            /* control connections per node */
	unsigned *ctl_next;  /* [nnodes]: round robin over a node's control connections */
	struct mconn *mig;   /* [nnodes]; ac NULL for nodes that are no source */
	struct mfinish *fin; /* [nnodes] */

	struct mslot *slots; /* [nslots], one per task */
	size_t nslots, ndone;
	struct mpair *pairs;
	size_t npairs;
	struct mslot **loose; /* SETOWNER and ROLLBACK tasks */
	size_t nloose, loose_next;
	int loose_active;
	int *src_busy; /* [nnodes]: 1 while the node is source of an active pair */
	int active_pairs;

	const char **argv; /* MIGRATE scratch */
	size_t *argvlen;
	size_t argcap;
	char *fmt; /* RESP encoding scratch */
	size_t fmtcap;
	char timeout_str[24];

	int failed, closing;
	char *err;
	size_t errlen;
	int64_t start_ms;
	int64_t progress_timer;
};

static void schedule(struct mrun *run);

__attribute__((format(printf, 2, 3))) static void run_fail(struct mrun *run, const char *fmt, ...)
{
	va_list ap;

	if (run->failed)
		return;
	run->failed = 1;
	if (run->err && run->errlen) {
		va_start(ap, fmt);
		vsnprintf(run->err, run->errlen, fmt, ap);
		va_end(ap);
	}
}

static const char *node_host(const struct mrun *run, int i)
{
	return run->nodes[i].host;
}

static int node_port(const struct mrun *run, int i)
{
	return run->nodes[i].port;
}

/* The text of an error or status reply, "" for other types. */
static const char *reply_text(const redisReply *r)
{
	if (r && (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS) && r->str)
		return r->str;
	return "";
}

static int reply_is_ok(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_STATUS && r->str && strcmp(r->str, "OK") == 0;
}

static int reply_has(const redisReply *r, const char *needle)
{
	return r && r->type == REDIS_REPLY_ERROR && r->str && strstr(r->str, needle) != NULL;
}

/* A short description of an unexpected reply, for error messages. */
/* The reply's text for a message. Bytes outside printable ASCII are turned
 * into '?' in place (the reply is ours and only read for messages and
 * prefixes afterwards), so a server's text cannot add lines to a log. */
static const char *reply_desc(const redisReply *r)
{
	if (!r)
		return "no reply";
	switch (r->type) {
	case REDIS_REPLY_ERROR:
	case REDIS_REPLY_STATUS:
		if (!r->str)
			return "";
		for (size_t i = 0; i < r->len; i++)
			if ((unsigned char)r->str[i] < 0x20 || (unsigned char)r->str[i] >= 0x7f)
				r->str[i] = '?';
		return r->str;
	case REDIS_REPLY_INTEGER:
		return "unexpected integer reply";
	case REDIS_REPLY_ARRAY:
		return "unexpected array reply";
	case REDIS_REPLY_NIL:
		return "unexpected nil reply";
	default:
		return "unexpected reply";
	}
}

/* ---- connections and requests ---- */

static void on_reply(redisAsyncContext *ac, void *r, void *privdata);

static size_t put_uint(char *p, size_t v)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* Encode argv as one RESP command into run->fmt; returns its length, or 0
 * when out of memory. (hiredis's own formatter goes through sdscatfmt per
 * argument, which shows up in profiles of 1000-key MIGRATEs.) */
static size_t format_command(struct mrun *run, int argc, const char **argv, const size_t *lens)
{
	size_t need = 16, len = 0;
	char *p;
	int i;

	for (i = 0; i < argc; i++)
		need += lens[i] + 32;
	if (need > run->fmtcap) {
		char *nb = realloc(run->fmt, need);

		if (!nb)
			return 0;
		run->fmt = nb;
		run->fmtcap = need;
	}
	p = run->fmt;
	p[len++] = '*';
	len += put_uint(p + len, (size_t)argc);
	p[len++] = '\r';
	p[len++] = '\n';
	for (i = 0; i < argc; i++) {
		p[len++] = '$';
		len += put_uint(p + len, lens[i]);
		p[len++] = '\r';
		p[len++] = '\n';
		memcpy(p + len, argv[i], lens[i]);
		len += lens[i];
		p[len++] = '\r';
		p[len++] = '\n';
	}
	return len;
}

/* Queue one command on c. Takes ownership of req. argv is copied. */
static int conn_send(struct mconn *c, struct mreq *req, int argc, const char **argv, const size_t *lens)
{
	struct mrun *run = c->run;
	size_t len = format_command(run, argc, argv, lens);

	req->conn = c;
	req->next = NULL;
	req->sent_ms = now_ms();
	if (!len) {
		run_fail(run, "out of memory");
		free(req);
		return -1;
	}
	if (!c->ac || redisAsyncFormattedCommand(c->ac, on_reply, req, run->fmt, len) != REDIS_OK) {
		run_fail(run, "node %s:%d: cannot send %s: connection is closed", node_host(run, c->node),
			 node_port(run, c->node), req_names[req->kind]);
		free(req);
		return -1;
	}
	if (c->tail)
		c->tail->next = req;
	else
		c->head = req;
	c->tail = req;
	return 0;
}

static struct mreq *req_new(struct mrun *run, enum req_kind kind, struct mslot *slot)
{
	struct mreq *req = calloc(1, sizeof(*req));

	if (!req) {
		run_fail(run, "out of memory");
		return NULL;
	}
	req->kind = kind;
	req->slot = slot;
	req->node = -1;
	return req;
}

/* The next of node's control connections, round robin. Valkey 8 makes a
 * SETSLOT on a primary with replicas wait until they acknowledge it, and a
 * client waits with it: one connection would carry one SETSLOT per replica
 * round trip. Several connections wait in parallel and share the acks. */
static struct mconn *ctl_conn(struct mrun *run, int node)
{
	return &run->ctl[(size_t)node * (size_t)run->nctl + run->ctl_next[node]++ % (unsigned)run->nctl];
}

/* CLUSTER SETSLOT <slot> <action> [<node id>] on connection c (of node). */
static int send_setslot_on(struct mrun *run, struct mconn *c, struct mslot *s, enum req_kind kind, int node,
			   const char *action, const char *id)
{
	char slotstr[16];
	const char *argv[5] = {"CLUSTER", "SETSLOT", slotstr, action, id};
	size_t lens[5];
	struct mreq *req = req_new(run, kind, s);
	int argc = id ? 5 : 4, i;

	if (!req)
		return -1;
	req->node = node;
	snprintf(slotstr, sizeof(slotstr), "%d", s->task->slot);
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	run->stats->setslot_commands++;
	return conn_send(c, req, argc, argv, lens);
}

/* CLUSTER SETSLOT <slot> <action> [<node id>] on one of node's control connections. */
static int send_setslot(struct mrun *run, struct mslot *s, enum req_kind kind, int node, const char *action,
			const char *id)
{
	return send_setslot_on(run, ctl_conn(run, node), s, kind, node, action, id);
}

static int send_slot_cmd(struct mrun *run, struct mconn *c, struct mslot *s, enum req_kind kind, const char *sub,
			 int count)
{
	char slotstr[16], countstr[16];
	const char *argv[4] = {"CLUSTER", sub, slotstr, countstr};
	size_t lens[4];
	struct mreq *req = req_new(run, kind, s);
	int argc = count > 0 ? 4 : 3, i;

	if (!req)
		return -1;
	snprintf(slotstr, sizeof(slotstr), "%d", s->task->slot);
	snprintf(countstr, sizeof(countstr), "%d", count);
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	return conn_send(c, req, argc, argv, lens);
}

static int send_getkeys(struct mrun *run, struct mslot *s)
{
	return send_slot_cmd(run, &run->mig[s->task->src], s, REQ_GETKEYS, "GETKEYSINSLOT", run->o.keys_per_batch);
}

/* MIGRATE host port "" 0 timeout [REPLACE] [AUTH pw] KEYS k... with the keys
 * of a GETKEYSINSLOT reply (binary safe, borrowed from the reply). */
static int send_migrate(struct mrun *run, struct mslot *s, const redisReply *keys)
{
	const struct migrate_node *dst = &run->nodes[s->task->dst];
	char portstr[16];
	struct mreq *req;
	size_t argc = 0, i;

	if (keys->elements + 16 > run->argcap) {
		run_fail(run, "slot %d: GETKEYSINSLOT returned %zu keys, more than asked for", s->task->slot,
			 keys->elements);
		return -1;
	}
	snprintf(portstr, sizeof(portstr), "%d", dst->port);
	run->argv[argc++] = "MIGRATE";
	run->argv[argc++] = dst->host;
	run->argv[argc++] = portstr;
	run->argv[argc++] = "";
	run->argv[argc++] = "0";
	run->argv[argc++] = run->timeout_str;
	if (s->replace)
		run->argv[argc++] = "REPLACE";
	if (run->o.password) {
		run->argv[argc++] = "AUTH";
		run->argv[argc++] = run->o.password;
	}
	run->argv[argc++] = "KEYS";
	for (i = 0; i < argc; i++)
		run->argvlen[i] = strlen(run->argv[i]);
	for (i = 0; i < keys->elements; i++) {
		const redisReply *k = keys->element[i];

		if (!k || k->type != REDIS_REPLY_STRING) {
			run_fail(run, "node %s:%d: slot %d: GETKEYSINSLOT returned a non-string element",
				 node_host(run, s->task->src), node_port(run, s->task->src), s->task->slot);
			return -1;
		}
		run->argv[argc] = k->str;
		run->argvlen[argc++] = (size_t)k->len;
	}
	req = req_new(run, REQ_MIGRATE, s);
	if (!req)
		return -1;
	req->nkeys = (int)keys->elements;
	run->stats->migrate_commands++;
	return conn_send(&run->mig[s->task->src], req, (int)argc, run->argv, run->argvlen);
}

/* ---- slot state machine ---- */

static void queue_push(struct slot_queue *q, struct mslot *s)
{
	s->link = NULL;
	if (q->tail)
		q->tail->link = s;
	else
		q->head = s;
	q->tail = s;
	q->len++;
}

static struct mslot *queue_pop(struct slot_queue *q)
{
	struct mslot *s = q->head;

	if (!s)
		return NULL;
	q->head = s->link;
	if (!q->head)
		q->tail = NULL;
	q->len--;
	s->link = NULL;
	return s;
}

static void slot_done(struct mrun *run, struct mslot *s)
{
	s->state = SLOT_DONE;
	run->ndone++;
	if (s->pair)
		s->pair->finishing--;
	else
		run->loose_active--;
	if (s->task->kind != MIGRATE_ROLLBACK)
		run->stats->slots_moved++;
}

/* Finishing on the target. SETSLOT NODE <myself> on a node that is IMPORTING
 * the slot bumps its configEpoch (so the new ownership wins everywhere) and,
 * on Valkey 8, broadcasts a PONG to every node, each of which then rescans
 * all 16384 slots and rewrites and fsyncs nodes.conf: done per slot, that
 * costs more CPU than moving the keys. So slots whose keys are all on the
 * target queue up here and are finished in batches (at most setslot_batch
 * slots, at most finish_delay_ms after the first one queued), one pipeline:
 *
 *  1. SETSLOT s1 NODE dst                      bump: dst now has the highest
 *                                               epoch (> src's)
 *  2. SETSLOT s2 STABLE, SETSLOT s2 NODE dst    after 1 replied: claimed at
 *     ...                                       that epoch, no bump, no
 *                                               broadcast (pairs spread over
 *                                               the control connections)
 *  3. SETSLOT sk NODE dst                       after all of 2 replied: still
 *                                               IMPORTING, so it bumps if
 *                                               needed and (Valkey 8)
 *                                               broadcasts all of s1..sk
 *
 * Every claim carries the highest epoch as of its batch, as the per-slot bump
 * gives, and on Valkey 8 the whole batch is announced to every node at once as
 * it would be per slot. STABLE only drops the IMPORTING mark of a slot whose
 * keys are all here already, right before NODE. */
static void batch_send_node(struct mrun *run, struct mbatch *b, size_t i)
{
	b->slots[i]->batch = b;
	send_setslot(run, b->slots[i], REQ_NODE, b->f->node, "NODE", run->nodes[b->f->node].id);
}

static int64_t on_finish_timer(struct evloop *loop, int64_t id, void *arg)
{
	struct mfinish *f = arg;
	struct mrun *run = f->run;

	(void)loop;
	(void)id;
	f->timer = 0;
	while (!run->failed && f->q.len > 0) {
		size_t k = f->q.len < (size_t)run->o.setslot_batch ? f->q.len : (size_t)run->o.setslot_batch;
		struct mbatch *b = calloc(1, sizeof(*b) + k * sizeof(b->slots[0]));
		size_t i;

		if (!b) {
			run_fail(run, "out of memory");
			break;
		}
		b->f = f;
		b->n = k;
		for (i = 0; i < k; i++)
			b->slots[i] = queue_pop(&f->q);
		b->phase = 1;
		batch_send_node(run, b, 0);
	}
	return 0;
}

/* Slot s of batch b is now owned by the target (its SETSLOT NODE replied
 * OK): move the batch on. Frees b when done. */
static void batch_progress(struct mrun *run, struct mbatch *b, struct mslot *s)
{
	size_t i;

	s->batch = NULL;
	switch (b->phase) {
	case 1:
		if (b->n == 1)
			break;
		b->phase = 2;
		b->pending = b->n - 2;
		for (i = 1; i + 1 < b->n && !run->failed; i++) {
			struct mconn *c = ctl_conn(run, b->f->node);

			/* STABLE then NODE on one connection: executed in order. */
			b->slots[i]->batch = b;
			if (send_setslot_on(run, c, b->slots[i], REQ_CLEAR, b->f->node, "STABLE", NULL) < 0)
				return;
			send_setslot_on(run, c, b->slots[i], REQ_NODE, b->f->node, "NODE", run->nodes[b->f->node].id);
		}
		if (b->pending > 0)
			return;
		b->phase = 3;
		batch_send_node(run, b, b->n - 1);
		return;
	case 2:
		if (--b->pending > 0)
			return;
		b->phase = 3;
		batch_send_node(run, b, b->n - 1);
		return;
	default:
		break;
	}
	free(b);
}

static void finish_arm(struct mrun *run, struct mfinish *f, int64_t delay)
{
	int64_t at = now_ms() + delay;

	if (f->timer && f->timer_at <= at)
		return;
	if (f->timer)
		evloop_del_timer(run->loop, f->timer);
	f->timer = evloop_add_timer(run->loop, delay, on_finish_timer, f);
	f->timer_at = at;
	if (f->timer < 0) {
		f->timer = 0;
		run_fail(run, "out of memory");
	}
}

static int pair_drained(const struct mpair *p)
{
	return p->next == p->nslots && p->opening == 0 && p->open.len == 0 && p->moving == 0;
}

/* Keys are all on dst (imported: 1 when our IMPORTING on dst succeeded and
 * our rounds emptied the slot), or dst owns the slot already: SETSLOT NODE
 * dst on dst, batched when imported.
 *
 * Not imported, SETSLOT NODE <myself> claims the slot at dst's current
 * config epoch without a bump. A former owner that still claims it at a
 * higher epoch (one that won an epoch collision, say) then takes it back in
 * dst's own view with its next ping, and once that owner is told otherwise
 * nobody claims the slot while every other node names dst: a split no
 * gossip repairs, since a node ignores UPDATE messages about itself. So dst
 * first bumps its epoch (BUMPEPOCH is a no-op when it already has the
 * highest), then claims. */
static void begin_owner(struct mrun *run, struct mslot *s, int imported)
{
	struct mfinish *f = &run->fin[s->task->dst];

	if (s->pair)
		s->pair->finishing++;
	if (!imported) {
		static const char *const argv[2] = {"CLUSTER", "BUMPEPOCH"};
		static const size_t lens[2] = {7, 9};
		struct mreq *req = req_new(run, REQ_BUMP, s);

		if (!req)
			return;
		req->node = s->task->dst;
		s->state = SLOT_BUMPING;
		conn_send(ctl_conn(run, s->task->dst), req, 2, (const char **)argv, lens);
		return;
	}
	s->state = SLOT_OWNER_DST;
	queue_push(&f->q, s);
	/* Flush now when the batch is full or this pair has nothing else to
	 * move (no reason to wait at the tail), else soon. */
	if (f->q.len >= (size_t)run->o.setslot_batch || pair_drained(s->pair))
		finish_arm(run, f, 0);
	else
		finish_arm(run, f, run->o.finish_delay_ms);
}

/* dst owns the slot: tell the source, then every other node (pipelined). */
static void broadcast_owner(struct mrun *run, struct mslot *s)
{
	const char *id = run->nodes[s->task->dst].id;
	size_t i;

	s->state = SLOT_OWNER_ALL;
	s->pending = 0;
	if (s->task->src >= 0 && s->task->src != s->task->dst) {
		if (send_setslot(run, s, REQ_NODE, s->task->src, "NODE", id) < 0)
			return;
		s->pending++;
	}
	for (i = 0; i < run->nnodes; i++) {
		if ((int)i == s->task->dst || (int)i == s->task->src)
			continue;
		if (send_setslot(run, s, REQ_NODE, (int)i, "NODE", id) < 0)
			return;
		s->pending++;
	}
	if (s->pending == 0)
		slot_done(run, s);
}

static void start_slot(struct mrun *run, struct mslot *s)
{
	const struct migrate_task *t = s->task;

	switch (t->kind) {
	case MIGRATE_MOVE:
		s->pair->opening++;
		s->state = SLOT_IMPORTING;
		send_setslot(run, s, REQ_IMPORTING, t->dst, "IMPORTING", run->nodes[t->src].id);
		break;
	case MIGRATE_SETOWNER:
		begin_owner(run, s, 0);
		break;
	case MIGRATE_ROLLBACK:
		s->state = SLOT_STABLE;
		s->pending = 0;
		if (t->src >= 0 && send_setslot(run, s, REQ_STABLE, t->src, "STABLE", NULL) == 0)
			s->pending++;
		if (t->dst >= 0 && t->dst != t->src && send_setslot(run, s, REQ_STABLE, t->dst, "STABLE", NULL) == 0)
			s->pending++;
		if (s->pending == 0 && !run->failed)
			slot_done(run, s);
		break;
	}
}

static int64_t on_retry_timer(struct evloop *loop, int64_t id, void *arg)
{
	struct mslot *s = arg;

	(void)loop;
	(void)id;
	s->timer = 0;
	if (s->run->failed || s->run->closing)
		return 0;
	s->state = SLOT_MOVING;
	send_getkeys(s->run, s);
	return 0;
}

static void handle_importing(struct mrun *run, struct mslot *s, const struct mreq *req, const redisReply *r)
{
	const struct migrate_task *t = s->task;

	if (reply_is_ok(r)) {
		s->state = SLOT_MIGRATING;
		send_setslot(run, s, REQ_MIGRATING, t->src, "MIGRATING", run->nodes[t->dst].id);
	} else if (reply_has(r, "already the owner")) {
		/* A previous run got as far as SETSLOT NODE on dst: finish it. */
		s->pair->opening--;
		begin_owner(run, s, 0);
	} else {
		run_fail(run, "node %s:%d: slot %d: %s %s: %.*s", node_host(run, req->node), node_port(run, req->node),
			 t->slot, req_names[req->kind], run->nodes[t->src].id, ERRMSG_MAX, reply_desc(r));
	}
}

static void handle_migrating(struct mrun *run, struct mslot *s, const struct mreq *req, const redisReply *r)
{
	const struct migrate_task *t = s->task;

	if (reply_is_ok(r)) {
		/* Open; pair_fill starts moving it when a moving slot is free. */
		s->pair->opening--;
		s->state = SLOT_OPEN;
		queue_push(&s->pair->open, s);
	} else if (reply_has(r, "not the owner")) {
		/* dst did not own it a round trip ago (IMPORTING succeeded) and src
		 * does not own it now: the plan is stale. Undo our IMPORTING on dst
		 * if it holds no keys of the slot, then fail. */
		s->state = SLOT_ABORTING;
		send_slot_cmd(run, ctl_conn(run, t->dst), s, REQ_COUNTKEYS, "COUNTKEYSINSLOT", 0);
	} else {
		run_fail(run, "node %s:%d: slot %d: %s %s: %.*s", node_host(run, req->node), node_port(run, req->node),
			 t->slot, req_names[req->kind], run->nodes[t->dst].id, ERRMSG_MAX, reply_desc(r));
	}
}

static void handle_abort(struct mrun *run, struct mslot *s, const struct mreq *req, const redisReply *r)
{
	const struct migrate_task *t = s->task;

	if (req->kind == REQ_COUNTKEYS && r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
		send_setslot(run, s, REQ_STABLE, t->dst, "STABLE", NULL);
		return;
	}
	if (req->kind == REQ_COUNTKEYS && r->type != REDIS_REPLY_INTEGER)
		run_fail(run, "node %s:%d: not the owner of slot %d (stale plan); COUNTKEYSINSLOT on %s:%d: %.*s",
			 node_host(run, t->src), node_port(run, t->src), t->slot, node_host(run, t->dst),
			 node_port(run, t->dst), ERRMSG_MAX, reply_desc(r));
	else if (req->kind == REQ_COUNTKEYS)
		run_fail(run,
			 "node %s:%d: not the owner of slot %d (stale plan); target %s:%d holds keys of the slot "
			 "and stays IMPORTING",
			 node_host(run, t->src), node_port(run, t->src), t->slot, node_host(run, t->dst),
			 node_port(run, t->dst));
	else
		run_fail(run, "node %s:%d: not the owner of slot %d (stale plan); IMPORTING on %s:%d rolled back%s",
			 node_host(run, t->src), node_port(run, t->src), t->slot, node_host(run, t->dst),
			 node_port(run, t->dst), reply_is_ok(r) ? "" : " failed");
}

static void handle_getkeys(struct mrun *run, struct mslot *s, const redisReply *r)
{
	const struct migrate_task *t = s->task;

	if (r->type != REDIS_REPLY_ARRAY) {
		run_fail(run, "node %s:%d: slot %d: GETKEYSINSLOT: %.*s", node_host(run, t->src),
			 node_port(run, t->src), t->slot, ERRMSG_MAX, reply_desc(r));
		return;
	}
	if (s->retry) {
		/* The MIGRATE before this asked to retry later: its keys are
		 * still there; fetch them again when the timer fires. */
		s->retry = 0;
		s->state = SLOT_RETRY;
		s->timer = evloop_add_timer(run->loop, RETRY_DELAY_MS, on_retry_timer, s);
		if (s->timer < 0) {
			s->timer = 0;
			run_fail(run, "out of memory");
		}
		return;
	}
	if (r->elements == 0) {
		s->pair->moving--;
		begin_owner(run, s, 1);
		return;
	}
	if (send_migrate(run, s, r) == 0)
		send_getkeys(run, s);
}

static void handle_migrate(struct mrun *run, struct mslot *s, const struct mreq *req, const redisReply *r)
{
	const struct migrate_task *t = s->task;
	const char *what = NULL;

	if (r->type == REDIS_REPLY_STATUS) {
		/* "OK", or "NOKEY" when every key vanished since GETKEYSINSLOT */
		if (strcmp(reply_text(r), "NOKEY") == 0)
			run->stats->nokey_replies++;
		else
			run->stats->keys_moved += (uint64_t)req->nkeys;
		return;
	}
	if (reply_has(r, "BUSYKEY")) {
		/* The target has some of the keys (written through ASK, or a
		 * MIGRATE whose reply timed out). While the slot is MIGRATING the
		 * source copy is authoritative: retry with REPLACE. Keys that
		 * did move were deleted from the source already. */
		run->stats->busykey_retries++;
		if (s->replace && ++s->busykeys > MAX_BUSYKEY)
			what = "BUSYKEY even with REPLACE";
		s->replace = 1;
	} else if (reply_has(r, "TRYAGAIN") || reply_has(r, "CLUSTERDOWN The cluster is down")) {
		/* CLUSTERDOWN: the target is not ok yet (a master that just
		 * joined waits out a rejoin delay); it passes like TRYAGAIN. "Hash
		 * slot not served" is not retried: that one does not pass. */
		run->stats->tryagain_retries++;
		if (++s->tryagains > MAX_TRYAGAIN)
			what = "TRYAGAIN for too long";
		s->retry = 1;
	} else if (reply_has(r, "IOERR")) {
		/* Timeout or I/O error between source and target. The keys may
		 * be on both now: retry with REPLACE. */
		run->stats->ioerr_retries++;
		if (++s->ioerrs > MAX_IOERR)
			what = "repeated IOERR";
		s->retry = 1;
		s->replace = 1;
	} else if (reply_has(r, "MOVED") || reply_has(r, "ASK")) {
		what = "target does not accept the slot (not IMPORTING?)";
	} else {
		what = "failed";
	}
	if (what)
		run_fail(run, "node %s:%d: slot %d: MIGRATE to %s:%d: %s: %.*s", node_host(run, t->src),
			 node_port(run, t->src), t->slot, node_host(run, t->dst), node_port(run, t->dst), what,
			 ERRMSG_MAX, reply_desc(r));
}

/* SETSLOT NODE refused by a node that is not a master any more: the server
 * turned an emptied master into a replica of the node that took its last
 * slot (cluster-allow-replica-migration); that holds for the source too. */
static int became_replica_error(const redisReply *r)
{
	return reply_has(r, "only with master") || reply_has(r, "only with primar");
}

/* SETSLOT NODE not applied because the node's replicas did not acknowledge
 * it in time (Valkey 8 replicates SETSLOT first). Sent after the target
 * claimed the slot at a bumped epoch, gossip then gives the slot to the
 * target and clears a MIGRATING mark all the same. Seen at a source whose
 * last slot moved: its replica follows that slot to the target (Valkey's
 * replica migration, decided by the replica) while the source waits for it. */
static int replicas_did_not_ack_error(const redisReply *r)
{
	return reply_has(r, "NOREPLICAS");
}

/* Errors on SETSLOT NODE at a node that is neither source nor target that
 * gossip will repair and that must not fail the run: the node became a
 * replica, does not know the target yet, or its replicas were slow. */
static int ignorable_bystander_error(const redisReply *r)
{
	return became_replica_error(r) || replicas_did_not_ack_error(r) || reply_has(r, "Unknown node") ||
	       reply_has(r, "don't know about node");
}

static void handle_node(struct mrun *run, struct mslot *s, const struct mreq *req, const redisReply *r)
{
	const struct migrate_task *t = s->task;

	if (s->state == SLOT_OWNER_DST) {
		if (!reply_is_ok(r)) {
			run_fail(run, "node %s:%d: slot %d: %s %s: %.*s", node_host(run, req->node),
				 node_port(run, req->node), t->slot, req_names[req->kind], run->nodes[t->dst].id,
				 ERRMSG_MAX, reply_desc(r));
			return;
		}
		if (s->batch)
			batch_progress(run, s->batch, s);
		broadcast_owner(run, s);
		return;
	}
	if (!reply_is_ok(r)) {
		if ((req->node != t->src && ignorable_bystander_error(r)) ||
		    (req->node == t->src && (became_replica_error(r) || replicas_did_not_ack_error(r)))) {
			run->stats->setslot_errors_ignored++;
		} else {
			run_fail(run, "node %s:%d: slot %d: %s %s: %.*s", node_host(run, req->node),
				 node_port(run, req->node), t->slot, req_names[req->kind], run->nodes[t->dst].id,
				 ERRMSG_MAX, reply_desc(r));
			return;
		}
	}
	if (--s->pending == 0)
		slot_done(run, s);
}

static void handle_stable(struct mrun *run, struct mslot *s, const struct mreq *req, const redisReply *r)
{
	if (!reply_is_ok(r)) {
		run_fail(run, "node %s:%d: slot %d: %s: %.*s", node_host(run, req->node), node_port(run, req->node),
			 s->task->slot, req_names[req->kind], ERRMSG_MAX, reply_desc(r));
		return;
	}
	if (--s->pending == 0)
		slot_done(run, s);
}

static void dispatch(struct mrun *run, struct mreq *req, const redisReply *r)
{
	struct mconn *c = req->conn;
	struct mslot *s = req->slot;

	if (req->kind == REQ_AUTH) {
		if (r->type == REDIS_REPLY_ERROR)
			run_fail(run, "node %s:%d: AUTH failed: %.*s", node_host(run, c->node), node_port(run, c->node),
				 ERRMSG_MAX, reply_desc(r));
		return;
	}
	if (s->state == SLOT_ABORTING) {
		handle_abort(run, s, req, r);
		return;
	}
	switch (req->kind) {
	case REQ_IMPORTING:
		handle_importing(run, s, req, r);
		break;
	case REQ_MIGRATING:
		handle_migrating(run, s, req, r);
		break;
	case REQ_GETKEYS:
		handle_getkeys(run, s, r);
		break;
	case REQ_MIGRATE:
		handle_migrate(run, s, req, r);
		break;
	case REQ_NODE:
		handle_node(run, s, req, r);
		break;
	case REQ_STABLE:
		handle_stable(run, s, req, r);
		break;
	case REQ_BUMP:
		/* "BUMPED" or "STILL"; an error (the command renamed away, say)
		 * costs only the bump, so the claim goes ahead. */
		if (r->type == REDIS_REPLY_ERROR)
			run->stats->setslot_errors_ignored++;
		s->state = SLOT_OWNER_DST;
		send_setslot(run, s, REQ_NODE, s->task->dst, "NODE", run->nodes[s->task->dst].id);
		break;
	case REQ_CLEAR:
		if (!reply_is_ok(r))
			run_fail(run, "node %s:%d: slot %d: %s: %.*s", node_host(run, req->node),
				 node_port(run, req->node), s->task->slot, req_names[req->kind], ERRMSG_MAX,
				 reply_desc(r));
		break;
	case REQ_AUTH:
	case REQ_COUNTKEYS:
		break;
	}
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct mreq *req = privdata;
	struct mconn *c = req->conn;
	struct mrun *run = c->run;

	/* Replies come in request order: req is the head of the FIFO. */
	if (c->head == req) {
		c->head = req->next;
		if (!c->head)
			c->tail = NULL;
	}
	if (!run->closing && !run->failed) {
		if (!r)
			run_fail(run, "node %s:%d: connection lost waiting for %s%s%s", node_host(run, c->node),
				 node_port(run, c->node), req_names[req->kind], ac->errstr ? ": " : "",
				 ac->errstr ? resp_errstr(ac->err, ac->errstr) : "");
		else
			dispatch(run, req, r);
		if (!run->failed)
			schedule(run);
	}
	free(req);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct mconn *c = ac->data;
	struct mrun *run = c->run;

	if (status == REDIS_OK) {
		c->connected = 1;
		return;
	}
	c->ac = NULL; /* hiredis frees it after this callback */
	if (!run->closing)
		run_fail(run, "node %s:%d: connect: %s", node_host(run, c->node), node_port(run, c->node),
			 ac->errstr ? resp_errstr(ac->err, ac->errstr) : "failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct mconn *c = ac->data;
	struct mrun *run = c->run;

	(void)status;
	c->ac = NULL;
	c->connected = 0;
	if (!run->closing)
		run_fail(run, "node %s:%d: %s connection closed%s%s", node_host(run, c->node), node_port(run, c->node),
			 c->role == CONN_MIGRATE ? "migrate" : "control", ac->errstr ? ": " : "",
			 ac->errstr ? resp_errstr(ac->err, ac->errstr) : "");
}

static int64_t on_conn_timer(struct evloop *loop, int64_t id, void *arg)
{
	struct mconn *c = arg;
	struct mrun *run = c->run;
	int64_t now = now_ms(), limit = run->o.command_timeout_ms;
	int64_t every = limit / 4 > 250 ? 250 : (limit / 4 > 0 ? limit / 4 : 1);

	(void)loop;
	(void)id;
	if (run->failed || run->closing || !c->ac)
		return every;
	if (!c->connected && now - c->opened_ms > limit) {
		run_fail(run, "node %s:%d: connect timed out after %lld ms", node_host(run, c->node),
			 node_port(run, c->node), (long long)limit);
	} else if (c->head && now - c->head->sent_ms > limit) {
		if (c->head->slot)
			run_fail(run, "node %s:%d: no reply to %s for slot %d within %lld ms", node_host(run, c->node),
				 node_port(run, c->node), req_names[c->head->kind], c->head->slot->task->slot,
				 (long long)limit);
		else
			run_fail(run, "node %s:%d: no reply to %s within %lld ms", node_host(run, c->node),
				 node_port(run, c->node), req_names[c->head->kind], (long long)limit);
	}
	return every;
}

static int conn_open(struct mrun *run, struct mconn *c, int node, enum conn_role role)
{
	const struct migrate_node *n = &run->nodes[node];
	redisAsyncContext *ac;

	c->run = run;
	c->node = node;
	c->role = role;
	ac = redisAsyncConnect(n->host, n->port);
	if (!ac)
		return seterr(run->err, run->errlen, "out of memory");
	if (ac->err) {
		seterr(run->err, run->errlen, "node %s:%d: connect: %s", n->host, n->port, ac->errstr);
		redisAsyncFree(ac);
		return -1;
	}
	ac->data = c;
	resp_cap_reader(ac->c.reader);
	if (redis_ev_attach(run->loop, ac) < 0) {
		redisAsyncFree(ac);
		return seterr(run->err, run->errlen, "out of memory");
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	c->ac = ac;
	c->opened_ms = now_ms();
	c->timer = evloop_add_timer(run->loop, 250, on_conn_timer, c);
	if (c->timer < 0) {
		c->timer = 0;
		return seterr(run->err, run->errlen, "out of memory");
	}
	if (run->o.password) {
		const char *argv[2] = {"AUTH", run->o.password};
		size_t lens[2] = {4, strlen(run->o.password)};
		struct mreq *req = req_new(run, REQ_AUTH, NULL);

		if (!req || conn_send(c, req, 2, argv, lens) < 0)
			return -1;
	}
	return 0;
}

static void conn_close(struct mconn *c)
{
	redisAsyncContext *ac = c->ac;

	if (c->timer > 0)
		evloop_del_timer(c->run->loop, c->timer);
	c->timer = 0;
	c->ac = NULL;
	if (ac)
		redisAsyncFree(ac); /* pending callbacks get NULL; run->closing is set */
}

/* ---- scheduling ---- */

/* Keep slots_in_flight slots moving keys, and enough slots open ahead that
 * a free moving slot never waits: open them in waves of setslot_batch (one
 * pipeline of IMPORTING to dst, then one of MIGRATING to src), so each node
 * persists its config once per wave instead of once per slot. */
static void pair_fill(struct mrun *run, struct mpair *p)
{
	int sif = run->o.slots_in_flight, batch = run->o.setslot_batch;
	struct mslot *s;

	while (!run->failed && p->moving < sif && (s = queue_pop(&p->open)) != NULL) {
		p->moving++;
		s->state = SLOT_MOVING;
		send_getkeys(run, s);
	}
	if (p->next < p->nslots && (size_t)p->opening + p->open.len <= (size_t)batch / 2) {
		int n;

		for (n = 0; n < batch && p->next < p->nslots && !run->failed; n++)
			start_slot(run, p->slots[p->next++]);
	}
}

/* Start whatever may start now. Called after every reply. */
static void schedule(struct mrun *run)
{
	size_t i;
	int again;

	while (!run->failed && run->loose_next < run->nloose && run->loose_active < LOOSE_IN_FLIGHT) {
		run->loose_active++;
		start_slot(run, run->loose[run->loose_next++]);
	}
	do {
		again = 0;
		for (i = 0; i < run->npairs && !run->failed; i++) {
			struct mpair *p = &run->pairs[i];

			if (p->done)
				continue;
			if (!p->active) {
				if (run->src_busy[p->src] ||
				    (run->o.max_pairs > 0 && run->active_pairs >= run->o.max_pairs))
					continue;
				p->active = 1;
				run->src_busy[p->src] = 1;
				run->active_pairs++;
			}
			pair_fill(run, p);
			if (pair_drained(p) && p->finishing == 0) {
				p->done = 1;
				p->active = 0;
				run->src_busy[p->src] = 0;
				run->active_pairs--;
				again = 1; /* a waiting pair of this source may start */
			}
		}
	} while (again && !run->failed);
}

static void report_progress(struct mrun *run, const char *phase)
{
	struct migrator_progress p;

	if (!run->o.progress)
		return;
	memset(&p, 0, sizeof(p));
	p.slots_total = run->nslots;
	p.slots_done = run->ndone;
	p.keys_moved = run->stats->keys_moved;
	p.elapsed_ms = now_ms() - run->start_ms;
	p.phase = phase;
	run->o.progress(&p, run->o.progress_arg);
}

static int64_t on_progress_timer(struct evloop *loop, int64_t id, void *arg)
{
	struct mrun *run = arg;

	(void)loop;
	(void)id;
	report_progress(run, "migrating");
	return run->o.progress_interval_ms;
}

/* ---- setup ---- */

static int check_tasks(const struct migrate_task *tasks, size_t ntasks, size_t nnodes, char *err, size_t errlen)
{
	unsigned char *seen = calloc(CLUSTER_SLOTS, 1);
	size_t i;
	int rc = -1;

	if (!seen)
		return seterr(err, errlen, "out of memory");
	for (i = 0; i < ntasks; i++) {
		const struct migrate_task *t = &tasks[i];
		int src_ok = t->src >= 0 && (size_t)t->src < nnodes;
		int dst_ok = t->dst >= 0 && (size_t)t->dst < nnodes;

		if (t->slot < 0 || t->slot >= CLUSTER_SLOTS) {
			seterr(err, errlen, "task %zu: slot %d out of range", i, t->slot);
			goto out;
		}
		if (seen[t->slot]) {
			seterr(err, errlen, "task %zu: slot %d appears twice", i, t->slot);
			goto out;
		}
		seen[t->slot] = 1;
		switch (t->kind) {
		case MIGRATE_MOVE:
			if (!src_ok || !dst_ok || t->src == t->dst) {
				seterr(err, errlen, "task %zu: slot %d: bad source/target", i, t->slot);
				goto out;
			}
			break;
		case MIGRATE_SETOWNER:
			if (!dst_ok || (t->src != -1 && !src_ok)) {
				seterr(err, errlen, "task %zu: slot %d: bad target", i, t->slot);
				goto out;
			}
			break;
		case MIGRATE_ROLLBACK:
			if ((t->src != -1 && !src_ok) || (t->dst != -1 && !dst_ok) || (t->src == -1 && t->dst == -1)) {
				seterr(err, errlen, "task %zu: slot %d: bad source/target", i, t->slot);
				goto out;
			}
			break;
		default:
			seterr(err, errlen, "task %zu: slot %d: unknown kind %d", i, t->slot, (int)t->kind);
			goto out;
		}
	}
	rc = 0;
out:
	free(seen);
	return rc;
}

static void opts_defaults(struct migrator_opts *o, const struct migrator_opts *in)
{
	if (in)
		*o = *in;
	else
		memset(o, 0, sizeof(*o));
	if (o->slots_in_flight <= 0)
		o->slots_in_flight = DEFAULT_SLOTS_IN_FLIGHT;
	if (o->slots_in_flight > 4096)
		o->slots_in_flight = 4096;
	if (o->keys_per_batch <= 0)
		o->keys_per_batch = DEFAULT_KEYS_PER_BATCH;
	if (o->keys_per_batch > 100000)
		o->keys_per_batch = 100000;
	if (o->migrate_timeout_ms <= 0)
		o->migrate_timeout_ms = DEFAULT_MIGRATE_TIMEOUT_MS;
	if (o->command_timeout_ms <= 0)
		o->command_timeout_ms = DEFAULT_COMMAND_TIMEOUT_MS;
	if (o->control_connections <= 0)
		o->control_connections = DEFAULT_CONTROL_CONNECTIONS;
	if (o->control_connections > 64)
		o->control_connections = 64;
	if (o->setslot_batch <= 0)
		o->setslot_batch = DEFAULT_SETSLOT_BATCH;
	if (o->setslot_batch > 4096)
		o->setslot_batch = 4096;
	if (o->finish_delay_ms == 0)
		o->finish_delay_ms = DEFAULT_FINISH_DELAY_MS;
	else if (o->finish_delay_ms < 0)
		o->finish_delay_ms = 0;
	if (o->max_pairs < 0)
		o->max_pairs = 0;
	if (o->progress_interval_ms <= 0)
		o->progress_interval_ms = DEFAULT_PROGRESS_INTERVAL_MS;
}

/* Control connections per node: as asked, but all connections together
 * (nnodes * (n + 1), migrate connections included) must fit in the open-file
 * limit with FD_RESERVE to spare. At least 1. */
static int control_connections(const struct migrator_opts *o, size_t nnodes)
{
	struct rlimit rl;
	int n = o->control_connections;

	if (nnodes > 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		long long budget = (long long)rl.rlim_cur - FD_RESERVE;
		long long per_node = budget / (long long)nnodes - 1; /* minus the migrate connection */

		if (per_node < n)
			n = per_node < 1 ? 1 : (int)per_node;
	}
	return n;
}

/* Group MOVE tasks into (src, dst) pairs in order of first appearance. */
static int build_pairs(struct mrun *run, const struct migrate_task *tasks, size_t ntasks)
{
	size_t i, j;

	run->pairs = calloc(ntasks ? ntasks : 1, sizeof(*run->pairs));
	run->loose = calloc(ntasks ? ntasks : 1, sizeof(*run->loose));
	if (!run->pairs || !run->loose)
		return -1;
	for (i = 0; i < ntasks; i++) {
		struct mslot *s = &run->slots[i];

		s->task = &tasks[i];
		s->run = run;
		if (tasks[i].kind != MIGRATE_MOVE) {
			run->loose[run->nloose++] = s;
			continue;
		}
		for (j = 0; j < run->npairs; j++)
			if (run->pairs[j].src == tasks[i].src && run->pairs[j].dst == tasks[i].dst)
				break;
		if (j == run->npairs) {
			run->pairs[j].src = tasks[i].src;
			run->pairs[j].dst = tasks[i].dst;
			run->npairs++;
		}
		run->pairs[j].nslots++;
		s->pair = &run->pairs[j];
	}
	for (j = 0; j < run->npairs; j++) {
		run->pairs[j].slots = calloc(run->pairs[j].nslots, sizeof(*run->pairs[j].slots));
		if (!run->pairs[j].slots)
			return -1;
		run->pairs[j].nslots = 0;
	}
	for (i = 0; i < ntasks; i++) {
		struct mpair *p = run->slots[i].pair;

		if (p)
			p->slots[p->nslots++] = &run->slots[i];
	}
	return 0;
}

static void run_free(struct mrun *run)
{
	size_t i;

	run->closing = 1;
	if (run->progress_timer > 0)
		evloop_del_timer(run->loop, run->progress_timer);
	for (i = 0; run->slots && i < run->nslots; i++)
		if (run->slots[i].timer > 0)
			evloop_del_timer(run->loop, run->slots[i].timer);
	for (i = 0; run->fin && i < run->nnodes; i++)
		if (run->fin[i].timer > 0)
			evloop_del_timer(run->loop, run->fin[i].timer);
	for (i = 0; run->ctl && i < run->nnodes * (size_t)run->nctl; i++)
		if (run->ctl[i].run)
			conn_close(&run->ctl[i]);
	for (i = 0; run->mig && i < run->nnodes; i++)
		if (run->mig[i].run)
			conn_close(&run->mig[i]);
	/* Batches still in flight (failed run): each is referenced by the
	 * slots whose SETSLOT NODE is outstanding; free each once. */
	for (i = 0; run->slots && i < run->nslots; i++) {
		struct mbatch *b = run->slots[i].batch;
		size_t j;

		if (!b)
			continue;
		for (j = 0; j < b->n; j++)
			b->slots[j]->batch = NULL;
		free(b);
	}
	for (i = 0; run->pairs && i < run->npairs; i++)
		free(run->pairs[i].slots);
	free(run->pairs);
	free(run->loose);
	free(run->slots);
	free(run->ctl);
	free(run->ctl_next);
	free(run->mig);
	free(run->fin);
	free(run->src_busy);
	free(run->argv);
	free(run->argvlen);
	free(run->fmt);
}

int migrator_run(struct evloop *loop, const struct migrate_node *nodes, size_t nnodes, const struct migrate_task *tasks,
		 size_t ntasks, const struct migrator_opts *o, struct migrator_stats *stats, char *err, size_t errlen)
{
	struct migrator_stats dummy;
	struct mrun run;
	size_t i;
	int rc = -1;

	if (!stats)
		stats = &dummy;
	memset(stats, 0, sizeof(*stats));
	memset(&run, 0, sizeof(run));
	if (err && errlen)
		err[0] = '\0';
	if (!loop || (!nodes && nnodes) || (!tasks && ntasks))
		return seterr(err, errlen, "migrator: bad arguments");
	if (check_tasks(tasks, ntasks, nnodes, err, errlen) < 0)
		return -1;
	if (ntasks == 0)
		return 0;

	run.loop = loop;
	run.nodes = nodes;
	run.nnodes = nnodes;
	run.stats = stats;
	run.err = err;
	run.errlen = errlen;
	run.start_ms = now_ms();
	opts_defaults(&run.o, o);
	snprintf(run.timeout_str, sizeof(run.timeout_str), "%d", run.o.migrate_timeout_ms);

	run.nslots = ntasks;
	run.slots = calloc(ntasks, sizeof(*run.slots));
	run.nctl = control_connections(&run.o, nnodes);
	run.ctl = calloc(nnodes * (size_t)run.nctl, sizeof(*run.ctl));
	run.ctl_next = calloc(nnodes, sizeof(*run.ctl_next));
	run.mig = calloc(nnodes, sizeof(*run.mig));
	run.fin = calloc(nnodes, sizeof(*run.fin));
	run.src_busy = calloc(nnodes, sizeof(*run.src_busy));
	run.argcap = (size_t)run.o.keys_per_batch + 16;
	run.argv = calloc(run.argcap, sizeof(*run.argv));
	run.argvlen = calloc(run.argcap, sizeof(*run.argvlen));
	if (!run.slots || !run.ctl || !run.ctl_next || !run.mig || !run.fin || !run.src_busy || !run.argv ||
	    !run.argvlen || build_pairs(&run, tasks, ntasks) < 0) {
		seterr(err, errlen, "out of memory");
		goto out;
	}

	for (i = 0; i < nnodes; i++) {
		run.fin[i].run = &run;
		run.fin[i].node = (int)i;
	}
	for (i = 0; i < nnodes * (size_t)run.nctl; i++)
		if (conn_open(&run, &run.ctl[i], (int)(i / (size_t)run.nctl), CONN_CONTROL) < 0)
			goto out;
	for (i = 0; i < run.npairs; i++) {
		int src = run.pairs[i].src;

		if (!run.mig[src].run && conn_open(&run, &run.mig[src], src, CONN_MIGRATE) < 0)
			goto out;
	}
	if (run.o.progress) {
		run.progress_timer = evloop_add_timer(loop, run.o.progress_interval_ms, on_progress_timer, &run);
		if (run.progress_timer < 0) {
			run.progress_timer = 0;
			seterr(err, errlen, "out of memory");
			goto out;
		}
	}

	schedule(&run);
	while (!run.failed && run.ndone < run.nslots) {
		if (evloop_run_once(loop, 100) < 0) {
			run_fail(&run, "event loop: %s", strerror(errno));
			break;
		}
	}
	if (!run.failed)
		rc = 0;
	report_progress(&run, run.failed ? "failed" : "done");
out:
	stats->elapsed_ms = now_ms() - run.start_ms;
	run_free(&run);
	return rc;
}
