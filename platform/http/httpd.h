/* A small HTTP server for probes, metrics and the JSON API, on libwebsockets,
 * on the process's one event loop.
 *
 * Debian's libwebsockets 4.1 has no external-poll build, so lws runs on a
 * libuv loop (its foreign-loop support) and that libuv loop is embedded in
 * ours: its backend (an epoll fd) is watched for readability and its next
 * timeout is one of our timers; either runs uv_run(UV_RUN_NOWAIT). Nothing
 * blocks: a slow or silent client costs a file descriptor until the idle
 * timeout, never a reconcile pass.
 *
 * Limits: at most max_clients connections (more are closed at accept), at
 * most max_header_bytes of request headers (more: 431 by lws), GET and HEAD
 * only (405 otherwise), an idle connection is dropped after timeout_s.
 * WebSocket clients (httpd_ws_enable) only listen: the server publishes. */
#ifndef AUTOSHARD_HTTPD_H
#define AUTOSHARD_HTTPD_H
#include <stddef.h>

#include "evloop.h"

struct httpd;

struct httpd_response {
	int status;               /* 200 unless the handler says otherwise */
	const char *content_type; /* a static string; "text/plain; charset=utf-8" unless set */
	char *body;               /* malloc'd by the handler; the server frees it */
	size_t len;
};

/* path is the request path without the query string, e.g. "/metrics". */
typedef void httpd_handler(const char *path, struct httpd_response *res, void *arg);

struct httpd_opts {
	const char *addr;     /* "HOST:PORT", ":PORT" (every address) or "[V6]:PORT"; PORT 0 picks one */
	int max_clients;      /* default 64 */
	int max_header_bytes; /* default 4096 */
	int timeout_s;        /* idle connection timeout, default 10 */
};

/* Parse "HOST:PORT" as httpd_opts.addr takes it. host gets "" for every
 * address. Returns 0, or -1 with err set. */
int httpd_parse_addr(const char *addr, char *host, size_t hostlen, int *port, char *err, size_t errlen);

/* Listen and serve on loop. Caller frees with httpd_free. NULL with err set
 * when the address is bad or cannot be bound. */
struct httpd *httpd_new(struct evloop *loop, const struct httpd_opts *o, httpd_handler *h, void *arg, char *err,
			size_t errlen);
/* Accept WebSocket connections on path (borrowed, e.g. "/ws"); they are
 * sent every message published, newest first: a client that reads slowly
 * skips messages rather than queueing them. */
void httpd_ws_enable(struct httpd *d, const char *path);
/* Publish text to every WebSocket client (copied). -1 on allocation failure. */
int httpd_ws_publish(struct httpd *d, const char *text, size_t len);
int httpd_ws_clients(const struct httpd *d);
/* The port it listens on (useful with port 0). */
int httpd_port(const struct httpd *d);
/* Connections open now. */
int httpd_clients(const struct httpd *d);
/* Closes every connection and the listener. Accepts NULL. */
void httpd_free(struct httpd *d);

/* A growable text buffer for handlers: appends, never fails silently (an
 * allocation failure sets oom and drops the rest). */
struct textbuf {
	char *p;
	size_t len, cap;
	int oom;
};
void tb_printf(struct textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the text over to res (status 200 unless set; 500 on oom). */
void tb_respond(struct textbuf *b, struct httpd_response *res, const char *content_type);
#endif
