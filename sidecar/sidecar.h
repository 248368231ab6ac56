/* autoshard-sidecar internals: the member sources (static list or file,
 * Upsun peers.json, RunOnFlux location API), prestart, and the run loop. */
#ifndef AUTOSHARD_SIDECAR_H
#define AUTOSHARD_SIDECAR_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "evloop.h"
#include "members.h"
#include "upsun/upsun_source.h"

struct http_client;
struct flux_poller;

/* Where the instance list comes from (--source). */
struct member_source {
	struct cfg *c;
	int kind;              /* SOURCE_* in source.c */
	int port;              /* Valkey port of the members */
	int have;              /* a list was returned once */
	struct timespec mtime; /* static file */
	struct upsun_peers_watch uw;
	const char *app;          /* upsun/flux application name (borrowed) */
	struct http_client *http; /* flux */
	struct flux_poller *fp;
	struct member_list pending; /* flux: a new list not yet taken */
	int changed;
};

/* 0, or -1 with err for a bad configuration. loop is needed for flux. */
int source_open(struct member_source *s, struct cfg *c, struct evloop *loop, char *err, size_t errlen);
/* 1: *out holds a new list (caller frees), 0: unchanged, -1: failed (logged
 * once per distinct failure): keep the last good list. */
int source_poll(struct member_source *s, struct member_list *out);
void source_close(struct member_source *s);
/* Read the list once (prestart). Flux runs a private loop, bounded. */
int source_read_once(struct cfg *c, struct member_list *out, char *err, size_t errlen);
/* The local server: --node, else (Upsun) the member at one of this host's
 * addresses (or AUTOSHARD_SELF_IP). 0 or -1 with err. */
int source_self(struct cfg *c, const struct member_list *ml, struct hostport *self, char *err, size_t errlen);
const char *source_name(const struct cfg *c);

int sidecar_prestart(struct cfg *c);
int sidecar_run(struct cfg *c, pid_t server);
int sidecar_supervise(struct cfg *c);
int sidecar_wait_ready(struct cfg *c);

#endif
