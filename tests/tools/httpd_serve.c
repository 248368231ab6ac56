/* Test server for tests/integration/test_httpd.sh: platform/http/httpd on an
 * event loop that also runs a 10 ms timer, so a test can see that slow or
 * hostile clients never stall the loop.
 *
 *   httpd_serve ADDR [MAX_CLIENTS]
 *
 * prints "PORT n" once listening; WebSocket clients on /ws get {"ticks":N}
 * every 100 ms; serves /ticks (timer ticks so far), /big
 * (4 MiB of 'x', for a client that never reads), /status/N (status N) and
 * 404 elsewhere; exits on SIGTERM/SIGINT, freeing everything (valgrind). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "evloop.h"
#include "http/httpd.h"

static long ticks;

/* Every 10 ms a tick; every 10th publishes {"ticks":N} to WebSocket clients. */
static int64_t on_tick(struct evloop *loop, int64_t id, void *arg)
{
	struct httpd *d = *(struct httpd **)arg;

	(void)loop;
	(void)id;
	if (++ticks % 10 == 0 && d) {
		char msg[64];
		int n = snprintf(msg, sizeof(msg), "{\"ticks\":%ld}", ticks);

		httpd_ws_publish(d, msg, (size_t)n);
	}
	return 10;
}

static void on_signal(struct evloop *loop, int fd, int mask, void *arg)
{
	struct signalfd_siginfo si;

	(void)mask;
	(void)arg;
	if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		evloop_stop(loop);
}

static void handler(const char *path, struct httpd_response *res, void *arg)
{
	struct textbuf b = {0};

	(void)arg;
	if (strcmp(path, "/ticks") == 0) {
		tb_printf(&b, "%ld\n", ticks);
	} else if (strcmp(path, "/big") == 0) {
		size_t n = 4u << 20;

		res->body = malloc(n);
		if (res->body) {
			memset(res->body, 'x', n);
			res->len = n;
		}
		res->content_type = "application/octet-stream";
		return;
	} else if (strncmp(path, "/status/", 8) == 0) {
		res->status = atoi(path + 8);
		tb_printf(&b, "status %d\n", res->status);
	} else {
		res->status = 404;
		tb_printf(&b, "not found\n");
	}
	tb_respond(&b, res, "text/plain; charset=utf-8");
}

int main(int argc, char **argv)
{
	struct evloop *loop;
	struct httpd *d = NULL;
	struct httpd_opts o = {0};
	char err[256];
	sigset_t mask;
	int sfd;

	if (argc < 2) {
		fprintf(stderr, "usage: httpd_serve ADDR [MAX_CLIENTS]\n");
		return 2;
	}
	o.addr = argv[1];
	o.max_clients = argc > 2 ? atoi(argv[2]) : 0;
	o.timeout_s = 5;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	loop = evloop_new();
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (!loop || sfd < 0 || evloop_add_file(loop, sfd, EV_READABLE, on_signal, NULL) < 0 ||
	    evloop_add_timer(loop, 10, on_tick, &d) < 0)
		return 1;
	d = httpd_new(loop, &o, handler, NULL, err, sizeof(err));
	if (!d) {
		fprintf(stderr, "httpd_serve: %s\n", err);
		evloop_free(loop);
		close(sfd);
		return 1;
	}
	httpd_ws_enable(d, "/ws");
	printf("PORT %d\n", httpd_port(d));
	fflush(stdout);
	evloop_run(loop);
	httpd_free(d);
	evloop_free(loop);
	close(sfd);
	return 0;
}
