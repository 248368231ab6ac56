/* Member sources: a static list or file, Upsun's /run/peers.json, the
 * RunOnFlux location API. Each keeps the last good list on a failure. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "flux/flux_source.h"
#include "http/http_client.h"
#include "log.h"
#include "sidecar.h"
#include "static/static_source.h"

enum { SOURCE_STATIC, SOURCE_UPSUN, SOURCE_FLUX };

const char *source_name(const struct cfg *c)
{
	return cfg_str(c, "source");
}

static int source_kind(const struct cfg *c)
{
	const char *k = cfg_str(c, "source");
	return !strcmp(k, "upsun") ? SOURCE_UPSUN : !strcmp(k, "flux") ? SOURCE_FLUX : SOURCE_STATIC;
}

static const char *app_name(const struct cfg *c, int kind)
{
	if (kind == SOURCE_UPSUN)
		return cfg_str(c, "upsun-app") ? cfg_str(c, "upsun-app") : getenv("PLATFORM_APPLICATION_NAME");
	return cfg_str(c, "flux-app");
}

static void flux_members(struct member_list *ml, void *arg)
{
	struct member_source *s = arg;

	member_list_free(&s->pending);
	s->pending = *ml; /* takes ownership */
	s->changed = 1;
}

static void flux_error(const char *msg, int repeated, void *arg)
{
	(void)arg;
	if (!repeated)
		log_warnx("%s; keeping the last good member list", msg);
}

int source_open(struct member_source *s, struct cfg *c, struct evloop *loop, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->c = c;
	s->kind = source_kind(c);
	s->port = (int)cfg_int(c, "port");
	switch (s->kind) {
	case SOURCE_STATIC:
		if (!cfg_str(c, "peers") && !cfg_str(c, "peers-file"))
			return seterr(err, errlen, "--peers or --peers-file is required with --source static");
		return 0;
	case SOURCE_UPSUN:
		s->app = app_name(c, s->kind);
		if (!s->app || !upsun_app_name_valid(s->app))
			return seterr(err, errlen, "--upsun-app (or PLATFORM_APPLICATION_NAME) is %s",
				      s->app ? "not a valid application name" : "required with --source upsun");
		return 0;
	case SOURCE_FLUX: {
		struct flux_poller_opts o;
		s->app = app_name(c, s->kind);
		if (!s->app || !flux_app_name_valid(s->app))
			return seterr(err, errlen, "--flux-app is %s",
				      s->app ? "not a valid application name" : "required with --source flux");
		if (!loop)
			return seterr(err, errlen, "the flux source needs an event loop");
		if (!(s->http = http_client_new(loop, err, errlen)))
			return -1;
		memset(&o, 0, sizeof(o));
		o.api = cfg_str(c, "flux-api");
		o.app = s->app;
		o.port = s->port;
		o.interval_ms = cfg_int(c, "flux-interval-ms");
		o.on_members = flux_members;
		o.on_error = flux_error;
		o.arg = s;
		if (!(s->fp = flux_poller_new(loop, s->http, &o, err, errlen))) {
			http_client_free(s->http);
			s->http = NULL;
			return -1;
		}
		return 0;
	}
	}
	return seterr(err, errlen, "unknown source");
}

void source_close(struct member_source *s)
{
	if (!s)
		return;
	flux_poller_free(s->fp);
	http_client_free(s->http);
	member_list_free(&s->pending);
	s->fp = NULL;
	s->http = NULL;
}

static int static_poll(struct member_source *s, struct member_list *out)
{
	const char *file = cfg_str(s->c, "peers-file");
	char err[512];
	struct stat st;

	if (!file) {
		if (s->have)
			return 0;
		if (static_source_parse_list(cfg_str(s->c, "peers"), s->port, out, err, sizeof(err)) < 0) {
			log_warnx("--peers: %s", err);
			return -1;
		}
		s->have = 1;
		return 1;
	}
	if (stat(file, &st) < 0) {
		if (!s->have)
			log_warn("peers file %s", file);
		return -1;
	}
	if (s->have && st.st_mtim.tv_sec == s->mtime.tv_sec && st.st_mtim.tv_nsec == s->mtime.tv_nsec)
		return 0;
	if (static_source_read_file(file, s->port, out, err, sizeof(err)) < 0) {
		log_warnx("%s; keeping the last good member list", err);
		s->mtime = st.st_mtim; /* logged once per version of the file */
		return -1;
	}
	s->mtime = st.st_mtim;
	s->have = 1;
	log_info("member list: %zu instances from %s", out->n, file);
	return 1;
}

int source_poll(struct member_source *s, struct member_list *out)
{
	char err[512];

	memset(out, 0, sizeof(*out));
	switch (s->kind) {
	case SOURCE_STATIC:
		return static_poll(s, out);
	case SOURCE_UPSUN:
		switch (upsun_peers_poll(&s->uw, cfg_str(s->c, "upsun-peers"), s->app, s->port, out, err,
					 sizeof(err))) {
		case UPSUN_PEERS_CHANGED:
			log_info("member list: %zu instances of %s from %s", out->n, s->app,
				 cfg_str(s->c, "upsun-peers"));
			return 1;
		case UPSUN_PEERS_UNCHANGED:
			return 0;
		default:
			if (!s->uw.err_repeated)
				log_warnx("%s; keeping the last good member list", err);
			return -1;
		}
	case SOURCE_FLUX:
		if (!s->changed)
			return 0;
		*out = s->pending;
		memset(&s->pending, 0, sizeof(s->pending));
		s->changed = 0;
		log_info("member list: %zu instances of %s from the Flux location API", out->n, s->app);
		return 1;
	}
	return -1;
}

int source_read_once(struct cfg *c, struct member_list *out, char *err, size_t errlen)
{
	struct member_source s;
	struct evloop *loop = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (source_kind(c) == SOURCE_STATIC) {
		const char *file = cfg_str(c, "peers-file");
		if (file)
			return static_source_read_file(file, (int)cfg_int(c, "port"), out, err, errlen);
		if (cfg_str(c, "peers"))
			return static_source_parse_list(cfg_str(c, "peers"), (int)cfg_int(c, "port"), out, err, errlen);
		return seterr(err, errlen, "--peers or --peers-file is required");
	}
	if (source_kind(c) == SOURCE_FLUX && !(loop = evloop_new()))
		return seterr(err, errlen, "out of memory");
	if (source_open(&s, c, loop, err, errlen) < 0)
		goto done;
	if (s.kind == SOURCE_UPSUN) {
		int r = upsun_peers_poll(&s.uw, cfg_str(c, "upsun-peers"), s.app, s.port, out, err, errlen);
		rc = r == UPSUN_PEERS_CHANGED ? 0 : -1;
	} else {
		int64_t end = now_ms() + 15000;
		while (!s.changed && now_ms() < end && flux_poller_failures(s.fp) == 0)
			evloop_run_once(loop, 100);
		if (s.changed) {
			*out = s.pending;
			memset(&s.pending, 0, sizeof(s.pending));
			rc = 0;
		} else {
			seterr(err, errlen, "no answer from the Flux location API for %s", s.app);
		}
	}
	source_close(&s);
done:
	evloop_free(loop);
	return rc;
}

int source_self(struct cfg *c, const struct member_list *ml, struct hostport *self, char *err, size_t errlen)
{
	int i;

	if (cfg_str(c, "node"))
		return hostport_parse(cfg_str(c, "node"), (int)cfg_int(c, "port"), self, err, errlen);
	if (source_kind(c) != SOURCE_UPSUN)
		return seterr(err, errlen, "--node is required (HOST:PORT of the local server)");
	i = upsun_find_self(ml, getenv("AUTOSHARD_SELF_IP"), err, errlen);
	if (i < 0)
		return -1;
	*self = ml->v[i].addr;
	return 0;
}
