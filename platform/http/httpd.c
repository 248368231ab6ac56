/* HTTP server on libwebsockets on a libuv loop embedded in our event loop:
 * see httpd.h. */
#include "httpd.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "util.h"

#define CHUNK 16384 /* body bytes per writable callback */

struct httpd {
	struct evloop *loop;
	uv_loop_t uv;
	int uv_inited;
	int uv_fd;
	int64_t timer; /* our timer for libuv's next timeout, 0 none */
	struct lws_context *ctx;
	struct lws_protocols protocols[2];
	httpd_handler *handler;
	void *arg;
	int max_clients;
	int nwsi, base_wsi; /* live lws connections; those that are not clients */
	int port;
	/* WebSocket: the latest published message (LWS_PRE bytes of headroom
	 * first) and its generation; each client is sent the newest one it has
	 * not seen, so a slow client skips updates instead of queueing them. */
	const char *ws_path;
	unsigned char *ws_msg;
	size_t ws_len;
	unsigned long ws_gen;
	int ws_clients;
};

struct pss {
	char *body;
	size_t len, sent;
	int head;
	int ws;                /* a WebSocket client */
	unsigned long ws_sent; /* generation it has */
};

static void pump(struct httpd *d);

/* libuv's next timeout as one of our timers. */
static int64_t on_uv_timer(struct evloop *loop, int64_t id, void *arg)
{
	struct httpd *d = arg;

	(void)loop;
	(void)id;
	d->timer = 0;
	pump(d);
	return 0;
}

static void on_uv_fd(struct evloop *loop, int fd, int mask, void *arg)
{
	(void)loop;
	(void)fd;
	(void)mask;
	pump(arg);
}

/* Run what libuv has ready, then wait for its fd or its next timeout. */
static void pump(struct httpd *d)
{
	int t;

	uv_run(&d->uv, UV_RUN_NOWAIT);
	t = uv_backend_timeout(&d->uv);
	if (d->timer) {
		evloop_del_timer(d->loop, d->timer);
		d->timer = 0;
	}
	if (t < 0)
		return;
	d->timer = evloop_add_timer(d->loop, t, on_uv_timer, d);
	if (d->timer < 0) {
		d->timer = 0;
		log_warnx("http: cannot schedule a timer (out of memory)");
	}
}

static int header_and_go(struct lws *wsi, struct pss *p, int status, const char *ctype, int allow)
{
	unsigned char buf[LWS_PRE + 1024], *start = &buf[LWS_PRE], *q = start, *end = &buf[sizeof(buf) - 1];

	if (lws_add_http_common_headers(wsi, (unsigned int)status, ctype, (lws_filepos_t)p->len, &q, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:", (const unsigned char *)"no-store",
					8, &q, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
					(const unsigned char *)"nosniff", 7, &q, end) ||
	    (allow && lws_add_http_header_by_name(
			      wsi, (const unsigned char *)"allow:", (const unsigned char *)"GET, HEAD", 9, &q, end)) ||
	    lws_finalize_write_http_header(wsi, start, &q, end))
		return -1;
	if (p->head || p->len == 0) {
		free(p->body);
		p->body = NULL;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	lws_callback_on_writable(wsi);
	return 0;
}

static int set_text(struct pss *p, const char *text)
{
	free(p->body);
	p->sent = 0;
	p->len = strlen(text);
	p->body = strdup(text);
	return p->body ? 0 : -1;
}

static int on_request(struct httpd *d, struct lws *wsi, struct pss *p, const char *path)
{
	struct httpd_response res = {200, NULL, NULL, 0};
	int get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;

	p->head = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
	if (!get && !p->head) {
		if (set_text(p, "method not allowed: GET or HEAD only\n") < 0)
			return -1;
		return header_and_go(wsi, p, 405, "text/plain; charset=utf-8", 1);
	}
	d->handler(path, &res, d->arg);
	free(p->body);
	p->body = res.body;
	p->len = res.body ? res.len : 0;
	p->sent = 0;
	return header_and_go(wsi, p, res.status ? res.status : 200,
			     res.content_type ? res.content_type : "text/plain; charset=utf-8", 0);
}

static int on_writable(struct lws *wsi, struct pss *p)
{
	unsigned char buf[LWS_PRE + CHUNK];
	size_t n = p->len - p->sent;
	int final;

	if (!p->body)
		return 0;
	if (n > CHUNK)
		n = CHUNK;
	final = p->sent + n == p->len;
	memcpy(buf + LWS_PRE, p->body + p->sent, n);
	if (lws_write(wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
		return -1;
	p->sent += n;
	if (!final) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	free(p->body);
	p->body = NULL;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct httpd *d = lws_context_user(lws_get_context(wsi));
	struct pss *p = user;

	switch (reason) {
	case LWS_CALLBACK_WSI_CREATE:
		if (d)
			d->nwsi++;
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (d)
			d->nwsi--;
		break;
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* The new connection has no wsi yet: nwsi counts the others. */
		if (d && d->nwsi - d->base_wsi >= d->max_clients) {
			log_debug("http: %d connections open: refusing one more", d->nwsi - d->base_wsi);
			return 1;
		}
		break;
	case LWS_CALLBACK_HTTP: {
		char path[512];

		if (!p)
			return -1;
		snprintf(path, sizeof(path), "%.*s", (int)(len < sizeof(path) ? len : sizeof(path) - 1),
			 in ? (const char *)in : "");
		return on_request(d, wsi, p, path);
	}
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
		char uri[128];

		/* A WebSocket upgrade: only on the configured path. */
		if (!d || !d->ws_path || lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
		    strcmp(uri, d->ws_path) != 0)
			return 1;
		break;
	}
	case LWS_CALLBACK_ESTABLISHED:
		if (p) {
			p->ws = 1;
			p->ws_sent = 0;
			d->ws_clients++;
			if (d->ws_msg)
				lws_callback_on_writable(wsi);
		}
		break;
	case LWS_CALLBACK_CLOSED:
		if (p && p->ws) {
			p->ws = 0;
			d->ws_clients--;
		}
		break;
	case LWS_CALLBACK_RECEIVE:
		/* Clients only listen; what they send is ignored. */
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE: {
		unsigned char *copy;

		if (!p || !p->ws || !d->ws_msg || p->ws_sent == d->ws_gen)
			break;
		/* lws_write may scribble on the LWS_PRE headroom: a private copy. */
		if (!(copy = malloc(LWS_PRE + d->ws_len)))
			return -1;
		memcpy(copy + LWS_PRE, d->ws_msg + LWS_PRE, d->ws_len);
		if (lws_write(wsi, copy + LWS_PRE, d->ws_len, LWS_WRITE_TEXT) < (int)d->ws_len) {
			free(copy);
			return -1;
		}
		free(copy);
		p->ws_sent = d->ws_gen;
		break;
	}
	case LWS_CALLBACK_HTTP_BODY:
		/* GET and HEAD carry no body; anything else was refused. */
		return -1;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return p ? on_writable(wsi, p) : -1;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (p) {
			free(p->body);
			p->body = NULL;
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void lws_log(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warnx("http: %.*s", (int)n, line);
	else
		log_debug("http: %.*s", (int)n, line);
}

int httpd_parse_addr(const char *addr, char *host, size_t hostlen, int *port, char *err, size_t errlen)
{
	const char *colon, *h = addr;
	size_t hl;
	char *end;
	long v;

	if (!addr || !*addr)
		return seterr(err, errlen, "empty listen address (want HOST:PORT or :PORT)");
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (!rb || rb[1] != ':')
			return seterr(err, errlen, "listen address '%.80s': want [V6ADDR]:PORT", addr);
		h = addr + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return seterr(err, errlen, "listen address '%.80s': want HOST:PORT or :PORT", addr);
		hl = (size_t)(colon - addr);
		if (memchr(addr, ':', hl))
			return seterr(err, errlen, "listen address '%.80s': an IPv6 address goes in brackets", addr);
	}
	if (hl >= hostlen)
		return seterr(err, errlen, "listen address '%.80s': host too long", addr);
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || v < 0 || v > 65535)
		return seterr(err, errlen, "listen address '%.80s': port must be 0-65535", addr);
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)v;
	return 0;
}

struct httpd *httpd_new(struct evloop *loop, const struct httpd_opts *o, httpd_handler *h, void *arg, char *err,
			size_t errlen)
{
	struct lws_context_creation_info info;
	struct httpd *d;
	char host[256];
	void *foreign[1];
	int port;

	if (httpd_parse_addr(o->addr, host, sizeof(host), &port, err, errlen) < 0)
		return NULL;
	if (!(d = calloc(1, sizeof(*d)))) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	d->loop = loop;
	d->handler = h;
	d->arg = arg;
	d->max_clients = o->max_clients > 0 ? o->max_clients : 64;
	d->uv_fd = -1;
	if (uv_loop_init(&d->uv) != 0) {
		seterr(err, errlen, "http: cannot start the libuv loop");
		free(d);
		return NULL;
	}
	d->uv_inited = 1;
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);

	d->protocols[0].name = "http";
	d->protocols[0].callback = callback;
	d->protocols[0].per_session_data_size = sizeof(struct pss);
	memset(&info, 0, sizeof(info));
	info.port = port ? port : CONTEXT_PORT_NO_LISTEN_SERVER;
	info.iface = host[0] ? host : NULL;
	info.protocols = d->protocols;
	info.user = d;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	foreign[0] = &d->uv;
	info.foreign_loops = foreign;
	info.max_http_header_data = (unsigned short)(o->max_header_bytes > 0 && o->max_header_bytes < 65535
							     ? o->max_header_bytes
							     : 4096);
	info.max_http_header_pool = 16;
	info.timeout_secs = (unsigned int)(o->timeout_s > 0 ? o->timeout_s : 10);
	info.keepalive_timeout = info.timeout_secs;
	info.fd_limit_per_thread = (unsigned int)d->max_clients + 32;
	info.count_threads = 1;
	info.pcontext = &d->ctx; /* lws clears it when the context is wholly gone */
	d->ctx = lws_create_context(&info);
	if (!d->ctx) {
		seterr(err, errlen, "http: cannot create the libwebsockets context");
		goto fail;
	}
	info.port = port;
	info.vhost_name = "default";
	/* An IPv4 address to bind to: on an IPv6 socket lws would bind to every
	 * address instead. */
	if (host[0] && !strchr(host, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (!lws_create_vhost(d->ctx, &info)) {
		seterr(err, errlen, "http: cannot listen on %s: %s", o->addr,
		       errno ? strerror(errno) : "address in use or not local");
		goto fail;
	}
	{
		struct lws_vhost *vh = lws_get_vhost_by_name(d->ctx, "default");

		d->port = vh ? lws_get_vhost_listen_port(vh) : port;
	}
	d->base_wsi = d->nwsi;
	d->uv_fd = uv_backend_fd(&d->uv);
	if (d->uv_fd < 0 || evloop_add_file(loop, d->uv_fd, EV_READABLE, on_uv_fd, d) < 0) {
		seterr(err, errlen, "http: cannot watch the libuv loop");
		d->uv_fd = -1;
		goto fail;
	}
	pump(d);
	return d;
fail:
	httpd_free(d);
	return NULL;
}

void httpd_ws_enable(struct httpd *d, const char *path)
{
	d->ws_path = path;
}

int httpd_ws_publish(struct httpd *d, const char *text, size_t len)
{
	unsigned char *m = malloc(LWS_PRE + len);

	if (!m)
		return -1;
	memcpy(m + LWS_PRE, text, len);
	free(d->ws_msg);
	d->ws_msg = m;
	d->ws_len = len;
	d->ws_gen++;
	if (d->ws_clients > 0 && d->ctx) {
		lws_callback_on_writable_all_protocol(d->ctx, &d->protocols[0]);
		pump(d);
	}
	return 0;
}

int httpd_ws_clients(const struct httpd *d)
{
	return d->ws_clients;
}

int httpd_port(const struct httpd *d)
{
	return d->port;
}

int httpd_clients(const struct httpd *d)
{
	return d->nwsi - d->base_wsi;
}

void httpd_free(struct httpd *d)
{
	if (!d)
		return;
	if (d->timer)
		evloop_del_timer(d->loop, d->timer);
	if (d->uv_fd >= 0)
		evloop_del_file(d->loop, d->uv_fd, EV_READABLE);
	if (d->ctx) {
		struct lws_context *ctx = d->ctx;

		/* On a foreign loop the first destroy closes lws's libuv handles
		 * (their callbacks run in the loop); a later call, once they are
		 * closed, frees the rest. lws clears d->ctx when done. */
		for (int round = 0; round < 4 && d->ctx; round++) {
			lws_context_destroy(ctx);
			for (int i = 0; i < 100 && d->ctx && uv_loop_alive(&d->uv); i++)
				uv_run(&d->uv, UV_RUN_NOWAIT);
		}
		if (d->ctx) {
			log_debug("http: the libwebsockets context did not finish closing");
			d->ctx = NULL;
		}
	}
	if (d->uv_inited) {
		for (int i = 0; i < 100 && uv_loop_alive(&d->uv); i++)
			uv_run(&d->uv, UV_RUN_NOWAIT);
		if (uv_loop_close(&d->uv) != 0)
			log_debug("http: libuv loop still had handles at exit");
	}
	free(d->ws_msg);
	free(d);
}

void tb_printf(struct textbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap ? b->cap * 2 : 1024;
			char *q;

			while (cap < b->len + (size_t)n + 1)
				cap *= 2;
			if (!(q = realloc(b->p, cap))) {
				b->oom = 1;
				return;
			}
			b->p = q;
			b->cap = cap;
		}
	}
}

void tb_respond(struct textbuf *b, struct httpd_response *res, const char *content_type)
{
	if (b->oom) {
		free(b->p);
		b->p = NULL;
		b->len = b->cap = 0;
		res->status = 500;
		res->body = strdup("out of memory\n");
		res->len = res->body ? strlen(res->body) : 0;
		return;
	}
	if (!res->status)
		res->status = 200;
	res->content_type = content_type;
	res->body = b->p;
	res->len = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
}
