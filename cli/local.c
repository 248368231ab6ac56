/* autoshard local up|scale|down: real servers on their own 127.x addresses,
 * port 6379 like pods, one sidecar each, state kept in --dir. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cluster.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "proc.h"
#include "serverconf.h"
#include "static/static_source.h"

#define NOPTS(t) (sizeof(t) / sizeof((t)[0]))
#define LOCAL_MAX_NODES 250

struct local_state {
	char dir[PATH_MAX];
	char base[IP_MAX];            /* "127.A.B." prefix; node i is base + i */
	char server[64];              /* valkey-server | redis-server */
	char password_file[PATH_MAX]; /* absolute, "" for none */
	char mode[16];                /* ephemeral | persistent */
	int nodes;
	int replicas;
};

static const struct cfg_option local_opts[] = {
	{"dir", CFG_STRING, 0, 0, NULL, "AUTOSHARD_LOCAL_DIR", NULL, "directory holding the local cluster's state"},
	{"nodes", CFG_INT, 1, LOCAL_MAX_NODES, NULL, NULL, NULL, "number of instances"},
	{"replicas", CFG_INT, 0, 10, NULL, NULL, NULL, "replicas per master (up only; default 0)"},
	{"server", CFG_ENUM, 0, 0, NULL, NULL, "valkey-server|redis-server",
	 "server binary (up only; default valkey-server)"},
	{"base-ip", CFG_STRING, 0, 0, NULL, NULL, NULL,
	 "first three octets, e.g. 127.0.5 (up only; default from --dir)"},
	{"password-file", CFG_STRING, 0, 0, NULL, NULL, NULL,
	 "file holding the password the servers require (up only)"},
	{"mode", CFG_ENUM, 0, 0, NULL, NULL, "ephemeral|persistent",
	 "what a restart keeps (up only; default ephemeral): persistent keeps nodes.conf and an AOF"},
	{"from", CFG_STRING, 0, 0, NULL, NULL, NULL, "clone: the stopped local cluster whose data is copied"},
	{"timeout", CFG_INT, 1, 86400, "120", NULL, NULL, "seconds to wait for a healthy cluster"},
};

/* State files (errno tells why on failure). */
static int write_text(const char *path, const char *text, mode_t mode)
{
	return write_file_atomic(path, text, strlen(text), mode, NULL, 0);
}

static void node_dir(const struct local_state *s, int i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/node-%d", s->dir, i);
}

static void node_ip(const struct local_state *s, int i, char *buf, size_t len)
{
	snprintf(buf, len, "%s%d", s->base, i);
}

static int state_save(const struct local_state *s)
{
	char path[PATH_MAX + 16], text[PATH_MAX * 2 + 256];

	snprintf(path, sizeof(path), "%s/local.conf", s->dir);
	snprintf(text, sizeof(text), "base=%s\nserver=%s\nnodes=%d\nreplicas=%d\npassword_file=%s\nmode=%s\n", s->base,
		 s->server, s->nodes, s->replicas, s->password_file, s->mode);
	return write_text(path, text, 0600);
}

static int state_load(const char *dir, struct local_state *s)
{
	char path[PATH_MAX + 16], line[PATH_MAX + 32];
	FILE *f;
	long long v;

	memset(s, 0, sizeof(*s));
	strlcpy_a(s->dir, dir, sizeof(s->dir));
	snprintf(path, sizeof(path), "%s/local.conf", dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');
		line[strcspn(line, "\n")] = '\0';
		if (!eq)
			continue;
		*eq++ = '\0';
		if (!strcmp(line, "base"))
			strlcpy_a(s->base, eq, sizeof(s->base));
		else if (!strcmp(line, "server"))
			strlcpy_a(s->server, eq, sizeof(s->server));
		else if (!strcmp(line, "password_file"))
			strlcpy_a(s->password_file, eq, sizeof(s->password_file));
		else if (!strcmp(line, "mode") && (!strcmp(eq, "ephemeral") || !strcmp(eq, "persistent")))
			strlcpy_a(s->mode, eq, sizeof(s->mode));
		else if (!strcmp(line, "nodes") && parse_int(eq, 0, LOCAL_MAX_NODES, &v) == 0)
			s->nodes = (int)v;
		else if (!strcmp(line, "replicas") && parse_int(eq, 0, 10, &v) == 0)
			s->replicas = (int)v;
	}
	fclose(f);
	if (!s->mode[0])
		strlcpy_a(s->mode, "ephemeral", sizeof(s->mode));
	return s->base[0] && s->server[0] ? 0 : -1;
}

/* Default 127.A.B. from the directory's path, so two local clusters in
 * different directories do not collide. */
static void default_base(const char *dir, char *base, size_t len)
{
	unsigned h = 2166136261u;

	for (const char *p = dir; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(base, len, "127.%u.%u.", 100 + (h % 150), (h >> 8) % 256);
}

static int write_instances(const struct local_state *s, int n)
{
	char path[PATH_MAX + 16], *text;
	size_t cap = (size_t)n * 32 + 64, off = 0;
	int rc;

	text = malloc(cap);
	if (!text)
		return -1;
	off += (size_t)snprintf(text + off, cap - off, "# written by autoshard local; one instance per line\n");
	for (int i = 1; i <= n; i++) {
		char ip[IP_MAX];
		node_ip(s, i, ip, sizeof(ip));
		off += (size_t)snprintf(text + off, cap - off, "%s:6379\n", ip);
	}
	snprintf(path, sizeof(path), "%s/instances", s->dir);
	rc = write_text(path, text, 0644);
	free(text);
	return rc;
}

static int self_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	return 0;
}

/* The last non-empty line of a log file (the sidecar's one-line verdict). */
static void log_tail_line(const char *path, char *out, size_t outlen)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n = 0;
	long sz;
	char *end, *startp;

	out[0] = '\0';
	if (!f)
		return;
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0) {
		fseek(f, sz > (long)sizeof(buf) - 1 ? sz - (long)sizeof(buf) + 1 : 0, SEEK_SET);
		n = fread(buf, 1, sizeof(buf) - 1, f);
	}
	fclose(f);
	buf[n] = '\0';
	end = buf + n;
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	startp = strrchr(buf, '\n');
	strlcpy_a(out, startp ? startp + 1 : buf, outlen);
}

static void sidecar_path(char *buf, size_t len)
{
	char bin[PATH_MAX];

	if (self_dir(bin, sizeof(bin)) == 0)
		snprintf(buf, len, "%s/autoshard-sidecar", bin);
	else
		snprintf(buf, len, "autoshard-sidecar");
	if (access(buf, X_OK) != 0)
		snprintf(buf, len, "autoshard-sidecar");
}

/* Run `autoshard-sidecar prestart` for node i: in ephemeral mode it cleans
 * the node's state, in persistent mode it runs the clone guard. 0 go on,
 * -2 refused by the guard (err holds its message), -1 other failure. */
static int prestart_node(const struct local_state *s, int i, const char *dir, const char *ip, char *err, size_t errlen)
{
	char sidecar[PATH_MAX + 32], node[IP_MAX + 8], peers[PATH_MAX + 16], log[PATH_MAX + 32], line[1600];
	char *argv[16];
	int a = 0, st;

	sidecar_path(sidecar, sizeof(sidecar));
	snprintf(node, sizeof(node), "%s:6379", ip);
	snprintf(peers, sizeof(peers), "%s/instances", s->dir);
	snprintf(log, sizeof(log), "%s/sidecar.log", dir);
	argv[a++] = sidecar;
	argv[a++] = "prestart";
	argv[a++] = "--mode";
	argv[a++] = (char *)s->mode;
	argv[a++] = "--data-dir";
	argv[a++] = (char *)dir;
	argv[a++] = "--peers-file";
	argv[a++] = peers;
	argv[a++] = "--node";
	argv[a++] = node;
	if (s->password_file[0]) {
		argv[a++] = "--password-file";
		argv[a++] = (char *)s->password_file;
	}
	argv[a] = NULL;
	st = proc_run(argv, log, 150000, err, errlen);
	if (st == 0)
		return 0;
	if (st < 0)
		return -1;
	log_tail_line(log, line, sizeof(line));
	seterr(err, errlen, "prestart exited %d: %s", st, line);
	return st == EXIT_REFUSED ? -2 : -1;
}

static int start_node(const struct local_state *s, int i, char *err, size_t errlen)
{
	char dir[PATH_MAX], ip[IP_MAX], conf[PATH_MAX + 32], pidf[PATH_MAX + 32], log[PATH_MAX + 32];
	char sidecar[PATH_MAX + 32], node[IP_MAX + 8];
	char peers[PATH_MAX + 16], replicas[16];
	char *pw = NULL;
	int persistent = strcmp(s->mode, "persistent") == 0, r;
	struct server_conf sc;

	memset(&sc, 0, sizeof(sc));

	node_dir(s, i, dir, sizeof(dir));
	node_ip(s, i, ip, sizeof(ip));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return seterr(err, errlen, "%s: %s", dir, strerror(errno));
	snprintf(pidf, sizeof(pidf), "%s/server.pid", dir);
	if (proc_alive(proc_read_pidfile(pidf)) == 0) {
		int pr = prestart_node(s, i, dir, ip, err, errlen);
		if (pr < 0)
			return pr;
		snprintf(conf, sizeof(conf), "%s/server.conf", dir);
		if (s->password_file[0] && secret_read_file(s->password_file, &pw, err, errlen) < 0)
			return -1;
		sc.bind_ip = ip;
		sc.dir = dir;
		sc.persistent = persistent;
		sc.node_timeout_ms = 2000;
		sc.password = pw;
		r = server_conf_write(conf, &sc, err, errlen);
		secret_free(pw);
		if (r < 0)
			return -1;
		{
			char *argv[] = {(char *)s->server, conf, NULL};
			snprintf(log, sizeof(log), "%s/server.out", dir);
			if (proc_spawn(argv, log, pidf, err, errlen) < 0)
				return -1;
		}
	}
	snprintf(pidf, sizeof(pidf), "%s/sidecar.pid", dir);
	if (proc_alive(proc_read_pidfile(pidf)))
		return 0;
	sidecar_path(sidecar, sizeof(sidecar));
	snprintf(node, sizeof(node), "%s:6379", ip);
	snprintf(peers, sizeof(peers), "%s/instances", s->dir);
	snprintf(replicas, sizeof(replicas), "%d", s->replicas);
	snprintf(log, sizeof(log), "%s/sidecar.log", dir);
	{
		char *argv[16];
		int a = 0;
		argv[a++] = sidecar;
		argv[a++] = "run";
		argv[a++] = "--node";
		argv[a++] = node;
		argv[a++] = "--peers-file";
		argv[a++] = peers;
		argv[a++] = "--replicas";
		argv[a++] = replicas;
		argv[a++] = "--data-dir";
		argv[a++] = dir;
		argv[a++] = "--mode";
		argv[a++] = (char *)s->mode;
		if (s->password_file[0]) {
			argv[a++] = "--password-file";
			argv[a++] = (char *)s->password_file;
		}
		argv[a] = NULL;
		if (proc_spawn(argv, log, pidf, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static void stop_node(const struct local_state *s, int i)
{
	char dir[PATH_MAX], pidf[PATH_MAX + 32];

	node_dir(s, i, dir, sizeof(dir));
	snprintf(pidf, sizeof(pidf), "%s/sidecar.pid", dir);
	proc_stop_pidfile(pidf, 5000);
	snprintf(pidf, sizeof(pidf), "%s/server.pid", dir);
	proc_stop_pidfile(pidf, 10000);
}

/* Wait until nodes 1..n form a healthy cluster with the expected shape and
 * know no other node. 0 healthy, -1 timeout (problems printed). */
static int wait_healthy(const struct local_state *s, int n, int timeout_s)
{
	struct hostport *addrs = calloc((size_t)n, sizeof(*addrs));
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	char *pw = NULL, err[256], last[512] = "";
	int rc = -1;

	if (!addrs)
		return -1;
	if (s->password_file[0] && secret_read_file(s->password_file, &pw, err, sizeof(err)) < 0) {
		fprintf(stderr, "autoshard: %s\n", err);
		free(addrs);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		node_ip(s, i + 1, addrs[i].host, sizeof(addrs[i].host));
		addrs[i].port = 6379;
	}
	for (;;) {
		struct cluster_snapshot *snap = NULL;
		struct cluster_gather_opts go = {pw, 1000, 0};
		struct health_expect e;
		struct health_report hr;
		int h = 1;

		memset(&hr, 0, sizeof(hr));
		e.masters = n / (s->replicas + 1) > 0 ? n / (s->replicas + 1) : 1;
		e.replicas_per_master = -1; /* with extra nodes, some masters have one more */
		e.nodes = n;
		/* the shape the sidecars settle on, not a step on the way to it
		 * (a drained master before it replicates, a shard short of a
		 * replica, a moment between two slot moves of a rebalance) */
		e.min_replicas_per_master = s->replicas;
		e.no_empty_masters = 1;
		e.balanced = 1; /* healthy between two slot moves is not done */
		if (cluster_gather(addrs, (size_t)n, &go, &snap, err, sizeof(err)) == 0) {
			h = health_check(snap, &e, &hr);
			if (h == 0)
				for (size_t i = 0; i < snap->nviews; i++)
					if (snap->views[i].topo && snap->views[i].topo->nnodes != (size_t)n) {
						h = 1;
						snprintf(last, sizeof(last), "node %s still knows %zu nodes",
							 snap->views[i].addr.host, snap->views[i].topo->nnodes);
					}
			if (h != 0 && hr.nproblems)
				snprintf(last, sizeof(last), "%s", hr.problems[0]);
			health_report_free(&hr);
			cluster_snapshot_free(snap);
		}
		if (h == 0) {
			rc = 0;
			break;
		}
		if (now_ms() > end) {
			fprintf(stderr, "autoshard: cluster not healthy after %d s: %s\n", timeout_s, last);
			break;
		}
		sleep_ms(100);
	}
	secret_free(pw);
	free(addrs);
	return rc;
}

/* Create --dir if needed and resolve it into real (PATH_MAX); the error is printed. */
static int open_dir(const char *dir, char *real)
{
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || !realpath(dir, real)) {
		fprintf(stderr, "autoshard: --dir %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Write the instance list, start every node (prestart first), wait healthy. */
static int bring_up(struct local_state *s, int n, int timeout_s)
{
	char err[2048];

	if (write_instances(s, n) < 0) {
		fprintf(stderr, "autoshard: %s/instances: %s\n", s->dir, strerror(errno));
		return EXIT_FAILURE_GENERIC;
	}
	for (int i = 1; i <= n; i++) {
		int r = start_node(s, i, err, sizeof(err));
		if (r == -2) {
			fprintf(stderr, "autoshard: node %d refused to start: %s\n", i, err);
			return EXIT_REFUSED;
		}
		if (r < 0) {
			fprintf(stderr, "autoshard: node %d: %s\n", i, err);
			return EXIT_FAILURE_GENERIC;
		}
	}
	if (wait_healthy(s, n, timeout_s) < 0)
		return EXIT_FAILURE_GENERIC;
	printf("healthy: %d nodes, %d masters, %d replicas per master (%s)\nseed %s1:6379\n", n, n / (s->replicas + 1),
	       s->replicas, s->mode, s->base);
	return 0;
}

/* 1 when any node of the local cluster still runs. */
static int any_running(const struct local_state *s)
{
	for (int i = 1; i <= LOCAL_MAX_NODES; i++) {
		char nd[PATH_MAX], pidf[PATH_MAX + 32];
		struct stat st;
		node_dir(s, i, nd, sizeof(nd));
		if (stat(nd, &st) < 0)
			continue;
		snprintf(pidf, sizeof(pidf), "%s/server.pid", nd);
		if (proc_alive(proc_read_pidfile(pidf)))
			return 1;
	}
	return 0;
}

static int parse_base(const char *text, char *base, size_t len)
{
	int a, b;
	char tail;

	if (sscanf(text, "127.%d.%d%c", &a, &b, &tail) != 2 || a < 0 || a > 255 || b < 0 || b > 255) {
		fprintf(stderr, "autoshard: --base-ip '%.40s': want 127.A.B (loopback only)\n", text);
		return -1;
	}
	snprintf(base, len, "127.%d.%d.", a, b);
	return 0;
}

static int local_up(struct cfg *c)
{
	struct local_state s;
	const char *dir = cfg_str(c, "dir");
	char err[512], real[PATH_MAX];
	int n, existed;

	if (!dir || !cfg_isset(c, "nodes")) {
		fprintf(stderr, "autoshard: local up needs --dir DIR and --nodes N\n");
		return EXIT_USAGE;
	}
	if (open_dir(dir, real) < 0)
		return EXIT_USAGE;
	n = (int)cfg_int(c, "nodes");
	existed = state_load(real, &s) == 0;
	if (existed && s.nodes != n) {
		fprintf(stderr, "autoshard: %s holds a local cluster of %d nodes; use 'local scale' to change it\n",
			real, s.nodes);
		return EXIT_USAGE;
	}
	if (existed && cfg_str(c, "mode") && strcmp(cfg_str(c, "mode"), s.mode) != 0) {
		fprintf(stderr, "autoshard: %s holds a %s local cluster; --mode cannot change it\n", real, s.mode);
		return EXIT_USAGE;
	}
	if (existed && cfg_str(c, "base-ip")) {
		/* A restart on new addresses, like pods that come back with new IPs. */
		char nb[IP_MAX];
		if (parse_base(cfg_str(c, "base-ip"), nb, sizeof(nb)) < 0)
			return EXIT_USAGE;
		if (strcmp(nb, s.base) != 0) {
			if (any_running(&s)) {
				fprintf(stderr,
					"autoshard: %s still runs at %s*; 'local down' before moving it to %s*\n", real,
					s.base, nb);
				return EXIT_USAGE;
			}
			strlcpy_a(s.base, nb, sizeof(s.base));
			if (state_save(&s) < 0) {
				fprintf(stderr, "autoshard: %s/local.conf: %s\n", real, strerror(errno));
				return EXIT_FAILURE_GENERIC;
			}
		}
	}
	if (!existed) {
		memset(&s, 0, sizeof(s));
		strlcpy_a(s.dir, real, sizeof(s.dir));
		s.nodes = n;
		s.replicas = cfg_isset(c, "replicas") ? (int)cfg_int(c, "replicas") : 0;
		strlcpy_a(s.server, cfg_str(c, "server") ? cfg_str(c, "server") : "valkey-server", sizeof(s.server));
		strlcpy_a(s.mode, cfg_str(c, "mode") ? cfg_str(c, "mode") : "ephemeral", sizeof(s.mode));
		if (cfg_str(c, "base-ip")) {
			if (parse_base(cfg_str(c, "base-ip"), s.base, sizeof(s.base)) < 0)
				return EXIT_USAGE;
		} else {
			default_base(real, s.base, sizeof(s.base));
		}
		if (cfg_str(c, "password-file")) {
			char *pw = NULL;
			if (!realpath(cfg_str(c, "password-file"), s.password_file) ||
			    secret_read_file(s.password_file, &pw, err, sizeof(err)) < 0) {
				fprintf(stderr, "autoshard: --password-file: %s\n",
					s.password_file[0] ? err : strerror(errno));
				return EXIT_USAGE;
			}
			secret_free(pw);
		}
		if (s.replicas > 0 && n < s.replicas + 1) {
			fprintf(stderr, "autoshard: --nodes %d is too few for --replicas %d (need at least %d)\n", n,
				s.replicas, s.replicas + 1);
			return EXIT_USAGE;
		}
		if (state_save(&s) < 0) {
			fprintf(stderr, "autoshard: %s/local.conf: %s\n", real, strerror(errno));
			return EXIT_FAILURE_GENERIC;
		}
	}
	return bring_up(&s, n, (int)cfg_int(c, "timeout"));
}

static int local_scale(struct cfg *c)
{
	struct local_state s;
	const char *dir = cfg_str(c, "dir");
	char err[512], real[PATH_MAX];
	int n, old;

	if (!dir || !cfg_isset(c, "nodes")) {
		fprintf(stderr, "autoshard: local scale needs --dir DIR and --nodes N\n");
		return EXIT_USAGE;
	}
	if (!realpath(dir, real) || state_load(real, &s) < 0) {
		fprintf(stderr, "autoshard: --dir %s: no local cluster there (run 'local up' first)\n", dir);
		return EXIT_USAGE;
	}
	n = (int)cfg_int(c, "nodes");
	old = s.nodes;
	if (s.replicas > 0 && n < s.replicas + 1) {
		fprintf(stderr, "autoshard: --nodes %d is too few for %d replicas per master\n", n, s.replicas);
		return EXIT_USAGE;
	}
	/* The new list is the desired state, written first as a platform changes
	 * its count before it starts instances (their prestart compares with it);
	 * the elected sidecar joins new nodes, drains leaving ones and forgets
	 * them. Leavers stop only once forgotten. */
	if (write_instances(&s, n) < 0) {
		fprintf(stderr, "autoshard: %s/instances: %s\n", real, strerror(errno));
		return EXIT_FAILURE_GENERIC;
	}
	if (n > old) {
		s.nodes = n;
		state_save(&s);
	}
	for (int i = 1; i <= n; i++) {
		int r = start_node(&s, i, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "autoshard: node %d%s: %s\n", i, r == -2 ? " refused to start" : "", err);
			return r == -2 ? EXIT_REFUSED : EXIT_FAILURE_GENERIC;
		}
	}
	if (wait_healthy(&s, n, (int)cfg_int(c, "timeout")) < 0)
		return EXIT_FAILURE_GENERIC;
	for (int i = n + 1; i <= old; i++)
		stop_node(&s, i);
	s.nodes = n;
	if (state_save(&s) < 0) {
		fprintf(stderr, "autoshard: %s/local.conf: %s\n", real, strerror(errno));
		return EXIT_FAILURE_GENERIC;
	}
	printf("healthy: %d nodes (was %d), %d masters\nseed %s1:6379\n", n, old, n / (s.replicas + 1), s.base);
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	FILE *in = fopen(from, "rb"), *out = NULL;
	size_t n;
	int rc = -1;

	if (!in)
		return errno == ENOENT ? 0 : -1;
	out = fopen(to, "wb");
	if (!out)
		goto done;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			goto done;
	if (ferror(in) || fflush(out) != 0 || fsync(fileno(out)) != 0)
		goto done;
	rc = 0;
done:
	fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	return rc;
}

/* Copy what a platform copies when it clones an environment: each node's
 * cluster state and data (nodes.conf, AOF, RDB, topology record). */
static int copy_node_data(const char *from, const char *to)
{
	static const char *const files[] = {"nodes.conf", "dump.rdb", "autoshard-topology.json"};
	char a[PATH_MAX + 64], b[PATH_MAX + 64];
	DIR *d;
	struct dirent *de;

	if (mkdir(to, 0700) < 0 && errno != EEXIST)
		return -1;
	for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
		snprintf(a, sizeof(a), "%s/%s", from, files[k]);
		snprintf(b, sizeof(b), "%s/%s", to, files[k]);
		if (copy_file(a, b) < 0)
			return -1;
	}
	snprintf(a, sizeof(a), "%s/appendonlydir", from);
	d = opendir(a);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	snprintf(b, sizeof(b), "%s/appendonlydir", to);
	if (mkdir(b, 0700) < 0 && errno != EEXIST) {
		closedir(d);
		return -1;
	}
	while ((de = readdir(d))) {
		char fa[PATH_MAX * 2], fb[PATH_MAX * 2];
		if (de->d_name[0] == '.')
			continue;
		snprintf(fa, sizeof(fa), "%s/%s", a, de->d_name);
		snprintf(fb, sizeof(fb), "%s/%s", b, de->d_name);
		if (copy_file(fa, fb) < 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

/* local clone: a preview environment cloned from a stopped local cluster,
 * possibly with another instance count, on new addresses. Nodes up to the
 * smaller count get a copy of the parent's node data; the rest start empty. */
static int local_clone(struct cfg *c)
{
	struct local_state src, s;
	const char *dir = cfg_str(c, "dir"), *from = cfg_str(c, "from");
	char real[PATH_MAX], realsrc[PATH_MAX];
	int n, existed;

	if (!dir || !from || !cfg_isset(c, "nodes")) {
		fprintf(stderr, "autoshard: local clone needs --from DIR --dir NEWDIR --nodes N\n");
		return EXIT_USAGE;
	}
	if (!realpath(from, realsrc) || state_load(realsrc, &src) < 0) {
		fprintf(stderr, "autoshard: --from %s: no local cluster there\n", from);
		return EXIT_USAGE;
	}
	if (any_running(&src)) {
		fprintf(stderr,
			"autoshard: --from %s still runs; 'local down' first (a copy of running nodes is torn)\n",
			from);
		return EXIT_USAGE;
	}
	if (open_dir(dir, real) < 0)
		return EXIT_USAGE;
	existed = state_load(real, &s) == 0;
	if (existed || strcmp(real, realsrc) == 0) {
		fprintf(stderr, "autoshard: --dir %s already holds a local cluster\n", dir);
		return EXIT_USAGE;
	}
	n = (int)cfg_int(c, "nodes");
	s = src;
	strlcpy_a(s.dir, real, sizeof(s.dir));
	s.nodes = n;
	if (cfg_str(c, "base-ip")) {
		if (parse_base(cfg_str(c, "base-ip"), s.base, sizeof(s.base)) < 0)
			return EXIT_USAGE;
	} else {
		default_base(real, s.base, sizeof(s.base));
	}
	for (int i = 1; i <= n && i <= src.nodes; i++) {
		char a[PATH_MAX], b[PATH_MAX];
		node_dir(&src, i, a, sizeof(a));
		node_dir(&s, i, b, sizeof(b));
		if (copy_node_data(a, b) < 0) {
			fprintf(stderr, "autoshard: copying %s to %s: %s\n", a, b, strerror(errno));
			return EXIT_FAILURE_GENERIC;
		}
	}
	if (state_save(&s) < 0) {
		fprintf(stderr, "autoshard: %s/local.conf: %s\n", real, strerror(errno));
		return EXIT_FAILURE_GENERIC;
	}
	printf("cloned %s (%d nodes) to %s (%d nodes) at %s*\n", realsrc, src.nodes, real, n, s.base);
	return bring_up(&s, n, (int)cfg_int(c, "timeout"));
}

static int local_down(struct cfg *c)
{
	struct local_state s;
	const char *dir = cfg_str(c, "dir");
	char real[PATH_MAX];
	int stopped = 0;

	if (!dir) {
		fprintf(stderr, "autoshard: local down needs --dir DIR\n");
		return EXIT_USAGE;
	}
	if (!realpath(dir, real) || state_load(real, &s) < 0) {
		fprintf(stderr, "autoshard: --dir %s: no local cluster there\n", dir);
		return EXIT_USAGE;
	}
	/* Every node directory that exists, also ones a failed scale left behind. */
	for (int i = 1; i <= LOCAL_MAX_NODES; i++) {
		char nd[PATH_MAX];
		struct stat st;
		node_dir(&s, i, nd, sizeof(nd));
		if (stat(nd, &st) < 0)
			continue;
		stop_node(&s, i);
		stopped++;
	}
	printf("stopped %d nodes\n", stopped);
	return 0;
}

int cmd_local(int argc, char **argv)
{
	struct cfg c;
	char err[256];
	int rc;
	const char *synopsis =
		"autoshard local up|scale|down|clone --dir DIR [--nodes N] [--replicas R] "
		"[--mode ephemeral|persistent] [--base-ip 127.A.B] [--server valkey-server|redis-server] "
		"[--password-file F] [--from DIR (clone)]";

	if (cfg_parse(&c, local_opts, NOPTS(local_opts), argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "autoshard: %s\n", err);
		return EXIT_USAGE;
	}
	if (cfg_handle_info(&c, synopsis)) {
		rc = 0;
	} else if (c.nargs != 1) {
		fprintf(stderr, "usage: %s\n", synopsis);
		rc = EXIT_USAGE;
	} else if (!strcmp(c.args[0], "up")) {
		rc = local_up(&c);
	} else if (!strcmp(c.args[0], "scale")) {
		rc = local_scale(&c);
	} else if (!strcmp(c.args[0], "down")) {
		rc = local_down(&c);
	} else if (!strcmp(c.args[0], "clone")) {
		rc = local_clone(&c);
	} else {
		fprintf(stderr, "autoshard: local: unknown action '%.20s' (up, scale, down or clone)\n", c.args[0]);
		rc = EXIT_USAGE;
	}
	cfg_free(&c);
	return rc;
}
