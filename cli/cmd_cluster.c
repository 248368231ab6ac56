/* check, status, bootstrap, rebalance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cluster.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "planner.h"
#include "rebalance.h"
#include "reconcile.h"
#include "static/static_source.h"

#define NOPTS(t) (sizeof(t) / sizeof((t)[0]))

/* Parse a subcommand's flags; prints help or errors. Returns -1 to exit with
 * *rc, 0 to go on. */
static int parse_or_exit(struct cfg *c, const struct cfg_option *opts, size_t n, int argc, char **argv,
			 const char *synopsis, int *rc)
{
	char err[256];

	if (cfg_parse(c, opts, n, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "autoshard: %s\n", err);
		*rc = EXIT_USAGE;
		return -1;
	}
	if (cfg_handle_info(c, synopsis)) {
		cfg_free(c);
		*rc = 0;
		return -1;
	}
	if (c->nargs) {
		fprintf(stderr, "autoshard: unexpected argument '%.40s'\n", c->args[0]);
		cfg_free(c);
		*rc = EXIT_USAGE;
		return -1;
	}
	return 0;
}

static int load_password(const struct cfg *c, char **pw)
{
	char err[256];

	if (secret_load_password(cfg_str(c, "password-file"), pw, err, sizeof(err)) < 0) {
		fprintf(stderr, "autoshard: %s\n", err);
		return -1;
	}
	return 0;
}

static int gather_seed(const char *seed, const char *pw, int timeout_ms, struct cluster_snapshot **snap)
{
	struct hostport hp;
	struct cluster_gather_opts go = {pw, timeout_ms, 1};
	char err[256];

	if (!seed) {
		fprintf(stderr, "autoshard: --seed HOST:PORT is required\n");
		return -1;
	}
	if (hostport_parse(seed, 6379, &hp, err, sizeof(err)) < 0) {
		fprintf(stderr, "autoshard: --seed: %s\n", err);
		return -1;
	}
	if (cluster_gather(&hp, 1, &go, snap, err, sizeof(err)) < 0) {
		fprintf(stderr, "autoshard: %s\n", err);
		return -1;
	}
	if (!(*snap)->views[0].reachable || !(*snap)->views[0].cluster_enabled) {
		fprintf(stderr, "autoshard: %s\n", (*snap)->views[0].error);
		cluster_snapshot_free(*snap);
		*snap = NULL;
		return -1;
	}
	return 0;
}

static const struct cfg_option check_opts[] = {
	{"seed", CFG_STRING, 0, 0, NULL, "AUTOSHARD_SEED", NULL, "any node of the cluster (HOST:PORT)"},
	{"password-file", CFG_STRING, 0, 0, NULL, NULL, NULL, "file holding the password"},
	{"masters", CFG_INT, 0, 1000, "0", NULL, NULL, "expected masters owning slots (0 = any)"},
	{"replicas", CFG_INT, -1, 100, "-1", NULL, NULL, "expected replicas per master (-1 = any)"},
	{"timeout-ms", CFG_INT, 50, 600000, "2000", NULL, NULL, "per connection and command"},
};

int cmd_check(int argc, char **argv)
{
	struct cfg c;
	struct cluster_snapshot *snap = NULL;
	struct health_report hr;
	struct health_expect e;
	char *pw = NULL;
	int rc = EXIT_FAILURE_GENERIC, h;

	if (parse_or_exit(&c, check_opts, NOPTS(check_opts), argc, argv, "autoshard check --seed HOST:PORT", &rc) < 0)
		return rc;
	if (load_password(&c, &pw) < 0 ||
	    gather_seed(cfg_str(&c, "seed"), pw, (int)cfg_int(&c, "timeout-ms"), &snap) < 0)
		goto done;
	e.masters = (int)cfg_int(&c, "masters");
	e.replicas_per_master = (int)cfg_int(&c, "replicas");
	e.nodes = 0;
	e.min_replicas_per_master = 0;
	e.no_empty_masters = 0;
	e.balanced = 0;
	h = health_check(snap, &e, &hr);
	for (size_t i = 0; i < hr.nproblems; i++)
		printf("%s\n", hr.problems[i]);
	if (h == 0) {
		printf("ok: %d masters, %d replicas, %d slots covered, no open slots\n", hr.masters, hr.replicas,
		       hr.slots_covered);
		rc = 0;
	}
	health_report_free(&hr);
done:
	cluster_snapshot_free(snap);
	secret_free(pw);
	cfg_free(&c);
	return rc;
}

static void print_ranges(const struct topology *t, int idx)
{
	struct slot_range r[64];
	size_t n = topology_node_ranges(t, idx, r, 64);

	for (size_t i = 0; i < n && i < 64; i++) {
		if (r[i].start == r[i].end)
			printf("%s%d", i ? "," : "", r[i].start);
		else
			printf("%s%d-%d", i ? "," : "", r[i].start, r[i].end);
	}
	if (n > 64)
		printf(",... (%zu ranges)", n);
}

int cmd_status(int argc, char **argv)
{
	struct cfg c;
	struct cluster_snapshot *snap = NULL;
	const struct topology *t;
	char *pw = NULL;
	int rc = EXIT_FAILURE_GENERIC;

	if (parse_or_exit(&c, check_opts, NOPTS(check_opts), argc, argv, "autoshard status --seed HOST:PORT", &rc) < 0)
		return rc;
	if (load_password(&c, &pw) < 0 ||
	    gather_seed(cfg_str(&c, "seed"), pw, (int)cfg_int(&c, "timeout-ms"), &snap) < 0)
		goto done;
	t = snap->views[0].topo;
	printf("cluster_state: %s, slots assigned: %d, known nodes: %zu\n",
	       snap->views[0].info.state_ok ? "ok" : "fail", snap->views[0].info.slots_assigned, t->nnodes);
	for (size_t i = 0; i < t->nnodes; i++) {
		const struct cluster_node *n = &t->nodes[i];
		const struct node_view *v;
		if (!(n->flags & NODE_MASTER))
			continue;
		v = cluster_view_by_id(snap, n->id);
		printf("master  %s:%d  %.8s  slots %d  keys %lld%s%s  [", n->ip, n->port, n->id, n->nslots,
		       v ? v->dbsize : -1LL, (n->flags & NODE_FAIL) ? "  FAIL" : "",
		       (n->flags & NODE_PFAIL) ? "  PFAIL" : "");
		print_ranges(t, (int)i);
		printf("]\n");
		for (size_t j = 0; j < t->nnodes; j++) {
			const struct cluster_node *r = &t->nodes[j];
			if (!(r->flags & NODE_REPLICA) || strcmp(r->master_id, n->id) != 0)
				continue;
			v = cluster_view_by_id(snap, r->id);
			printf("  replica  %s:%d  %.8s  keys %lld%s\n", r->ip, r->port, r->id, v ? v->dbsize : -1LL,
			       (r->flags & NODE_FAIL) ? "  FAIL" : "");
		}
	}
	rc = 0;
done:
	cluster_snapshot_free(snap);
	secret_free(pw);
	cfg_free(&c);
	return rc;
}

static void print_action(const char *what, void *arg)
{
	(void)arg;
	log_info("%s", what);
}

static const struct cfg_option bootstrap_opts[] = {
	{"members", CFG_STRING, 0, 0, NULL, "AUTOSHARD_MEMBERS", NULL, "instances, comma separated HOST:PORT"},
	{"members-file", CFG_STRING, 0, 0, NULL, "AUTOSHARD_MEMBERS_FILE", NULL, "file with one HOST:PORT per line"},
	{"replicas", CFG_INT, 0, 100, "0", "AUTOSHARD_REPLICAS", NULL, "replicas per master"},
	{"password-file", CFG_STRING, 0, 0, NULL, NULL, NULL, "file holding the password"},
	{"timeout", CFG_INT, 1, 86400, "120", NULL, NULL, "seconds to wait for a healthy cluster"},
};

int cmd_bootstrap(int argc, char **argv)
{
	struct cfg c;
	struct member_list ml = {0};
	struct reconcile_opts ro;
	char *pw = NULL, err[512], msg[1024];
	int rc = EXIT_FAILURE_GENERIC;
	enum reconcile_result r;

	if (parse_or_exit(&c, bootstrap_opts, NOPTS(bootstrap_opts), argc, argv,
			  "autoshard bootstrap --members H:P,H:P,... | --members-file F [--replicas R]", &rc) < 0)
		return rc;
	if (load_password(&c, &pw) < 0)
		goto done;
	if (cfg_str(&c, "members-file")) {
		if (static_source_read_file(cfg_str(&c, "members-file"), 6379, &ml, err, sizeof(err)) < 0) {
			fprintf(stderr, "autoshard: %s\n", err);
			rc = EXIT_USAGE;
			goto done;
		}
	} else if (!cfg_str(&c, "members") ||
		   static_source_parse_list(cfg_str(&c, "members"), 6379, &ml, err, sizeof(err)) < 0) {
		fprintf(stderr, "autoshard: %s\n",
			cfg_str(&c, "members") ? err : "--members or --members-file is required");
		rc = EXIT_USAGE;
		goto done;
	}
	reconcile_opts_init(&ro);
	ro.password = pw;
	ro.replicas = (int)cfg_int(&c, "replicas");
	ro.on_action = print_action;
	ro.migrate.progress = cli_progress;
	r = reconcile_until_done(&ml, &ro, (int)cfg_int(&c, "timeout") * 1000, msg, sizeof(msg));
	if (r == RECONCILE_DONE) {
		printf("%s\n", msg);
		rc = 0;
	} else {
		fprintf(stderr, "autoshard: %s: %s\n", reconcile_result_str(r), msg);
		rc = r == RECONCILE_REFUSED ? EXIT_REFUSED : EXIT_FAILURE_GENERIC;
	}
done:
	member_list_free(&ml);
	secret_free(pw);
	cfg_free(&c);
	return rc;
}

/* arg, when not NULL, points to a double: the average bytes per key on the
 * sources (used_memory_dataset / keys), so bytes can be estimated; MIGRATE
 * itself does not report what it sent. */
void cli_progress(const struct migrator_progress *p, void *arg)
{
	static int tty = -1;
	double bytes = p->bytes_moved ? (double)p->bytes_moved
				      : (arg ? *(const double *)arg * (double)p->keys_moved : 0);
	double secs = p->elapsed_ms / 1000.0;
	double rate = secs > 0 ? (double)p->keys_moved / secs : 0;
	double frac = p->slots_total ? (double)p->slots_done / (double)p->slots_total : 1;
	double eta = frac > 0 && frac < 1 ? secs / frac - secs : 0;

	if (tty < 0)
		tty = isatty(STDERR_FILENO);
	if (tty) {
		char bar[31];
		int fill = (int)(frac * 30);
		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %zu/%zu slots  %llu keys  ~%.1f MB  %.0f keys/s  ETA %.0fs ", bar,
			p->slots_done, p->slots_total, (unsigned long long)p->keys_moved, bytes / 1e6, rate, eta);
		if (p->slots_done == p->slots_total)
			fputc('\n', stderr);
	} else {
		fprintf(stderr, "progress: %zu/%zu slots, %llu keys, ~%.1f MB, %.0f keys/s, %.1fs elapsed\n",
			p->slots_done, p->slots_total, (unsigned long long)p->keys_moved, bytes / 1e6, rate, secs);
	}
}
