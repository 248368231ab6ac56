/* migrate_slots: drive migrator_run from the command line (tests, benchmarks).
 *
 *   migrate_slots --seed HOST:PORT --to NODE --slots A-B[,C-D...]
 *                 [--to NODE --slots ...]... [--password-file F]
 *                 [--slots-in-flight N] [--keys-per-batch N] [--max-pairs N]
 *                 [--setslot-batch N] [--finish-delay MS] [--timeout MS]
 *                 [--control-connections N] [--progress] [--verbose]
 *
 * NODE is a node id or the HOST:PORT of a master. Reads CLUSTER NODES from the
 * seed (slot owners, masters) and from every master (open slots: only a node
 * itself reports its [slot->-id] / [slot-<-id] states). Open slots become MOVE
 * tasks first (the migrator finishes them, or turns them into SETOWNER when the
 * target already owns the slot), then every requested slot not yet owned by its
 * target. Prints one line of stats; exit 0 on success. CLUSTER NODES is parsed
 * by the library (topology_parse_nodes). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "evloop.h"
#include "migrator.h"
#include "topology.h"
#include "util.h"

#define MAX_NODES 512
#define MAX_GROUPS 64

struct master {
	struct migrate_node node;
	int fail; /* flagged fail/noaddr: not contacted */
};

struct group {
	const char *to;
	unsigned char *slots; /* [CLUSTER_SLOTS] */
};

static struct master masters[MAX_NODES];
static size_t nmasters;
static int owner[CLUSTER_SLOTS]; /* index into masters, -1 none */
static int verbose;
static int sync_timeout_ms = 5000; /* CLUSTER NODES reads; --timeout caps it */

static void usage(void)
{
	fprintf(stderr, "usage: migrate_slots --seed HOST:PORT --to NODE --slots A-B[,C-D] [--to NODE --slots ...]\n"
			"                     [--password-file F] [--slots-in-flight N] [--keys-per-batch N]\n"
			"                     [--max-pairs N] [--setslot-batch N] [--finish-delay MS] [--timeout MS]\n"
			"                     [--control-connections N]\n"
			"                     [--progress] [--verbose]\n");
	exit(EXIT_USAGE);
}

static redisContext *connect_node(const char *host, int port, const char *password)
{
	struct timeval tv = {sync_timeout_ms / 1000, (sync_timeout_ms % 1000) * 1000};
	redisContext *c = redisConnectWithTimeout(host, port, tv);
	redisReply *r;

	if (!c || c->err) {
		fprintf(stderr, "migrate_slots: %s:%d: connect: %s\n", host, port, c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	if (password) {
		r = redisCommand(c, "AUTH %s", password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			fprintf(stderr, "migrate_slots: %s:%d: AUTH failed: %s\n", host, port, r ? r->str : c->errstr);
			if (r)
				freeReplyObject(r);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(r);
	}
	return c;
}

/* CLUSTER NODES text of host:port, caller frees; NULL on error (printed). */
static char *cluster_nodes(const char *host, int port, const char *password)
{
	redisContext *c = connect_node(host, port, password);
	redisReply *r;
	char *text = NULL;

	if (!c)
		return NULL;
	r = redisCommand(c, "CLUSTER NODES");
	if (r && r->type == REDIS_REPLY_STRING)
		text = strdup(r->str);
	else
		fprintf(stderr, "migrate_slots: %s:%d: CLUSTER NODES: %s\n", host, port,
			r ? (r->str ? r->str : "bad reply") : c->errstr);
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return text;
}

static int find_master(const char *id)
{
	size_t i;

	for (i = 0; i < nmasters; i++)
		if (strcmp(masters[i].node.id, id) == 0)
			return (int)i;
	return -1;
}

/* Masters and slot owners from the seed's CLUSTER NODES. */
static int parse_seed(const char *text)
{
	struct topology *t = NULL;
	char err[512];
	size_t i;
	int s;

	if (topology_parse_nodes(text, strlen(text), &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "migrate_slots: seed CLUSTER NODES: %s\n", err);
		return -1;
	}
	for (s = 0; s < CLUSTER_SLOTS; s++)
		owner[s] = -1;
	for (i = 0; i < t->nnodes; i++) {
		const struct cluster_node *n = &t->nodes[i];
		struct master *m;
		size_t r;

		if (!(n->flags & NODE_MASTER))
			continue;
		if (nmasters == MAX_NODES) {
			topology_free(t);
			return -1;
		}
		m = &masters[nmasters];
		memset(m, 0, sizeof(*m));
		strlcpy_a(m->node.id, n->id, sizeof(m->node.id));
		strlcpy_a(m->node.host, n->ip[0] ? n->ip : n->hostname, sizeof(m->node.host));
		m->node.port = n->port;
		m->fail = (n->flags & (NODE_FAIL | NODE_NOADDR)) != 0 || !m->node.host[0];
		for (r = 0; r < n->nranges; r++)
			for (s = n->ranges[r].start; s <= n->ranges[r].end; s++)
				owner[s] = (int)nmasters;
		nmasters++;
	}
	topology_free(t);
	return 0;
}

/* Open slots from a master's own view (only a node reports its own
 * [slot->-id] migrating and [slot-<-id] importing states) become MOVE tasks. */
static int add_open_slots(const char *text, int self, struct migrate_task *tasks, size_t *ntasks, unsigned char *taken)
{
	const struct cluster_node *me;
	struct topology *t = NULL;
	char err[512];
	size_t i;

	if (topology_parse_nodes(text, strlen(text), &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "migrate_slots: %s:%d: CLUSTER NODES: %s\n", masters[self].node.host,
			masters[self].node.port, err);
		return -1;
	}
	if (t->myself < 0) {
		topology_free(t);
		return 0;
	}
	me = &t->nodes[t->myself];
	for (i = 0; i < me->nopen; i++) {
		const struct open_slot *o = &me->open[i];
		struct migrate_task *task = &tasks[*ntasks];
		int p = find_master(o->peer_id);

		if (p < 0) {
			fprintf(stderr, "migrate_slots: slot %d open towards unknown master %s\n", o->slot, o->peer_id);
			topology_free(t);
			return -1;
		}
		if (taken[o->slot])
			continue;
		taken[o->slot] = 1;
		task->kind = MIGRATE_MOVE;
		task->slot = o->slot;
		task->src = o->importing ? p : self;
		task->dst = o->importing ? self : p;
		if (verbose)
			fprintf(stderr, "migrate_slots: resuming open slot %d: %s:%d -> %s:%d\n", o->slot,
				masters[task->src].node.host, masters[task->src].node.port,
				masters[task->dst].node.host, masters[task->dst].node.port);
		(*ntasks)++;
	}
	topology_free(t);
	return 0;
}

static int resolve_node(const char *spec)
{
	struct hostport hp;
	char err[256];
	size_t i;
	int idx = find_master(spec);

	if (idx >= 0)
		return idx;
	if (strchr(spec, ':') && hostport_parse(spec, 6379, &hp, err, sizeof(err)) == 0) {
		for (i = 0; i < nmasters; i++)
			if (strcmp(masters[i].node.host, hp.host) == 0 && masters[i].node.port == hp.port)
				return (int)i;
	}
	return -1;
}

static int parse_ranges(const char *spec, unsigned char *slots)
{
	char *copy = strdup(spec), *save = NULL, *tok;
	int rc = 0;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');
		long long a, b;

		if (dash)
			*dash = '\0';
		if (parse_int(tok, 0, CLUSTER_SLOTS - 1, &a) < 0 ||
		    parse_int(dash ? dash + 1 : tok, 0, CLUSTER_SLOTS - 1, &b) < 0 || b < a) {
			rc = -1;
			break;
		}
		for (; a <= b; a++)
			slots[a] = 1;
	}
	free(copy);
	return rc;
}

static void on_progress(const struct migrator_progress *p, void *arg)
{
	(void)arg;
	fprintf(stderr, "migrate_slots: %s: %zu/%zu slots, %llu keys, %lld ms\n", p->phase, p->slots_done,
		p->slots_total, (unsigned long long)p->keys_moved, (long long)p->elapsed_ms);
}

int main(int argc, char **argv)
{
	static struct migrate_task tasks[CLUSTER_SLOTS];
	static unsigned char taken[CLUSTER_SLOTS];
	struct group groups[MAX_GROUPS];
	struct migrate_node nodes[MAX_NODES];
	struct migrator_opts o;
	struct migrator_stats st;
	struct hostport seed;
	struct evloop *loop;
	const char *seed_s = NULL, *pwfile = NULL;
	char *password = NULL, *text, err[512];
	size_t ngroups = 0, ntasks = 0, nopen, i;
	int s, rc;

	signal(SIGPIPE, SIG_IGN);
	memset(&o, 0, sizeof(o));
	for (i = 1; i < (size_t)argc; i++) {
		const char *a = argv[i], *v = i + 1 < (size_t)argc ? argv[i + 1] : NULL;
		long long n;

		if (strcmp(a, "--progress") == 0) {
			o.progress = on_progress;
			continue;
		}
		if (strcmp(a, "--verbose") == 0) {
			verbose = 1;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (strcmp(a, "--seed") == 0) {
			seed_s = v;
		} else if (strcmp(a, "--password-file") == 0) {
			pwfile = v;
		} else if (strcmp(a, "--to") == 0) {
			if (ngroups == MAX_GROUPS)
				usage();
			groups[ngroups].to = v;
			groups[ngroups].slots = calloc(CLUSTER_SLOTS, 1);
			if (!groups[ngroups].slots)
				return EXIT_FAILURE_GENERIC;
			ngroups++;
		} else if (strcmp(a, "--slots") == 0) {
			if (!ngroups || parse_ranges(v, groups[ngroups - 1].slots) < 0)
				usage();
		} else if (strcmp(a, "--slots-in-flight") == 0 && parse_int(v, 1, 4096, &n) == 0) {
			o.slots_in_flight = (int)n;
		} else if (strcmp(a, "--keys-per-batch") == 0 && parse_int(v, 1, 100000, &n) == 0) {
			o.keys_per_batch = (int)n;
		} else if (strcmp(a, "--max-pairs") == 0 && parse_int(v, 0, 100000, &n) == 0) {
			o.max_pairs = (int)n;
		} else if (strcmp(a, "--timeout") == 0 && parse_int(v, 1, 3600000, &n) == 0) {
			o.command_timeout_ms = (int)n;
			if (n < sync_timeout_ms)
				sync_timeout_ms = (int)n;
		} else if (strcmp(a, "--control-connections") == 0 && parse_int(v, 1, 64, &n) == 0) {
			o.control_connections = (int)n;
		} else if (strcmp(a, "--setslot-batch") == 0 && parse_int(v, 1, 4096, &n) == 0) {
			o.setslot_batch = (int)n;
		} else if (strcmp(a, "--finish-delay") == 0 && parse_int(v, -1, 10000, &n) == 0) {
			o.finish_delay_ms = (int)n;
		} else {
			usage();
		}
	}
	if (!seed_s || hostport_parse(seed_s, 6379, &seed, err, sizeof(err)) < 0)
		usage();
	if (secret_load_password(pwfile, &password, err, sizeof(err)) < 0) {
		fprintf(stderr, "migrate_slots: %s\n", err);
		return EXIT_USAGE;
	}

	text = cluster_nodes(seed.host, seed.port, password);
	if (!text || parse_seed(text) < 0)
		return EXIT_FAILURE_GENERIC;
	free(text);

	/* Open slots first: only each node knows its own. */
	for (i = 0; i < nmasters; i++) {
		if (masters[i].fail) {
			fprintf(stderr, "migrate_slots: master %s:%d is failing; fix the cluster first\n",
				masters[i].node.host, masters[i].node.port);
			return EXIT_FAILURE_GENERIC;
		}
		text = cluster_nodes(masters[i].node.host, masters[i].node.port, password);
		if (!text) {
			/* Reported above; the migrator names it again if it matters. */
			fprintf(stderr, "migrate_slots: open slots of %s:%d unknown\n", masters[i].node.host,
				masters[i].node.port);
			continue;
		}
		if (add_open_slots(text, (int)i, tasks, &ntasks, taken) < 0)
			return EXIT_FAILURE_GENERIC;
		free(text);
	}
	nopen = ntasks;

	for (i = 0; i < ngroups; i++) {
		int to = resolve_node(groups[i].to);

		if (to < 0) {
			fprintf(stderr, "migrate_slots: --to %s: no such master\n", groups[i].to);
			return EXIT_USAGE;
		}
		for (s = 0; s < CLUSTER_SLOTS; s++) {
			if (!groups[i].slots[s] || taken[s] || owner[s] == to)
				continue;
			if (owner[s] < 0) {
				fprintf(stderr, "migrate_slots: slot %d has no owner\n", s);
				return EXIT_FAILURE_GENERIC;
			}
			taken[s] = 1;
			tasks[ntasks].kind = MIGRATE_MOVE;
			tasks[ntasks].slot = s;
			tasks[ntasks].src = owner[s];
			tasks[ntasks].dst = to;
			ntasks++;
		}
		free(groups[i].slots);
	}

	for (i = 0; i < nmasters; i++)
		nodes[i] = masters[i].node;

	o.password = password;
	loop = evloop_new();
	if (!loop)
		return EXIT_FAILURE_GENERIC;
	fprintf(stderr, "migrate_slots: %zu tasks (%zu open slots), %zu masters\n", ntasks, nopen, nmasters);
	rc = migrator_run(loop, nodes, nmasters, tasks, ntasks, &o, &st, err, sizeof(err));
	printf("slots=%zu keys=%llu elapsed_ms=%lld keys_per_s=%.0f migrate_cmds=%llu setslot_cmds=%llu "
	       "busykey=%llu tryagain=%llu ioerr=%llu nokey=%llu ignored=%llu\n",
	       st.slots_moved, (unsigned long long)st.keys_moved, (long long)st.elapsed_ms,
	       st.elapsed_ms > 0 ? (double)st.keys_moved * 1000.0 / (double)st.elapsed_ms : 0.0,
	       (unsigned long long)st.migrate_commands, (unsigned long long)st.setslot_commands,
	       (unsigned long long)st.busykey_retries, (unsigned long long)st.tryagain_retries,
	       (unsigned long long)st.ioerr_retries, (unsigned long long)st.nokey_replies,
	       (unsigned long long)st.setslot_errors_ignored);
	fflush(stdout);
	evloop_free(loop);
	secret_free(password);
	if (rc < 0) {
		fprintf(stderr, "migrate_slots: %s\n", err);
		return EXIT_FAILURE_GENERIC;
	}
	return EXIT_OK;
}
