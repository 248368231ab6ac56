/* Flux poller against a local fake location API (data/flux/location_server.py
 * on 127.0.0.1, a free port) whose answer changes, fails (500, timeout,
 * garbage, closed connection, too big, server gone) and recovers. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flux/flux_source.h"
#include "testlib.h"

#define APP "valkeycluster"
#define MAX_ROUNDS 4000 /* loop iterations of at most 50 ms while waiting for one event */

struct seen {
	int members_calls;
	int errors;
	int repeated;
	char err[512];
	struct member_list ml;          /* last list handed over */
	struct flux_poller **self_free; /* free the poller from on_members when set */
};

static void on_members(struct member_list *ml, void *arg)
{
	struct seen *s = arg;

	member_list_free(&s->ml);
	s->ml = *ml; /* takes ownership */
	s->members_calls++;
	if (s->self_free) {
		flux_poller_free(*s->self_free);
		*s->self_free = NULL;
	}
}

static void on_error(const char *msg, int repeated, void *arg)
{
	struct seen *s = arg;

	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "on_error (repeated %d): %s\n", repeated, msg);
	s->errors++;
	s->repeated = repeated;
	snprintf(s->err, sizeof(s->err), "%s", msg);
}

static pid_t server_pid = -1;
static int server_stdin = -1;

static int start_server(const char *ctl)
{
	int out[2], in[2];
	char line[64];
	size_t n = 0;
	int port = -1;

	if (pipe(out) < 0 || pipe(in) < 0)
		return -1;
	server_pid = fork();
	if (server_pid < 0)
		return -1;
	if (server_pid == 0) {
		dup2(out[1], 1);
		dup2(in[0], 0);
		close(out[0]);
		close(out[1]);
		close(in[0]);
		close(in[1]);
		execl("/usr/bin/python3", "python3", "data/flux/location_server.py", ctl, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(in[0]);
	server_stdin = in[1];
	while (n < sizeof(line) - 1) {
		ssize_t r = read(out[0], line + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(out[0]);
	if (sscanf(line, "PORT %d", &port) != 1)
		return -1;
	return port;
}

static void stop_server(void)
{
	int st;

	if (server_stdin >= 0)
		close(server_stdin); /* the server exits on end of stdin */
	server_stdin = -1;
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		while (waitpid(server_pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	server_pid = -1;
}

static void control(const char *ctl, const char *json)
{
	char tmp[600];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", ctl);
	f = fopen(tmp, "w");
	if (!f || fputs(json, f) < 0 || fclose(f) != 0 || rename(tmp, ctl) != 0)
		fprintf(stderr, "cannot write %s\n", ctl);
}

/* Run the loop until *counter reaches target (bounded by MAX_ROUNDS). */
static int run_until(struct evloop *loop, const int *counter, int target)
{
	for (int i = 0; i < MAX_ROUNDS && *counter < target; i++)
		evloop_run_once(loop, 50);
	return *counter >= target;
}

static int has(const struct member_list *ml, size_t i, const char *host, int port)
{
	return i < ml->n && strcmp(ml->v[i].addr.host, host) == 0 && ml->v[i].addr.port == port;
}

/* One poll now; wait until it produced members or an error. */
static int poll_once(struct evloop *loop, struct flux_poller *p, struct seen *s)
{
	unsigned long before = flux_poller_polls(p);

	CHECK(flux_poller_poll_now(p) == 0);
	for (int i = 0; i < MAX_ROUNDS && flux_poller_polls(p) == before; i++)
		evloop_run_once(loop, 50);
	(void)s;
	return flux_poller_polls(p) == before + 1;
}

int main(void)
{
	char dir[] = "/tmp/autoshard-flux-XXXXXX";
	char ctl[256], logpath[300], api[64], err[256];
	struct evloop *loop = NULL;
	struct http_client *http = NULL;
	struct flux_poller *p = NULL;
	struct flux_poller_opts o;
	struct seen s;
	int port, e0, m0;

	signal(SIGPIPE, SIG_IGN);
	memset(&s, 0, sizeof(s));
	if (!mkdtemp(dir)) {
		CHECK(0);
		return TEST_DONE();
	}
	snprintf(ctl, sizeof(ctl), "%s/control.json", dir);
	snprintf(logpath, sizeof(logpath), "%s.log", ctl);
	control(ctl, "{\"status\": 200, \"file\": \"data/flux/location_three.json\"}");
	port = start_server(ctl);
	CHECK_MSG(port > 0, "server did not start");
	if (port <= 0)
		goto out;
	snprintf(api, sizeof(api), "http://127.0.0.1:%d/", port);

	loop = evloop_new();
	http = http_client_new(loop, err, sizeof(err));
	CHECK(loop && http);
	if (!loop || !http)
		goto out;

	/* bad options */
	memset(&o, 0, sizeof(o));
	o.api = api;
	o.app = "bad_name";
	o.on_members = on_members;
	CHECK(flux_poller_new(loop, http, &o, err, sizeof(err)) == NULL && strstr(err, "bad Flux app name"));
	o.app = APP;
	o.on_members = NULL;
	CHECK(flux_poller_new(loop, http, &o, err, sizeof(err)) == NULL);
	o.on_members = on_members;
	o.api = "ftp://127.0.0.1/";
	CHECK(flux_poller_new(loop, http, &o, err, sizeof(err)) == NULL);

	/* A poller that only polls when told (interval 1 h). */
	memset(&o, 0, sizeof(o));
	o.api = api;
	o.app = APP;
	o.interval_ms = 3600 * 1000;
	o.timeout_ms = 3000; /* generous: only the "delay" answer below may hit it */
	o.on_members = on_members;
	o.on_error = on_error;
	o.arg = &s;
	p = flux_poller_new(loop, http, &o, err, sizeof(err));
	CHECK_MSG(p != NULL, "%s", err);
	if (!p)
		goto out;
	CHECK(flux_poller_members(p)->n == 0);

	/* first poll happens at once, without poll_now */
	CHECK(run_until(loop, &s.members_calls, 1));
	CHECK_MSG(s.ml.n == 3 && has(&s.ml, 0, "192.0.2.200", 6379) && has(&s.ml, 2, "203.0.113.45", 6379),
		  "n=%zu err=%s", s.ml.n, s.err);
	CHECK(flux_poller_members(p)->n == 3 && s.errors == 0);
	{
		char *log;
		size_t len;
		log = test_slurp(logpath, &len);
		CHECK(log && strcmp(log, "GET /apps/location/valkeycluster\n") == 0);
		free(log);
	}

	/* same instances, other order: no new membership */
	control(ctl, "{\"status\": 200, \"file\": \"data/flux/location_three_reordered.json\"}");
	CHECK(poll_once(loop, p, &s));
	CHECK(s.members_calls == 1 && s.errors == 0 && flux_poller_failures(p) == 0);

	/* 500: error reported, last good kept; the same again is flagged repeated */
	control(ctl, "{\"status\": 500, \"body\": \"{\\\"status\\\":\\\"error\\\"}\"}");
	CHECK(poll_once(loop, p, &s));
	CHECK_MSG(s.errors == 1 && strstr(s.err, "HTTP status 500") && strstr(s.err, "/apps/location/valkeycluster") &&
			  !s.repeated,
		  "%s", s.err);
	CHECK(flux_poller_members(p)->n == 3 && s.members_calls == 1);
	CHECK(poll_once(loop, p, &s));
	CHECK(s.errors == 2 && s.repeated && flux_poller_failures(p) == 2);

	/* garbage */
	control(ctl, "{\"status\": 200, \"file\": \"data/flux/location_html.txt\"}");
	CHECK(poll_once(loop, p, &s));
	CHECK_MSG(s.errors == 3 && strstr(s.err, "not valid JSON") && !s.repeated, "%s", s.err);

	/* a non-success status */
	control(ctl, "{\"status\": 200, \"file\": \"data/flux/location_error.json\"}");
	CHECK(poll_once(loop, p, &s));
	CHECK_MSG(s.errors == 4 && strstr(s.err, "status 'error': No Flux App name specified"), "%s", s.err);

	/* no answer in time: the request is abandoned after timeout_ms */
	control(ctl, "{\"delay\": 8, \"status\": 200, \"file\": \"data/flux/location_four.json\"}");
	CHECK(poll_once(loop, p, &s));
	CHECK_MSG(s.errors == 5 && strstr(s.err, "timed out"), "%s", s.err);
	CHECK(flux_poller_members(p)->n == 3);

	/* connection closed without an answer */
	control(ctl, "{\"close\": true}");
	CHECK(poll_once(loop, p, &s));
	CHECK_MSG(s.errors == 6 && strstr(s.err, "GET http://127.0.0.1:"), "%s", s.err);

	/* an answer over the cap */
	control(ctl, "{\"status\": 200, \"big\": 1100000}");
	CHECK(poll_once(loop, p, &s));
	CHECK_MSG(s.errors == 7 && s.members_calls == 1, "%s", s.err);
	CHECK(flux_poller_failures(p) == 7 && flux_poller_members(p)->n == 3);

	/* recovery with a fourth instance */
	control(ctl, "{\"status\": 200, \"file\": \"data/flux/location_four.json\"}");
	CHECK(poll_once(loop, p, &s));
	CHECK(s.members_calls == 2 && s.errors == 7 && flux_poller_failures(p) == 0);
	CHECK(s.ml.n == 4 && has(&s.ml, 0, "192.0.2.9", 6379) && has(&s.ml, 1, "192.0.2.200", 6379));
	CHECK(flux_poller_members(p)->n == 4);

	/* the same failure after a success is new again (not repeated) */
	control(ctl, "{\"status\": 500, \"body\": \"\"}");
	CHECK(poll_once(loop, p, &s));
	CHECK(s.errors == 8 && !s.repeated);

	flux_poller_free(p);
	p = NULL;

	/* Periodic polling on its own timer (50 ms): it keeps answering,
	 * changes are reported once each. */
	control(ctl, "{\"status\": 200, \"file\": \"data/flux/location_three.json\"}");
	memset(&o, 0, sizeof(o));
	o.api = api;
	o.app = APP;
	o.port = 7000;
	o.interval_ms = 50;
	o.timeout_ms = 5000; /* clamped to the interval */
	o.on_members = on_members;
	o.on_error = on_error;
	o.arg = &s;
	m0 = s.members_calls;
	e0 = s.errors;
	p = flux_poller_new(loop, http, &o, err, sizeof(err));
	CHECK(p != NULL);
	if (!p)
		goto out;
	/* The timeout is clamped to 50 ms here, so a slow machine (valgrind) may
	 * see some polls time out: only those errors are allowed. */
	for (int i = 0; i < MAX_ROUNDS && (flux_poller_polls(p) < 4 || s.members_calls < m0 + 1); i++)
		evloop_run_once(loop, 50);
	CHECK(flux_poller_polls(p) >= 4);
	CHECK_MSG(s.members_calls == m0 + 1, "members %d", s.members_calls - m0);
	CHECK_MSG(s.errors == e0 || strstr(s.err, "timed out"), "errors %d err %s", s.errors - e0, s.err);
	CHECK(has(&s.ml, 0, "192.0.2.200", 7000));

	/* server gone: connection errors, membership kept */
	stop_server();
	e0 = s.errors;
	/* a poll in flight when it stopped may fail otherwise first; then
	 * connection refused, twice: the second is flagged repeated */
	CHECK(run_until(loop, &s.errors, e0 + 3));
	CHECK_MSG(strstr(s.err, "GET http://127.0.0.1:") != NULL, "%s", s.err);
	CHECK(s.repeated && flux_poller_members(p)->n == 3);
	flux_poller_free(p);
	p = NULL;

	/* A poller freed from its own on_members callback. */
	port = start_server(ctl);
	CHECK(port > 0);
	if (port <= 0)
		goto out;
	snprintf(api, sizeof(api), "http://127.0.0.1:%d", port);
	memset(&o, 0, sizeof(o));
	o.api = api;
	o.app = APP;
	o.interval_ms = 50;
	o.on_members = on_members;
	o.on_error = on_error;
	o.arg = &s;
	p = flux_poller_new(loop, http, &o, err, sizeof(err));
	s.self_free = &p;
	m0 = s.members_calls;
	CHECK(run_until(loop, &s.members_calls, m0 + 1));
	CHECK(p == NULL);
	for (int i = 0; i < 5; i++)
		evloop_run_once(loop, 60);
	CHECK(s.members_calls == m0 + 1 && http_client_active(http) == 0);
	s.self_free = NULL;
out:
	flux_poller_free(p);
	http_client_free(http);
	evloop_free(loop);
	stop_server();
	member_list_free(&s.ml);
	unlink(ctl);
	unlink(logpath);
	rmdir(dir);
	return TEST_DONE();
}
