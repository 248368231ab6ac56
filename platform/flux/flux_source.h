/* RunOnFlux instance source.
 *
 * The instances of a Flux app find each other with
 *	GET <api>/apps/location/<app>
 * which answers {"status":"success","data":[{"name":"<app>","ip":"a.b.c.d[:apiport]",
 * "hash":..., "broadcastedAt":..., "expireAt":..., "runningSince":..., ...}, ...]}
 * or {"status":"error","data":{"code":...,"name":...,"message":"..."}}.
 * The ":apiport" is the Flux node's API port (16127, 16137, ... when several
 * nodes share a public IP), not ours; the order of data is not stable.
 *
 * - flux_location_parse: bytes in, member list out (no I/O).
 * - flux_poller: polls that URL on the process event loop through the async
 *   HTTP client (platform/http/http_client.h), every interval (default 30 s),
 *   keeps the last good membership when an answer fails or is malformed, and
 *   reports changes and errors to callbacks. It never blocks.
 *
 * Wiring in the sidecar (sketch):
 *	static void members(struct member_list *ml, void *arg)       // takes ownership
 *	{ member_list_free(&sc->members); sc->members = *ml; }
 *	static void failed(const char *msg, int repeated, void *arg)
 *	{ if (!repeated) log_warnx("%s; keeping the last good member list", msg); }
 *	struct flux_poller_opts o = { .api = "https://api.runonflux.io", .app = app,
 *		.on_members = members, .on_error = failed, .arg = sc };
 *	p = flux_poller_new(loop, http, &o, err, sizeof(err));
 */
#ifndef AUTOSHARD_FLUX_SOURCE_H
#define AUTOSHARD_FLUX_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"
#include "http/http_client.h"
#include "members.h"

#define FLUX_LOCATION_MAX_BYTES (1u << 20) /* cap on one answer */
#define FLUX_LOCATION_MAX_ENTRIES 4096     /* entries in data, before de-duplication */
#define FLUX_APP_NAME_MAX 63
#define FLUX_API_MAX 512 /* length of the API base URL */
#define FLUX_DEFAULT_PORT 6379
#define FLUX_DEFAULT_INTERVAL_MS 30000
#define FLUX_DEFAULT_TIMEOUT_MS 10000
#define FLUX_DEFAULT_API "https://api.runonflux.io"

/* A Flux app name: 1..63 of [A-Za-z0-9-], no hyphen first or last. 1 when valid. */
int flux_app_name_valid(const char *app);

/* Parse a location answer for `app`. status must be "success" (anything else
 * is an error naming the status and the server's message); data a non-empty
 * array of objects, each with "ip" as "a.b.c.d", "a.b.c.d:port", "v6",
 * "[v6]" or "[v6]:port" (the port is dropped), and, when present, "name" equal
 * to app (case-insensitive, as Flux matches it). The same address twice is one
 * member; members are sorted by address (IPv4 first, then by bytes), reachable
 * on `port` (0: FLUX_DEFAULT_PORT), with host label = the IP (one Flux node per
 * machine). out is always initialised; caller frees it on success.
 * 0, or -1 with a one-line message in err. */
int flux_location_parse(const char *buf, size_t len, const char *app, int port, struct member_list *out, char *err,
			size_t errlen);

/* The location URL for api and app into buf ("<api>/apps/location/<app>", a
 * trailing '/' of api dropped). 0 or -1 with err (bad scheme, too long, bad app). */
int flux_location_url(const char *api, const char *app, char *buf, size_t len, char *err, size_t errlen);

struct flux_poller;

/* A new membership (differs from the last one reported, or the first good
 * answer). Takes ownership: the callee keeps or frees *ml (member_list_free). */
typedef void flux_members_cb(struct member_list *ml, void *arg);
/* A failed poll: one line naming the URL and what was wrong. repeated is 1 when
 * the previous poll failed the same way (same transport error kind, same HTTP
 * status, or the same parse message), so the caller can log once. The poller
 * keeps its last good membership. */
typedef void flux_error_cb(const char *msg, int repeated, void *arg);

struct flux_poller_opts {
	const char *api;             /* base URL; NULL: FLUX_DEFAULT_API (copied) */
	const char *app;             /* required (copied) */
	int port;                    /* Valkey port of the members; 0: FLUX_DEFAULT_PORT */
	int64_t interval_ms;         /* between polls (start to start); 0: FLUX_DEFAULT_INTERVAL_MS */
	int64_t timeout_ms;          /* per request; 0: FLUX_DEFAULT_TIMEOUT_MS; at most interval_ms */
	int64_t first_delay_ms;      /* before the first poll; 0: at once */
	const struct http_tls *tls;  /* NULL: system CA store; borrowed, must outlive the poller */
	flux_members_cb *on_members; /* required */
	flux_error_cb *on_error;     /* may be NULL */
	void *arg;
};

/* Start polling on loop through http (both borrowed; they must outlive the
 * poller). Caller frees with flux_poller_free. NULL with err on bad options. */
struct flux_poller *flux_poller_new(struct evloop *loop, struct http_client *http, const struct flux_poller_opts *o,
				    char *err, size_t errlen);
/* Cancel the request in flight and the timer. Accepts NULL. May be called from
 * the poller's own callbacks. */
void flux_poller_free(struct flux_poller *p);
/* Poll now (and then every interval from now), unless a poll is in flight.
 * 0, or -1 when no timer could be added. */
int flux_poller_poll_now(struct flux_poller *p);
/* The last good membership (borrowed; n == 0 before the first good answer). */
const struct member_list *flux_poller_members(const struct flux_poller *p);
/* Counters, for tests and status pages. */
unsigned long flux_poller_polls(const struct flux_poller *p);    /* answers handled, good or bad */
unsigned long flux_poller_failures(const struct flux_poller *p); /* consecutive failed polls */

#endif
