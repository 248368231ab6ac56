/* Asynchronous HTTP(S) client on the process's event loop (lib/evloop.h).
 *
 * HTTP/1.1 over plain sockets or OpenSSL, one connection per request
 * ("Connection: close"); non-blocking sockets are evloop file events, the
 * deadlines one evloop timer per request; host names are resolved with
 * getaddrinfo_a (glibc's resolver threads), so the loop never blocks. No
 * proxy support: HTTP(S)_PROXY variables are not read.
 *
 * One http_client per loop; any number of requests in flight. A request ends
 * in exactly one call of its on_done callback, unless it is cancelled first
 * (then never). Two modes:
 *
 *   - buffered (on_line == NULL): the response body is collected, at most
 *     max_body bytes (more is an HTTP_ERR_TOO_LARGE error), and handed to
 *     on_done.
 *   - streaming (on_line != NULL): while the status is 2xx, the body is cut
 *     into lines ('\n', a trailing '\r' is dropped, empty lines skipped) and
 *     each complete line goes to on_line (newline-delimited JSON, as in
 *     Kubernetes watches). A line longer than max_line ends the request with
 *     HTTP_ERR_LINE_TOO_LONG. A non-2xx response is buffered as in buffered
 *     mode instead, so the caller can read the server's error document in
 *     on_done.
 *
 * Callbacks run from the event loop. Inside any callback it is safe to start
 * new requests and to cancel any request, including the one being delivered
 * (cancelling it from its own on_done is a no-op). http_client_free must not
 * be called from a callback.
 *
 * Secrets: the bearer token lives in the request buffer, wiped once sent and
 * when the request ends; TLS key material goes into OpenSSL's context only.
 * Neither appears in error messages. Error strings name the method and URL;
 * keep secrets out of URLs. SIGPIPE is set to ignored if it was at its
 * default (SSL_write uses write(2)).
 *
 * Example:
 *
 *	static void done(struct http_request *r, const struct http_result *res, void *arg)
 *	{
 *		if (res->error)
 *			log_warnx("flux: %s", res->errmsg);
 *		else if (res->status == 200)
 *			parse(res->body, res->body_len);
 *	}
 *	struct http_request_opts o = { .method = "GET", .url = url,
 *		.timeout_ms = 10000, .max_body = 1 << 20, .on_done = done, .arg = me };
 *	if (!http_request_start(client, &o, err, sizeof(err)))
 *		...
 */
#ifndef AUTOSHARD_HTTP_CLIENT_H
#define AUTOSHARD_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"

struct http_client;
struct http_request;

enum http_error {
	HTTP_OK = 0,            /* a response arrived; look at status */
	HTTP_ERR_CONNECT,       /* could not connect (refused, unreachable, DNS) */
	HTTP_ERR_TIMEOUT,       /* timeout_ms, connect_timeout_ms or stall_timeout_s hit */
	HTTP_ERR_TOO_LARGE,     /* body longer than max_body */
	HTTP_ERR_LINE_TOO_LONG, /* streaming: a line longer than max_line */
	HTTP_ERR_TLS,           /* certificate, key or handshake problem */
	HTTP_ERR_OTHER,         /* anything else (reset connection, protocol error, ...) */
};

/* TLS material. Every field is optional; pointers are borrowed for the
 * duration of http_request_start only (OpenSSL keeps its own copies).
 * A *_pem field wins over the matching *_file field. */
struct http_tls {
	const char *ca_file; /* PEM bundle to verify the server with */
	const char *ca_pem;  /* the same, in memory */
	size_t ca_pem_len;
	const char *cert_file; /* client certificate (PEM) */
	const char *cert_pem;
	size_t cert_pem_len;
	const char *key_file; /* client private key (PEM) */
	const char *key_pem;
	size_t key_pem_len;
	int insecure_skip_verify; /* do not verify the server (tests only) */
};

/* What on_done gets. Everything is borrowed and valid only during the call. */
struct http_result {
	enum http_error error;
	long status;      /* HTTP status, 0 when no response arrived */
	const char *body; /* buffered body, NUL-terminated (not including the NUL in
			     * body_len); "" in streaming mode for a 2xx response */
	size_t body_len;
	const char *errmsg; /* "" when error == HTTP_OK; otherwise one line naming
			     * method and URL, e.g. "GET https://h/x: timed out after 2000 ms" */
};

typedef void http_done_cb(struct http_request *req, const struct http_result *res, void *arg);
/* A complete line without its '\n' (not NUL-terminated; len > 0). */
typedef void http_line_cb(struct http_request *req, const char *line, size_t len, void *arg);

struct http_request_opts {
	const char *method;         /* "GET" when NULL */
	const char *url;            /* required: http:// or https:// */
	const char *const *headers; /* NULL-terminated "Name: value" list, may be NULL */
	const char *bearer_token;   /* sent as "Authorization: Bearer ..."; may be NULL */
	const char *body;           /* request body (copied), may be NULL */
	size_t body_len;
	const char *content_type;   /* Content-Type of body; may be NULL */
	int64_t timeout_ms;         /* whole request; 0 = none (streams) */
	int64_t connect_timeout_ms; /* 0 = 300 s (connect and TLS handshake) */
	int stall_timeout_s;        /* fail when less than 1 byte arrives for this
				       * many seconds; 0 = off */
	size_t max_body;            /* cap on a buffered body; required (> 0) */
	size_t max_line;            /* streaming: cap on one line; required with on_line */
	const struct http_tls *tls; /* may be NULL: system CA store */
	http_line_cb *on_line;      /* NULL: buffered mode */
	http_done_cb *on_done;      /* required */
	void *arg;                  /* passed to both callbacks */
};

/* A client on loop (borrowed; must outlive the client).
 * Caller frees with http_client_free. NULL with err on failure. */
struct http_client *http_client_new(struct evloop *loop, char *err, size_t errlen);
/* Cancels every request in flight (no callbacks) and frees. Accepts NULL.
 * Not from inside a callback of this client. */
void http_client_free(struct http_client *c);

/* Start a request. The returned handle is owned by the client: it stays valid
 * until on_done returns or http_request_cancel is called, whichever is first.
 * NULL with err on a bad option or allocation failure (on_done is not called). */
struct http_request *http_request_start(struct http_client *c, const struct http_request_opts *o, char *err,
					size_t errlen);
/* Abort and free a request; its callbacks are not called any more. NULL is ok. */
void http_request_cancel(struct http_request *req);

/* Number of requests in flight (tests, shutdown). */
int http_client_active(const struct http_client *c);

/* ---- the line splitter used by streaming mode (pure, no I/O) ----
 * Feed it bytes in any chunking; it calls cb once per complete line ('\n'
 * removed, a trailing '\r' removed, empty lines skipped). Lines longer than
 * max_line bytes (without the '\n') are an error. */
struct http_lines {
	char *buf; /* the partial last line, owned */
	size_t len, cap, max_line;
};
/* Return non-zero to stop feeding (http_lines_feed then returns 1). */
typedef int http_lines_cb(const char *line, size_t len, void *arg);

void http_lines_init(struct http_lines *l, size_t max_line);
/* 0 fed, 1 stopped by cb, -1 a line exceeded max_line (errno EMSGSIZE) or
 * out of memory (ENOMEM). After -1 the splitter must not be fed again. */
int http_lines_feed(struct http_lines *l, const char *p, size_t n, http_lines_cb *cb, void *arg);
/* End of input: a non-empty unterminated last line is delivered. 0 or 1 as above. */
int http_lines_finish(struct http_lines *l, http_lines_cb *cb, void *arg);
/* Frees the buffer; l can be initialised again. */
void http_lines_free(struct http_lines *l);

#endif
