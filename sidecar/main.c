/* autoshard-sidecar: runs next to every Valkey/Redis instance.
 *   prestart  before the server starts: in ephemeral mode remove nodes.conf and
 *             the data files so the server starts as a fresh, empty node.
 *   run       wait for the local server, then keep it in the cluster: the
 *             elected instance (first reachable member in list order) runs the
 *             reconciler (bootstrap, join, rebalance, forget, heal). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "evloop.h"
#include "log.h"
#include "node.h"
#include "reconcile.h"
#include "static/static_source.h"

#define NOPTS(t) (sizeof(t) / sizeof((t)[0]))

static const struct cfg_option sidecar_opts[] = {
	{"node", CFG_STRING, 0, 0, NULL, "AUTOSHARD_NODE", NULL, "the local server, HOST:PORT"},
	{"peers", CFG_STRING, 0, 0, NULL, "AUTOSHARD_PEERS", NULL, "all instances, comma separated HOST:PORT"},
	{"peers-file", CFG_STRING, 0, 0, NULL, "AUTOSHARD_PEERS_FILE", NULL, "file listing all instances, re-read on change"},
	{"replicas", CFG_INT, 0, 100, "0", "AUTOSHARD_REPLICAS", NULL, "replicas per master"},
	{"password-file", CFG_STRING, 0, 0, NULL, "AUTOSHARD_PASSWORD_FILE", NULL, "file holding the server password"},
	{"mode", CFG_ENUM, 0, 0, "persistent", "AUTOSHARD_MODE", "ephemeral|persistent", "what a restart keeps"},
	{"data-dir", CFG_STRING, 0, 0, NULL, "AUTOSHARD_DATA_DIR", NULL, "the server's data directory"},
	{"ephemeral-files", CFG_STRING, 0, 0, "nodes.conf,dump.rdb,appendonly.aof,appendonlydir", NULL, NULL,
	 "files prestart removes in ephemeral mode"},
	{"interval-ms", CFG_INT, 50, 60000, "500", "AUTOSHARD_INTERVAL_MS", NULL, "how often run checks the cluster"},
	{"log-level", CFG_ENUM, 0, 0, "info", "AUTOSHARD_LOG_LEVEL", "error|warn|info|debug", "log verbosity"},
	{"log-format", CFG_ENUM, 0, 0, "text", "AUTOSHARD_LOG_FORMAT", "text|json", "log line format"},
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

/* Remove a file or a directory tree (one level: appendonlydir holds files). */
static int remove_path(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		if (!d)
			return -1;
		while ((de = readdir(d))) {
			char p[PATH_MAX];
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
			unlink(p);
		}
		closedir(d);
		return rmdir(path);
	}
	return unlink(path);
}

static int sidecar_prestart(struct cfg *c)
{
	const char *dir = cfg_str(c, "data-dir");
	const char *files = cfg_str(c, "ephemeral-files");

	if (!dir) {
		log_warnx("prestart: --data-dir is required");
		return EXIT_USAGE;
	}
	if (strcmp(cfg_str(c, "mode"), "ephemeral") != 0) {
		log_info("prestart: persistent mode: keeping %s/nodes.conf and data", dir);
		return 0;
	}
	/* Before the server starts, never after it has read the files. */
	for (const char *p = files; *p;) {
		size_t l = strcspn(p, ",");
		char path[PATH_MAX];
		if (l > 0 && l < 200 && !memchr(p, '/', l)) {
			snprintf(path, sizeof(path), "%s/%.*s", dir, (int)l, p);
			if (remove_path(path) < 0) {
				log_warn("prestart: cannot remove %s", path);
				return EXIT_FAILURE_GENERIC;
			}
			log_debug("prestart: removed %s", path);
		}
		p += l;
		if (*p == ',')
			p++;
	}
	log_info("prestart: ephemeral mode: %s cleaned; the server starts as a fresh node", dir);
	return 0;
}

struct sidecar {
	struct cfg *c;
	struct hostport self;
	char *password;
	struct member_list members;
	struct timespec peers_mtime;
	char last_msg[1024];
	enum reconcile_result last_res;
	int was_leader, local_up, member_logged;
	struct reconcile_opts ro;
};

static int load_members(struct sidecar *sc)
{
	const char *file = cfg_str(sc->c, "peers-file");
	struct member_list ml;
	char err[512];

	if (file) {
		struct stat st;
		if (stat(file, &st) < 0) {
			if (sc->members.n == 0)
				log_warn("peers file %s", file);
			return sc->members.n ? 0 : -1;
		}
		if (sc->members.n && st.st_mtim.tv_sec == sc->peers_mtime.tv_sec &&
		    st.st_mtim.tv_nsec == sc->peers_mtime.tv_nsec)
			return 0;
		if (static_source_read_file(file, 6379, &ml, err, sizeof(err)) < 0) {
			log_warnx("%s; keeping the last good member list", err);
			return sc->members.n ? 0 : -1;
		}
		sc->peers_mtime = st.st_mtim;
		log_info("member list: %zu instances from %s", ml.n, file);
	} else {
		if (sc->members.n)
			return 0;
		if (!cfg_str(sc->c, "peers")) {
			log_warnx("--peers or --peers-file is required");
			return -1;
		}
		if (static_source_parse_list(cfg_str(sc->c, "peers"), 6379, &ml, err, sizeof(err)) < 0) {
			log_warnx("--peers: %s", err);
			return -1;
		}
	}
	member_list_free(&sc->members);
	sc->members = ml;
	return 0;
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
	if (load_members(sc) < 0)
		return interval;
	if (!ping(&sc->self, sc->password, 1000)) {
		if (sc->local_up || !sc->member_logged)
			log_info("waiting for the local server %s:%d", sc->self.host, sc->self.port);
		sc->local_up = 0;
		sc->member_logged = 1;
		return interval;
	}
	if (!sc->local_up)
		log_info("local server %s:%d is up", sc->self.host, sc->self.port);
	sc->local_up = 1;
	me = member_list_index(&sc->members, &sc->self);
	if (me < 0) {
		if (sc->member_logged != 2)
			log_info("%s:%d is not in the member list: standing by", sc->self.host, sc->self.port);
		sc->member_logged = 2;
		return interval;
	}
	sc->member_logged = 3;
	for (int j = 0; j < me && leader < 0; j++)
		if (ping(&sc->members.v[j].addr, sc->password, 300))
			leader = j;
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

static int sidecar_run(struct cfg *c)
{
	struct sidecar sc;
	struct evloop *loop = NULL;
	char err[256];
	int rc = EXIT_FAILURE_GENERIC;
	struct sigaction sa;

	memset(&sc, 0, sizeof(sc));
	sc.c = c;
	sc.last_res = (enum reconcile_result)-1;
	if (!cfg_str(c, "node") || hostport_parse(cfg_str(c, "node"), 6379, &sc.self, err, sizeof(err)) < 0) {
		log_warnx("--node: %s", cfg_str(c, "node") ? err : "required (HOST:PORT of the local server)");
		return EXIT_USAGE;
	}
	if (secret_load_password(cfg_str(c, "password-file"), &sc.password, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return EXIT_USAGE;
	}
	if (load_members(&sc) < 0) {
		rc = EXIT_USAGE;
		goto done;
	}
	reconcile_opts_init(&sc.ro);
	sc.ro.password = sc.password;
	sc.ro.replicas = (int)cfg_int(c, "replicas");
	sc.ro.on_action = log_action;
	sc.ro.migrate.progress = log_progress;
	sc.ro.migrate.progress_interval_ms = 2000;
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
	log_info("sidecar for %s:%d started (%s mode, %d replicas per master)", sc.self.host, sc.self.port,
		 cfg_str(c, "mode"), sc.ro.replicas);
	evloop_run(loop);
	rc = 0;
done:
	evloop_free(loop);
	member_list_free(&sc.members);
	secret_free(sc.password);
	return rc;
}

int main(int argc, char **argv)
{
	struct cfg c;
	char err[256];
	enum log_level lvl = LOG_LEVEL_INFO;
	int rc;
	const char *synopsis = "autoshard-sidecar prestart|run [options]";

	log_init("autoshard-sidecar", LOG_LEVEL_INFO, 0);
	if (cfg_parse(&c, sidecar_opts, NOPTS(sidecar_opts), argc - 1, argv + 1, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return EXIT_USAGE;
	}
	log_level_parse(cfg_str(&c, "log-level"), &lvl);
	log_init("autoshard-sidecar", lvl, strcmp(cfg_str(&c, "log-format"), "json") == 0);
	if (cfg_handle_info(&c, synopsis)) {
		rc = 0;
	} else if (c.nargs != 1) {
		fprintf(stderr, "usage: %s\n", synopsis);
		rc = EXIT_USAGE;
	} else if (!strcmp(c.args[0], "prestart")) {
		rc = sidecar_prestart(&c);
	} else if (!strcmp(c.args[0], "run")) {
		rc = sidecar_run(&c);
	} else {
		log_warnx("unknown action '%.20s' (prestart or run)", c.args[0]);
		rc = EXIT_USAGE;
	}
	cfg_free(&c);
	return rc;
}
