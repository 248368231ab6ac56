/* Engine runs in a child process (see engine.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "engine.h"
#include "util.h"

struct engine_run {
	struct evloop *loop;
	pid_t pid;
	int fd;
	struct engine_opts o;
	char buf[ENGINE_LINE_MAX];
	size_t len;
	int have_result;
	struct engine_report report;
	struct engine_map *pending; /* a map being read */
};

int engine_parse_line(const char *line, struct engine_progress *p, struct engine_report *r)
{
	int n = 0, code;

	if (!strncmp(line, "progress ", 9)) {
		memset(p, 0, sizeof(*p));
		if (sscanf(line + 9, "%lld %lld %lld %31s", &p->slots_done, &p->slots_total, &p->keys, p->phase) != 4)
			return -1;
		return 1;
	}
	if (!strncmp(line, "result ", 7)) {
		memset(r, 0, sizeof(*r));
		if (sscanf(line + 7, "%d %d %d %d %n", &code, &r->masters, &r->replicas, &r->slots, &n) != 4 || n == 0)
			return -1;
		if (code < RECONCILE_DONE || code > RECONCILE_REFUSED)
			return -1;
		r->result = (enum reconcile_result)code;
		strlcpy_a(r->msg, line + 7 + n, sizeof(r->msg));
		return 2;
	}
	return -1;
}

void engine_map_free(struct engine_map *m)
{
	if (!m)
		return;
	free(m->nodes);
	free(m);
}

static int map_find(const struct engine_map *m, const char *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->nodes[i].id, id))
			return (int)i;
	return -1;
}

static int map_bad(struct engine_map **pending)
{
	engine_map_free(*pending);
	*pending = NULL;
	return -1;
}

int engine_map_line(const char *line, struct engine_map **pending)
{
	struct engine_map *m = *pending;

	if (!strcmp(line, "map begin")) {
		engine_map_free(m);
		if (!(m = calloc(1, sizeof(*m))))
			return -1;
		for (int i = 0; i < 16384; i++)
			m->owner[i] = -1;
		m->keys = -1;
		*pending = m;
		return 0;
	}
	if (!m)
		return -1;
	if (!strcmp(line, "map end"))
		return 1; /* *pending is the finished map: the caller takes it */
	if (!strncmp(line, "keys ", 5)) {
		char *end;
		long long k = strtoll(line + 5, &end, 10);

		if (end == line + 5 || *end || k < 0)
			return map_bad(pending);
		m->keys = k;
		return 0;
	}
	if (!strncmp(line, "node ", 5)) {
		struct engine_node nd;
		char master[48];

		memset(&nd, 0, sizeof(nd));
		if (sscanf(line + 5, "%40s %71s %7s %47s %11s %d", nd.id, nd.addr, nd.role, master, nd.state,
			   &nd.nslots) != 6 ||
		    strlen(nd.id) != 40 || nd.nslots < 0 || nd.nslots > 16384 || m->n >= 1000 ||
		    map_find(m, nd.id) >= 0)
			return map_bad(pending);
		if (strcmp(master, "-") != 0) {
			if (strlen(master) != 40)
				return map_bad(pending);
			memcpy(nd.master, master, 41);
		}
		if (m->n == m->cap) {
			size_t cap = m->cap ? m->cap * 2 : 8;
			struct engine_node *v = realloc(m->nodes, cap * sizeof(*v));

			if (!v)
				return map_bad(pending);
			m->nodes = v;
			m->cap = cap;
		}
		m->nodes[m->n++] = nd;
		return 0;
	}
	if (!strncmp(line, "slots ", 6)) {
		char id[41];
		const char *q = line + 6;
		int k, n = 0;

		if (sscanf(q, "%40s%n", id, &n) != 1 || (k = map_find(m, id)) < 0)
			return map_bad(pending);
		q += n;
		while (*q == ' ')
			q++;
		while (*q) {
			char *end;
			long a = strtol(q, &end, 10), b = a;

			if (end == q || a < 0 || a > 16383)
				return map_bad(pending);
			if (*end == '-') {
				q = end + 1;
				b = strtol(q, &end, 10);
				if (end == q || b < a || b > 16383)
					return map_bad(pending);
			}
			for (long x = a; x <= b; x++)
				m->owner[x] = (int16_t)k;
			q = end;
			if (*q && *q != ' ')
				return map_bad(pending);
			while (*q == ' ')
				q++;
		}
		return 0;
	}
	return map_bad(pending);
}

/* ---- the child ---- */

static int child_fd = -1;

static void child_write(const char *line)
{
	size_t len = strlen(line), off = 0;

	while (off < len) {
		ssize_t w = write(child_fd, line + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static const char *node_state(unsigned f)
{
	return f & NODE_FAIL        ? "fail"
	       : f & NODE_PFAIL     ? "pfail"
	       : f & NODE_HANDSHAKE ? "handshake"
	       : f & NODE_NOADDR    ? "noaddr"
				    : "ok";
}

/* The slot map of the reference view as map lines (see engine.h), with the
 * keys summed over the masters that answered DBSIZE. */
static void child_emit_map(const struct cluster_snapshot *snap, int ref)
{
	const struct topology *t = snap->views[ref].topo;
	char line[2048];
	long long keys = 0;

	child_write("map begin\n");
	for (size_t k = 0; k < t->nnodes; k++) {
		const struct cluster_node *nd = &t->nodes[k];

		snprintf(line, sizeof(line), "node %s %s:%d %s %s %s %d\n", nd->id, nd->ip[0] ? nd->ip : "-", nd->port,
			 nd->flags & NODE_MASTER ? "master" : "replica", nd->master_id[0] ? nd->master_id : "-",
			 node_state(nd->flags), nd->nslots);
		child_write(line);
	}
	for (size_t k = 0; k < t->nnodes; k++) {
		const struct cluster_node *nd = &t->nodes[k];
		size_t len = 0;

		for (size_t i = 0; i < nd->nranges; i++) {
			if (len == 0)
				len = (size_t)snprintf(line, sizeof(line), "slots %s", nd->id);
			if (nd->ranges[i].start == nd->ranges[i].end)
				len += (size_t)snprintf(line + len, sizeof(line) - len, " %d", nd->ranges[i].start);
			else
				len += (size_t)snprintf(line + len, sizeof(line) - len, " %d-%d", nd->ranges[i].start,
							nd->ranges[i].end);
			if (len > sizeof(line) - 64 || i + 1 == nd->nranges) {
				line[len++] = '\n';
				line[len] = 0;
				child_write(line);
				len = 0;
			}
		}
	}
	for (size_t i = 0; i < snap->nviews && keys >= 0; i++) {
		const struct node_view *v = &snap->views[i];

		if (!v->reachable || !v->topo || v->topo->myself < 0 ||
		    !(v->topo->nodes[v->topo->myself].flags & NODE_MASTER))
			continue;
		keys = v->dbsize >= 0 ? keys + v->dbsize : -1;
	}
	if (keys >= 0) {
		snprintf(line, sizeof(line), "keys %lld\n", keys);
		child_write(line);
	}
	child_write("map end\n");
}

static const struct member_list *child_members;
static const char *child_password;

/* A snapshot of the members with its reference view in *ref; NULL when none
 * answered usefully. Caller frees with cluster_snapshot_free. */
static struct cluster_snapshot *child_gather(const struct member_list *m, const char *password, int timeout_ms,
					     int *ref)
{
	struct hostport *addrs = calloc(m->n ? m->n : 1, sizeof(*addrs));
	struct cluster_snapshot *snap = NULL;
	struct cluster_gather_opts go = {password, timeout_ms, 0};
	char err[256];

	if (!addrs)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		addrs[i] = m->v[i].addr;
	if (cluster_gather(addrs, m->n, &go, &snap, err, sizeof(err)) < 0 ||
	    (*ref = cluster_pick_ref(snap, snap->nviews, 0)) < 0 || !snap->views[*ref].topo) {
		cluster_snapshot_free(snap);
		snap = NULL;
	}
	free(addrs);
	return snap;
}

/* Read the cluster now and emit its map. */
static void child_map_now(void)
{
	int ref;
	struct cluster_snapshot *snap = child_gather(child_members, child_password, 1000, &ref);

	if (snap)
		child_emit_map(snap, ref);
	cluster_snapshot_free(snap);
}

static void child_progress(const struct migrator_progress *p, void *arg)
{
	char line[256];

	(void)arg;
	snprintf(line, sizeof(line), "progress %zu %zu %llu %s\n", p->slots_done, p->slots_total,
		 (unsigned long long)p->keys_moved, p->phase && *p->phase ? p->phase : "migrating");
	child_write(line);
	/* The dashboard shows owners change as slots move: a fresh map with
	 * every progress report (once a second). */
	child_map_now();
}

/* One line: newlines in a message would break the protocol. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

static void child_shape(const struct member_list *m, const char *password, int *masters, int *replicas, int *slots)
{
	int ref;
	struct cluster_snapshot *snap = child_gather(m, password, 2000, &ref);

	*masters = *replicas = *slots = -1;
	if (snap) {
		const struct topology *t = snap->views[ref].topo;
		*masters = topology_masters_with_slots(t);
		*replicas = 0;
		for (size_t k = 0; k < t->nnodes; k++)
			if (t->nodes[k].master_id[0] &&
			    !(t->nodes[k].flags & (NODE_FAIL | NODE_HANDSHAKE | NODE_NOADDR)))
				(*replicas)++;
		*slots = snap->views[ref].info.slots_assigned;
		child_emit_map(snap, ref);
	}
	cluster_snapshot_free(snap);
}

static void child_main(const struct member_list *m, const struct engine_opts *o)
{
	struct reconcile_opts ro;
	enum reconcile_result r;
	char msg[1024], line[1200];
	int masters, replicas, slots;

	child_members = m;
	child_password = o->password;
	reconcile_opts_init(&ro);
	ro.password = o->password;
	ro.replicas = o->replicas;
	ro.reassign_lost_slots = o->reassign_lost_slots;
	ro.migrate.progress = child_progress;
	ro.migrate.progress_interval_ms = 500; /* progress and a slot map twice a second */
	r = reconcile_until_done(m, &ro, o->deadline_ms, msg, sizeof(msg));
	one_line(msg);
	child_shape(m, o->password, &masters, &replicas, &slots);
	snprintf(line, sizeof(line), "result %d %d %d %d %s\n", (int)r, masters, replicas, slots, msg);
	child_write(line);
}

/* ---- the parent ---- */

static void engine_reap(struct engine_run *r, int kill_first)
{
	if (r->fd >= 0) {
		evloop_del_file(r->loop, r->fd, EV_READABLE);
		close(r->fd);
		r->fd = -1;
	}
	if (r->pid > 0) {
		if (kill_first)
			kill(r->pid, SIGKILL);
		while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
			;
		r->pid = 0;
	}
}

static void engine_finish(struct engine_run *r)
{
	struct engine_report rep;

	engine_reap(r, 0);
	if (r->have_result) {
		rep = r->report;
	} else {
		memset(&rep, 0, sizeof(rep));
		rep.result = RECONCILE_ERROR;
		rep.masters = rep.replicas = rep.slots = -1;
		strlcpy_a(rep.msg, "the engine process ended without a result", sizeof(rep.msg));
	}
	if (r->o.on_done)
		r->o.on_done(&rep, r->o.arg);
	engine_map_free(r->pending);
	free(r);
}

static void engine_readable(struct evloop *loop, int fd, int mask, void *arg)
{
	struct engine_run *r = arg;
	ssize_t n;
	char *nl;

	(void)loop;
	(void)mask;
	n = read(fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		engine_finish(r);
		return;
	}
	r->len += (size_t)n;
	r->buf[r->len] = 0;
	while ((nl = strchr(r->buf, '\n'))) {
		struct engine_progress p;
		*nl = 0;
		switch (engine_parse_line(r->buf, &p, &r->report)) {
		case 1:
			if (r->o.on_progress)
				r->o.on_progress(&p, r->o.arg);
			break;
		case 2:
			r->have_result = 1;
			break;
		default:
			if (!strncmp(r->buf, "map ", 4) || !strncmp(r->buf, "node ", 5) ||
			    !strncmp(r->buf, "slots ", 6) || !strncmp(r->buf, "keys ", 5)) {
				if (engine_map_line(r->buf, &r->pending) == 1) {
					struct engine_map *m = r->pending;

					r->pending = NULL;
					m->at_ms = now_ms();
					if (r->o.on_map)
						r->o.on_map(m, r->o.arg);
					else
						engine_map_free(m);
				}
			}
			break;
		}
		r->len -= (size_t)(nl + 1 - r->buf);
		memmove(r->buf, nl + 1, r->len + 1);
	}
	if (r->len == sizeof(r->buf) - 1) /* a line over the cap: drop it */
		r->len = 0;
}

struct engine_run *engine_start(struct evloop *loop, const struct member_list *members, const struct engine_opts *o,
				char *err, size_t errlen)
{
	struct engine_run *r = calloc(1, sizeof(*r));
	int fds[2] = {-1, -1};
	pid_t parent = getpid();

	if (!r) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	r->loop = loop;
	r->o = *o;
	r->fd = -1;
	if (pipe(fds) < 0) {
		seterr(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	fflush(NULL);
	r->pid = fork();
	if (r->pid < 0) {
		seterr(err, errlen, "fork: %s", strerror(errno));
		goto fail;
	}
	if (r->pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		close(fds[0]);
		child_fd = fds[1];
		free(r); /* the parent's bookkeeping; the child reports through child_fd */
		child_main(members, o);
		_exit(0);
	}
	close(fds[1]);
	fds[1] = -1;
	r->fd = fds[0];
	fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) | O_NONBLOCK);
	if (evloop_add_file(loop, r->fd, EV_READABLE, engine_readable, r) < 0) {
		seterr(err, errlen, "cannot watch the engine's pipe");
		engine_reap(r, 1);
		fds[0] = -1;
		goto fail;
	}
	return r;
fail:
	if (fds[0] >= 0 && (!r || r->fd != fds[0]))
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	free(r);
	return NULL;
}

pid_t engine_pid(const struct engine_run *r)
{
	return r ? r->pid : 0;
}

void engine_kill(struct engine_run *r)
{
	if (!r)
		return;
	engine_reap(r, 1);
	engine_map_free(r->pending);
	free(r);
}
