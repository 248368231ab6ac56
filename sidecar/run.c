/* run and supervise: keep the local server in the cluster. The elected
 * instance (first reachable member in list order) runs the reconciler;
 * in persistent mode every instance keeps its topology record. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "http/httpd.h"
#include "log.h"
#include "node.h"
#include "proc.h"
#include "reconcile.h"
#include "serverconf.h"
#include "sidecar.h"
#include "toporecord.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

struct sidecar {
	struct cfg *c;
	struct hostport self;
	char *password;
	struct member_list members;
	struct member_source src;
	int have_self;
	char last_msg[1024];
	enum reconcile_result last_res;
	int was_leader, local_up, member_logged;
	struct reconcile_opts ro;
	int persistent, reassign_flag;
	struct topo_record rec; /* persistent mode: the last record written or read */
	int rec_exists;
	int64_t rec_checked;
	pid_t server;               /* supervise: the server process, else 0 */
	int64_t earlier_down_since; /* when every earlier member stopped answering, 0 while one answers */
	int exit_code;
	/* HTTP (--http-addr): probes and metrics. */
	struct httpd *http;
	int ready, in_list;
	char ready_why[256];
	int64_t ready_checked;
	unsigned long long steps[RECONCILE_REFUSED + 1];
};

/* The local server answers and sees a healthy cluster with every slot
 * assigned (what wait-ready waits for). 1 or 0 with why. */
static int self_ready(const struct hostport *self, const char *pw, char *why, size_t whylen)
{
	struct cluster_snapshot *snap = NULL;
	struct cluster_gather_opts go = {pw, 1000, 0};
	char err[256];
	int ok = 0;

	if (cluster_gather(self, 1, &go, &snap, err, sizeof(err)) == 0 && snap->views[0].reachable &&
	    snap->views[0].topo && snap->views[0].info.state_ok &&
	    snap->views[0].info.slots_assigned == CLUSTER_SLOTS) {
		ok = 1;
		snprintf(why, whylen, "ok");
	} else {
		snprintf(why, whylen, "%s",
			 !snap                       ? err
			 : !snap->views[0].reachable ? snap->views[0].error
						     : "cluster not healthy yet");
	}
	cluster_snapshot_free(snap);
	return ok;
}

/* /readyz: self_ready, checked at most once a second, and only when the
 * HTTP server is on. */
static void update_ready(struct sidecar *sc, int server_up)
{
	if (!sc->http || now_ms() - sc->ready_checked < 1000)
		return;
	sc->ready_checked = now_ms();
	if (!server_up) {
		sc->ready = 0;
		snprintf(sc->ready_why, sizeof(sc->ready_why), "the local server does not answer");
		return;
	}
	sc->ready = self_ready(&sc->self, sc->password, sc->ready_why, sizeof(sc->ready_why));
}

static void http_handler(const char *path, struct httpd_response *res, void *arg)
{
	static const char *const results[] = {"done", "progress", "wait", "error", "refused"};
	struct sidecar *sc = arg;
	struct textbuf b = {0};

	if (!strcmp(path, "/healthz")) {
		tb_printf(&b, "ok\n");
	} else if (!strcmp(path, "/readyz")) {
		res->status = sc->ready ? 200 : 503;
		tb_printf(&b, "%s\n", sc->ready_why[0] ? sc->ready_why : "not checked yet");
	} else if (!strcmp(path, "/metrics")) {
		tb_printf(&b,
			  "# HELP autoshard_sidecar_ready Whether the local server is in a healthy cluster.\n"
			  "# TYPE autoshard_sidecar_ready gauge\nautoshard_sidecar_ready %d\n"
			  "# HELP autoshard_sidecar_server_up Whether the local server answers.\n"
			  "# TYPE autoshard_sidecar_server_up gauge\nautoshard_sidecar_server_up %d\n"
			  "# HELP autoshard_sidecar_members Instances in the platform's member list.\n"
			  "# TYPE autoshard_sidecar_members gauge\nautoshard_sidecar_members %zu\n"
			  "# HELP autoshard_sidecar_member Whether this instance is in the member list.\n"
			  "# TYPE autoshard_sidecar_member gauge\nautoshard_sidecar_member %d\n"
			  "# HELP autoshard_sidecar_leader Whether this sidecar is the elected reconciler.\n"
			  "# TYPE autoshard_sidecar_leader gauge\nautoshard_sidecar_leader %d\n"
			  "# HELP autoshard_sidecar_reconcile_steps_total Reconcile steps run here, by result.\n"
			  "# TYPE autoshard_sidecar_reconcile_steps_total counter\n",
			  sc->ready, sc->local_up, sc->members.n, sc->in_list, sc->was_leader);
		for (int r = 0; r <= RECONCILE_REFUSED; r++)
			tb_printf(&b, "autoshard_sidecar_reconcile_steps_total{result=\"%s\"} %llu\n", results[r],
				  sc->steps[r]);
		tb_respond(&b, res, "text/plain; version=0.0.4; charset=utf-8");
		return;
	} else {
		res->status = 404;
		tb_printf(&b, "not found: try /healthz, /readyz or /metrics\n");
	}
	tb_respond(&b, res, "text/plain; charset=utf-8");
}

static int ping(const struct hostport *hp, const char *pw, int timeout_ms)
{
	struct node_conn *n = node_connect(hp, pw, timeout_ms, NULL, 0);
	redisReply *r;
	int ok;

	if (!n)
		return 0;
	r = node_command(n, NULL, 0, "PING");
	ok = r != NULL;
	if (r)
		freeReplyObject(r);
	node_close(n);
	return ok;
}

static void log_action(const char *what, void *arg)
{
	(void)arg;
	log_info("%s", what);
}

static void update_reassign(struct sidecar *sc)
{
	sc->ro.reassign_lost_slots = !sc->persistent || sc->reassign_flag || (sc->rec_exists && sc->rec.adopt_pending);
}

/* Node of t at this member address (ip or announced hostname), live. */
static int node_at(const struct topology *t, const struct hostport *a)
{
	for (size_t k = 0; k < t->nnodes; k++) {
		const struct cluster_node *n = &t->nodes[k];
		if (n->flags & (NODE_FAIL | NODE_PFAIL | NODE_HANDSHAKE | NODE_NOADDR))
			continue;
		if (n->port == a->port && (strcmp(n->ip, a->host) == 0 || strcmp(n->hostname, a->host) == 0))
			return (int)k;
	}
	return -1;
}

/* Persistent mode: when the local node sees a healthy cluster made of
 * exactly the members, record its shape next to the data (only when it
 * changed). The clone guard compares this with the platform at prestart. */
static void record_refresh(struct sidecar *sc)
{
	struct cluster_snapshot *snap = NULL;
	struct cluster_gather_opts go = {sc->password, 1000, 0};
	const struct node_view *v;
	const struct topology *t;
	struct topo_record nr;
	size_t live = 0;
	char err[512];

	memset(&nr, 0, sizeof(nr));
	if (cluster_gather(&sc->self, 1, &go, &snap, err, sizeof(err)) < 0)
		goto done;
	v = &snap->views[0];
	t = v->topo;
	if (!v->reachable || !t || t->myself < 0 || !v->info.state_ok || v->info.slots_assigned != CLUSTER_SLOTS)
		goto done;
	for (size_t k = 0; k < t->nnodes; k++)
		if (!(t->nodes[k].flags & (NODE_FAIL | NODE_PFAIL | NODE_HANDSHAKE | NODE_NOADDR)))
			live++;
	if (live != sc->members.n)
		goto done;
	nr.nodes = calloc(sc->members.n, sizeof(*nr.nodes));
	if (!nr.nodes)
		goto done;
	for (size_t i = 0; i < sc->members.n; i++) {
		int k = node_at(t, &sc->members.v[i].addr);
		if (k < 0)
			goto done;
		hostport_str(&sc->members.v[i].addr, nr.nodes[i].addr, sizeof(nr.nodes[i].addr));
		strlcpy_a(nr.nodes[i].id, t->nodes[k].id, sizeof(nr.nodes[i].id));
		if ((t->nodes[k].flags & NODE_MASTER) && t->nodes[k].nslots > 0)
			nr.shards++;
	}
	nr.nnodes = sc->members.n;
	nr.instances = (int)sc->members.n;
	nr.replicas = sc->ro.replicas;
	strlcpy_a(nr.self_id, t->nodes[t->myself].id, sizeof(nr.self_id));
	strlcpy_a(nr.cluster_name, cfg_str(sc->c, "cluster-name"), sizeof(nr.cluster_name));
	if (sc->rec_exists && topo_record_same_shape(&sc->rec, &nr) && !sc->rec.adopt_pending &&
	    strcmp(sc->rec.cluster_name, nr.cluster_name) == 0)
		goto done;
	nr.generation = sc->rec_exists ? sc->rec.generation + 1 : 1;
	if (sc->rec_exists && sc->rec.cluster_id[0])
		strlcpy_a(nr.cluster_id, sc->rec.cluster_id, sizeof(nr.cluster_id));
	else if (t->slot_owner[0] >= 0)
		strlcpy_a(nr.cluster_id, t->nodes[t->slot_owner[0]].id, sizeof(nr.cluster_id));
	nr.updated = (long long)time(NULL);
	if (topo_record_save(cfg_str(sc->c, "data-dir"), &nr, err, sizeof(err)) < 0) {
		log_warnx("topology record: %s", err);
		goto done;
	}
	log_info("topology record: generation %llu: %d instances, %d shards", nr.generation, nr.instances, nr.shards);
	topo_record_free(&sc->rec);
	sc->rec = nr;
	sc->rec_exists = 1;
	memset(&nr, 0, sizeof(nr));
	update_reassign(sc);
done:
	topo_record_free(&nr);
	cluster_snapshot_free(snap);
}

static int64_t sidecar_tick(struct evloop *loop, int64_t id, void *arg)
{
	struct sidecar *sc = arg;
	int64_t interval = cfg_int(sc->c, "interval-ms");
	int me, leader = -1;
	char msg[1024];
	enum reconcile_result r;

	(void)id;
	if (got_signal) {
		log_info("signal %d: stopping", (int)got_signal);
		evloop_stop(loop);
		return 0;
	}
	if (sc->server > 0) {
		int st;
		pid_t w = waitpid(sc->server, &st, WNOHANG);
		if (w == sc->server || (w < 0 && errno == ECHILD)) {
			log_warnx("the server (pid %d) exited (%s %d); stopping so the platform restarts the instance "
				  "(prestart runs again)",
				  (int)sc->server, w > 0 && WIFSIGNALED(st) ? "signal" : "status",
				  w > 0 ? (WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st)) : -1);
			sc->server = 0;
			sc->exit_code = EXIT_FAILURE_GENERIC;
			evloop_stop(loop);
			return 0;
		}
	}
	{
		struct member_list ml;
		if (source_poll(&sc->src, &ml) == 1) {
			member_list_free(&sc->members);
			sc->members = ml;
		}
	}
	if (sc->members.n == 0)
		return interval;
	if (!sc->have_self) {
		char err[256];
		if (source_self(sc->c, &sc->members, &sc->self, err, sizeof(err)) < 0) {
			if (!sc->member_logged)
				log_warnx("cannot tell which instance this is: %s", err);
			sc->member_logged = 1;
			return interval;
		}
		sc->have_self = 1;
		log_info("this instance is %s:%d", sc->self.host, sc->self.port);
	}
	if (!ping(&sc->self, sc->password, 1000)) {
		update_ready(sc, 0);
		if (sc->local_up || !sc->member_logged)
			log_info("waiting for the local server %s:%d", sc->self.host, sc->self.port);
		sc->local_up = 0;
		sc->member_logged = 1;
		return interval;
	}
	if (!sc->local_up)
		log_info("local server %s:%d is up", sc->self.host, sc->self.port);
	sc->local_up = 1;
	update_ready(sc, 1);
	if (sc->persistent && now_ms() - sc->rec_checked >= 2000) {
		sc->rec_checked = now_ms();
		record_refresh(sc);
	}
	me = member_list_index(&sc->members, &sc->self);
	sc->in_list = me >= 0;
	if (me < 0) {
		if (sc->member_logged != 2)
			log_info("%s:%d is not in the member list: standing by", sc->self.host, sc->self.port);
		sc->member_logged = 2;
		return interval;
	}
	sc->member_logged = 3;
	if (!cfg_bool(sc->c, "reconcile"))
		return interval;
	/* Elected: the first member whose server answers. A later member takes
	 * over only after every earlier one has been silent for takeover-ms in a
	 * row, so a leader's server that is slow for a moment (a long MIGRATE, a
	 * loaded machine) does not get a second reconciler running beside it. */
	for (int j = 0; j < me && leader < 0; j++)
		if (ping(&sc->members.v[j].addr, sc->password, 1000))
			leader = j;
	if (leader < 0 && me > 0) {
		int64_t now = now_ms();
		if (!sc->earlier_down_since)
			sc->earlier_down_since = now;
		if (now - sc->earlier_down_since < cfg_int(sc->c, "takeover-ms"))
			return interval;
	} else {
		sc->earlier_down_since = 0;
	}
	if (leader >= 0) {
		if (sc->was_leader)
			log_info("%s:%d leads now; standing by", sc->members.v[leader].addr.host,
				 sc->members.v[leader].addr.port);
		sc->was_leader = 0;
		return interval;
	}
	if (!sc->was_leader)
		log_info("elected: reconciling %zu members", sc->members.n);
	sc->was_leader = 1;
	r = reconcile_step(&sc->members, &sc->ro, msg, sizeof(msg));
	if ((int)r >= 0 && r <= RECONCILE_REFUSED)
		sc->steps[r]++;
	if (r != sc->last_res || strcmp(msg, sc->last_msg) != 0) {
		if (r == RECONCILE_ERROR || r == RECONCILE_REFUSED)
			log_warnx("reconcile %s: %s", reconcile_result_str(r), msg);
		else
			log_info("reconcile %s: %s", reconcile_result_str(r), msg);
	}
	sc->last_res = r;
	strlcpy_a(sc->last_msg, msg, sizeof(sc->last_msg));
	return r == RECONCILE_PROGRESS ? 1 : interval;
}

static void log_progress(const struct migrator_progress *p, void *arg)
{
	(void)arg;
	log_info("migration: %zu/%zu slots, %llu keys, %.1f s", p->slots_done, p->slots_total,
		 (unsigned long long)p->keys_moved, (double)p->elapsed_ms / 1000.0);
}

/* The run loop; with server > 0 (supervise) it also watches that process:
 * when it exits the sidecar exits too, and on SIGTERM it stops it first. */
int sidecar_run(struct cfg *c, pid_t server)
{
	struct sidecar sc;
	struct evloop *loop = NULL;
	char err[256];
	int rc = EXIT_FAILURE_GENERIC;
	struct sigaction sa;

	memset(&sc, 0, sizeof(sc));
	sc.c = c;
	sc.server = server;
	sc.last_res = (enum reconcile_result) - 1;
	if (cfg_str(c, "node")) {
		if (hostport_parse(cfg_str(c, "node"), (int)cfg_int(c, "port"), &sc.self, err, sizeof(err)) < 0) {
			log_warnx("--node: %s", err);
			return EXIT_USAGE;
		}
		sc.have_self = 1;
	}
	if (secret_load_password(cfg_str(c, "password-file"), &sc.password, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return EXIT_USAGE;
	}

	reconcile_opts_init(&sc.ro);
	sc.ro.password = sc.password;
	sc.ro.replicas = (int)cfg_int(c, "replicas");
	sc.ro.on_action = log_action;
	sc.ro.migrate.progress = log_progress;
	sc.ro.migrate.progress_interval_ms = 2000;
	sc.persistent = strcmp(cfg_str(c, "mode"), "persistent") == 0 && cfg_str(c, "data-dir");
	sc.reassign_flag = cfg_bool(c, "reassign-lost-slots");
	if (sc.persistent && topo_record_load(cfg_str(c, "data-dir"), &sc.rec, &sc.rec_exists, err, sizeof(err)) < 0)
		log_warnx("%s; it is rewritten once the cluster is healthy", err);
	update_reassign(&sc);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	loop = evloop_new();
	if (!loop || evloop_add_timer(loop, 1, sidecar_tick, &sc) < 0) {
		log_warnx("out of memory");
		goto done;
	}
	if (source_open(&sc.src, c, loop, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		rc = EXIT_USAGE;
		goto done;
	}
	if (cfg_str(c, "http-addr") && *cfg_str(c, "http-addr")) {
		struct httpd_opts ho = {cfg_str(c, "http-addr"), 16, 0, 0};

		sc.http = httpd_new(loop, &ho, http_handler, &sc, err, sizeof(err));
		if (!sc.http) {
			log_warnx("%s", err);
			rc = EXIT_USAGE;
			goto done;
		}
		log_info("http: serving /healthz, /readyz and /metrics on port %d", httpd_port(sc.http));
	}
	log_info("sidecar started (%s source, %s mode, %d replicas per master%s)", source_name(c), cfg_str(c, "mode"),
		 sc.ro.replicas, sc.ro.reassign_lost_slots ? ", lost slots are reassigned" : "");
	evloop_run(loop);
	rc = sc.exit_code;
done:
	if (sc.server > 0) {
		log_info("stopping the server (pid %d)", (int)sc.server);
		kill(sc.server, SIGTERM);
		for (int i = 0; i < 300 && waitpid(sc.server, NULL, WNOHANG) == 0; i++)
			sleep_ms(100);
		if (kill(sc.server, 0) == 0) {
			log_warnx("the server did not stop within 30 s: killing it");
			kill(sc.server, SIGKILL);
			waitpid(sc.server, NULL, 0);
		}
	}
	source_close(&sc.src);
	httpd_free(sc.http);
	evloop_free(loop);
	member_list_free(&sc.members);
	topo_record_free(&sc.rec);
	secret_free(sc.password);
	return rc;
}

/* supervise: the whole instance as one start command (Upsun web.commands.start,
 * a plain VM's unit): prestart, write the server's config, start the server,
 * then the run loop while watching the server. When the server exits this
 * exits too, so the platform restarts the instance and prestart runs again. */
int sidecar_supervise(struct cfg *c)
{
	struct hostport self;
	struct server_conf sconf;
	char err[512], conf[PATH_MAX], out[PATH_MAX], pidf[PATH_MAX], *pw = NULL;
	const char *dir = cfg_str(c, "data-dir");
	pid_t pid;
	int rc;

	if (!dir) {
		log_warnx("supervise: --data-dir is required");
		return EXIT_USAGE;
	}
	{
		struct member_list ml;
		int r = -1;
		if (cfg_str(c, "node"))
			r = source_self(c, NULL, &self, err, sizeof(err));
		else if (source_read_once(c, &ml, err, sizeof(err)) == 0) {
			r = source_self(c, &ml, &self, err, sizeof(err));
			member_list_free(&ml);
		}
		if (r < 0) {
			log_warnx("supervise: which address to bind: %s", err);
			return EXIT_FAILURE_GENERIC;
		}
	}
	rc = sidecar_prestart(c);
	if (rc != 0)
		return rc;
	if (secret_load_password(cfg_str(c, "password-file"), &pw, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return EXIT_USAGE;
	}
	memset(&sconf, 0, sizeof(sconf));
	sconf.bind_ip = self.host;
	sconf.port = self.port;
	sconf.dir = dir;
	sconf.persistent = strcmp(cfg_str(c, "mode"), "persistent") == 0;
	sconf.node_timeout_ms = (int)cfg_int(c, "node-timeout-ms");
	sconf.password = pw;
	sconf.announce_hostname = cfg_str(c, "announce-hostname");
	sconf.prefer_hostname = sconf.announce_hostname && strcmp(cfg_str(c, "endpoint-type"), "hostname") == 0;
	sconf.announce_ip = cfg_bool(c, "announce-ip");
	sconf.include = cfg_str(c, "server-include");
	snprintf(conf, sizeof(conf), "%s/autoshard-server.conf", dir);
	snprintf(pidf, sizeof(pidf), "%s/server.pid", dir);
	sconf.pidfile = pidf;
	rc = server_conf_write(conf, &sconf, err, sizeof(err));
	secret_free(pw);
	if (rc < 0) {
		log_warnx("%s", err);
		return EXIT_USAGE;
	}
	snprintf(out, sizeof(out), "%s/server.out", dir);
	{
		char *argv[] = {(char *)cfg_str(c, "server"), conf, NULL};
		pid = proc_spawn(argv, out, NULL, err, sizeof(err));
	}
	if (pid < 0) {
		log_warnx("%s", err);
		return EXIT_FAILURE_GENERIC;
	}
	log_info("started %s (pid %d) on %s:%d", cfg_str(c, "server"), (int)pid, self.host, self.port);
	return sidecar_run(c, pid);
}

/* wait-ready (Upsun web.commands.post_start, or any readiness gate): exit 0
 * once the local server answers and sees a healthy cluster with all slots
 * assigned; 1 when --ready-timeout runs out. */
int sidecar_wait_ready(struct cfg *c)
{
	struct hostport self;
	struct member_list ml = {NULL, 0};
	char err[512], *pw = NULL;
	int64_t end = now_ms() + cfg_int(c, "ready-timeout") * 1000;
	int rc = EXIT_FAILURE_GENERIC, r;

	if (cfg_str(c, "node"))
		r = source_self(c, NULL, &self, err, sizeof(err));
	else if ((r = source_read_once(c, &ml, err, sizeof(err))) == 0)
		r = source_self(c, &ml, &self, err, sizeof(err));
	member_list_free(&ml);
	if (r < 0) {
		log_warnx("wait-ready: %s", err);
		return EXIT_USAGE;
	}
	if (secret_load_password(cfg_str(c, "password-file"), &pw, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return EXIT_USAGE;
	}
	for (;;) {
		if (self_ready(&self, pw, err, sizeof(err))) {
			log_info("%s:%d is in a healthy cluster", self.host, self.port);
			rc = 0;
			break;
		}
		if (now_ms() > end) {
			log_warnx("wait-ready: %s:%d not ready after %lld s: %s", self.host, self.port,
				  cfg_int(c, "ready-timeout"), err);
			break;
		}
		sleep_ms(200);
	}
	secret_free(pw);
	return rc;
}
