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

static void child_progress(const struct migrator_progress *p, void *arg)
{
	char line[256];

	(void)arg;
	snprintf(line, sizeof(line), "progress %zu %zu %llu %s\n", p->slots_done, p->slots_total,
		 (unsigned long long)p->keys_moved, p->phase && *p->phase ? p->phase : "migrating");
	child_write(line);
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
	struct hostport *addrs = calloc(m->n ? m->n : 1, sizeof(*addrs));
	struct cluster_snapshot *snap = NULL;
	struct cluster_gather_opts go = {password, 2000, 0};
	char err[256];
	int ref;

	*masters = *replicas = *slots = -1;
	if (!addrs)
		return;
	for (size_t i = 0; i < m->n; i++)
		addrs[i] = m->v[i].addr;
	if (cluster_gather(addrs, m->n, &go, &snap, err, sizeof(err)) == 0 &&
	    (ref = cluster_pick_ref(snap, snap->nviews, 0)) >= 0 && snap->views[ref].topo) {
		const struct topology *t = snap->views[ref].topo;
		*masters = topology_masters_with_slots(t);
		*replicas = 0;
		for (size_t k = 0; k < t->nnodes; k++)
			if (t->nodes[k].master_id[0] &&
			    !(t->nodes[k].flags & (NODE_FAIL | NODE_HANDSHAKE | NODE_NOADDR)))
				(*replicas)++;
		*slots = snap->views[ref].info.slots_assigned;
	}
	cluster_snapshot_free(snap);
	free(addrs);
}

static void child_main(const struct member_list *m, const struct engine_opts *o)
{
	struct reconcile_opts ro;
	enum reconcile_result r;
	char msg[1024], line[1200];
	int masters, replicas, slots;

	reconcile_opts_init(&ro);
	ro.password = o->password;
	ro.replicas = o->replicas;
	ro.reassign_lost_slots = o->reassign_lost_slots;
	ro.migrate.progress = child_progress;
	ro.migrate.progress_interval_ms = 1000;
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
	free(r);
}
