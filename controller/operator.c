/* The ValkeyCluster operator (see operator.h). Every decision is recomputed
 * from the informers' caches, so a restarted controller resumes where the
 * objects say the cluster is:
 *
 *   desired = shards * (1 + replicasPerShard)
 *   StatefulSet replicas: raised to desired at once; lowered to desired only
 *     after the engine reported DONE for the shorter member list (the leaving
 *     pods, the highest ordinals, were drained and forgotten).
 *   members ConfigMap: the IPs of ordinals 0..desired-1, written once all of
 *     them run with an IP.
 *   engine: run (in a child) when the written list has not been reported
 *     DONE yet, a pod is not Ready, or the resync timer fired. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "kubernetes/kubeconfig.h"
#include "log.h"
#include "objects.h"
#include "operator.h"
#include "http/httpd.h"
#include "util.h"

static const struct kube_resource RES_VALKEYCLUSTERS = {VC_GROUP, VC_VERSION, "valkeyclusters", 1};
static const struct kube_resource RES_PDBS = {"policy", "v1", "poddisruptionbudgets", 1};

#define ENGINE_AGAIN_AFTER_DONE_MS 3000
#define ENGINE_BACKOFF_MIN_MS 2000
#define ENGINE_BACKOFF_MAX_MS 30000
#define APPLY_RETRY_MS 2000
/* After a broken watch: how often the informers are looked at, and how long
 * each must have run a watch without a new error before we act again. */
#define WATCH_CHECK_MS 500
#define WATCH_STABLE_MS 2000
#define N_INFORMERS 4
/* Engine run duration histogram buckets, seconds (a rebalance takes 1-60 s). */
#define N_RUN_BUCKETS 10
static const double run_bucket_le[N_RUN_BUCKETS] = {0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300};

struct cluster {
	struct operator* op;
	struct cluster *next;
	char key[512], ns[254], name[254];
	int dirty, force_engine;
	struct engine_run *engine;
	char *engine_list; /* the list the running engine works on */
	char *done_list;   /* the last list the engine reported DONE for */
	int have_result;
	struct engine_report last; /* the last engine report */
	int have_progress;
	struct engine_progress progress;
	int64_t next_engine_ms, backoff_ms;
	int64_t retry_timer;
	char applied_static[160]; /* uid/generation the Services and PDB were applied for */
	char *cm_applied;         /* members text last applied (or in flight) */
	char sts_applied[160];    /* uid/generation/replicas of the StatefulSet last applied */
	int scaling_event;        /* a ScalingStarted was recorded; ScalingFinished pending */
	int fetching_secret;
	char *password; /* from the Secret, for the next engine run; wiped after */
	int have_password;
	int quiet_run; /* the running engine only re-checks a list already DONE */
	char spec_error[256];
	int mismatch_reported; /* a CloneGuardRefused event was recorded for the current refusal */
	/* Observability (dashboard, /api/v1/clusters, /metrics). */
	struct engine_map *map; /* the last slot map the engine read */
	int64_t engine_started_ms;
	int64_t prev_progress_ms;
	long long prev_progress_keys;
	double keys_per_s;
	unsigned long long runs[RECONCILE_REFUSED + 1]; /* engine runs by result */
	unsigned long long run_buckets[N_RUN_BUCKETS];  /* non-quiet runs by duration (cumulative le) */
	unsigned long long run_count;
	double run_seconds;
};

struct ticket {
	struct ticket *prev, *next;
	struct operator* op;
	struct kube_call *call;
	char key[512];
	char what[96];
	int kind;
};

enum ticket_kind { T_STATIC, T_CONFIGMAP, T_STATEFULSET, T_STATUS, T_SECRET };

struct operator
{
	struct evloop *loop;
	struct kube_client *kc;
	struct kube_event_recorder *rec;
	struct operator_opts o;
	struct kube_informer *vcs, *sts, *pods, *cms;
	struct cluster *clusters;
	struct ticket *tickets;
	int leader;
	int64_t pass_timer, resync_timer;
	/* A watch broke: no pass runs (nothing is applied, no engine starts)
	 * until every informer is watching again (watch_check_fired). */
	int watch_broken;
	int64_t watch_timer, broken_since_ms;
	unsigned broken_errors;  /* informer errors reported since it broke */
	int need_probe;          /* a request failed outside the informers */
	struct kube_call *probe; /* GET proving the API answers again */
	struct {
		unsigned errors, watches_at_error;
		int64_t error_ms;
	} seen[N_INFORMERS];
};

static void schedule_pass(struct operator* op);
static void cluster_pass(struct cluster *cl);

/* ---- small helpers ---- */

static const char *jstr(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; s && *s; s++)
		if (*s == '\n')
			n++;
	return n;
}

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
}

static int same_str(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static void rfc3339_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- clusters ---- */

static struct cluster *cluster_find(struct operator* op, const char *ns, const char *name)
{
	char key[512];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	for (struct cluster *c = op->clusters; c; c = c->next)
		if (!strcmp(c->key, key))
			return c;
	return NULL;
}

/* Finds or adds the cluster ns/name (owned by op). NULL on allocation failure. */
static struct cluster *cluster_get(struct operator* op, const char *ns, const char *name)
{
	struct cluster *c = cluster_find(op, ns, name);

	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->op = op;
	strlcpy_a(c->ns, ns, sizeof(c->ns));
	strlcpy_a(c->name, name, sizeof(c->name));
	snprintf(c->key, sizeof(c->key), "%s/%s", ns, name);
	c->next = op->clusters;
	op->clusters = c;
	return c;
}

static void cluster_stop_engine(struct cluster *c)
{
	if (c->engine) {
		log_warnx("valkeycluster %s: stopping the engine (pid %d)", c->key, (int)engine_pid(c->engine));
		engine_kill(c->engine);
		c->engine = NULL;
	}
	set_str(&c->engine_list, NULL);
}

static void cluster_free(struct cluster *c)
{
	if (!c)
		return;
	cluster_stop_engine(c);
	if (c->retry_timer)
		evloop_del_timer(c->op->loop, c->retry_timer);
	free(c->done_list);
	free(c->cm_applied);
	secret_free(c->password);
	engine_map_free(c->map);
	free(c);
}

static void cluster_remove(struct operator* op, struct cluster *c)
{
	for (struct cluster **p = &op->clusters; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	cluster_free(c);
}

static void mark_dirty(struct cluster *c)
{
	c->dirty = 1;
	schedule_pass(c->op);
}

static int64_t retry_fired(struct evloop *loop, int64_t id, void *arg)
{
	struct cluster *c = arg;
	(void)loop;
	(void)id;
	c->retry_timer = 0;
	mark_dirty(c);
	return 0;
}

/* Run a pass for c again in ms (the earliest of several requests wins). */
static void retry_in(struct cluster *c, int64_t ms)
{
	if (c->retry_timer)
		evloop_del_timer(c->op->loop, c->retry_timer);
	c->retry_timer = evloop_add_timer(c->op->loop, ms < 1 ? 1 : ms, retry_fired, c);
	if (c->retry_timer < 0)
		c->retry_timer = 0;
}

/* ---- requests, with a ticket so a finished call finds its cluster by name ---- */

static struct ticket *ticket_new(struct operator* op, const struct cluster *c, int kind, const char *what)
{
	struct ticket *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->op = op;
	t->kind = kind;
	strlcpy_a(t->key, c->key, sizeof(t->key));
	strlcpy_a(t->what, what, sizeof(t->what));
	t->next = op->tickets;
	if (op->tickets)
		op->tickets->prev = t;
	op->tickets = t;
	return t;
}

static void ticket_free(struct ticket *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		t->op->tickets = t->next;
	if (t->next)
		t->next->prev = t->prev;
	free(t);
}

static struct cluster *ticket_cluster(const struct ticket *t)
{
	for (struct cluster *c = t->op->clusters; c; c = c->next)
		if (!strcmp(c->key, t->key))
			return c;
	return NULL;
}

static void on_secret(const struct kube_result *res, void *arg);

static void on_written(const struct kube_result *res, void *arg)
{
	struct ticket *t = arg;
	struct cluster *c = ticket_cluster(t);

	if (!res->ok) {
		log_warnx("valkeycluster %s: %s: %s", t->key, t->what, res->message);
		if (c) {
			/* forget what we thought was written, so the next pass writes it again */
			if (t->kind == T_STATIC)
				c->applied_static[0] = 0;
			else if (t->kind == T_CONFIGMAP)
				set_str(&c->cm_applied, NULL);
			else if (t->kind == T_STATEFULSET)
				c->sts_applied[0] = 0;
			retry_in(c, APPLY_RETRY_MS);
		}
	}
	ticket_free(t);
}

static void apply(struct cluster *c, const struct kube_resource *res, const char *name, json_t *obj, int kind,
		  const char *what)
{
	struct ticket *t = NULL;
	char err[256];

	if (!obj) {
		log_warnx("valkeycluster %s: %s: out of memory", c->key, what);
		goto fail;
	}
	t = ticket_new(c->op, c, kind, what);
	if (!t)
		goto fail;
	t->call = kube_apply(c->op->kc, res, c->ns, name, NULL, obj, FIELD_MANAGER, 1, on_written, t, err, sizeof(err));
	if (!t->call) {
		log_warnx("valkeycluster %s: %s: %s", c->key, what, err);
		ticket_free(t);
		goto fail;
	}
	json_decref(obj);
	return;
fail:
	json_decref(obj);
	retry_in(c, APPLY_RETRY_MS);
}

/* ---- status ---- */

struct observed {
	int desired, sts_replicas, members, ready, mismatch;
	const char *cm_text;
	char why[512]; /* what the pass waits for ("" when nothing) */
	char mismatch_why[256];
};

static json_t *condition(const json_t *old_status, const char *type, int status, const char *reason,
			 const char *message, long long generation)
{
	const char *st = status ? "True" : "False", *ltt = NULL;
	char now[40];
	size_t i;
	json_t *oc;

	json_array_foreach(json_object_get(old_status, "conditions"), i, oc)
	{
		if (jstr(oc, "type", NULL) && !strcmp(jstr(oc, "type", NULL), type) && jstr(oc, "status", NULL) &&
		    !strcmp(jstr(oc, "status", NULL), st))
			ltt = jstr(oc, "lastTransitionTime", NULL);
	}
	if (!ltt) {
		rfc3339_now(now, sizeof(now));
		ltt = now;
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "type", type, "status", st, "reason", reason, "message",
			 message, "observedGeneration", (json_int_t)generation, "lastTransitionTime", ltt);
}

static void update_status(struct cluster *c, const json_t *vc, const struct vc_spec *s, const struct observed *ob)
{
	const json_t *old = json_object_get(vc, "status");
	json_t *st = NULL, *conds = NULL, *patch = NULL;
	struct ticket *t = NULL;
	char sel[600], msg[1200], err[256];
	int running = c->engine != NULL, list_done = same_str(c->done_list, ob->cm_text);
	int ready, scaling, degraded, engine_bad;
	const char *scaling_reason = "Stable";

	ready = !c->spec_error[0] && list_done && c->have_result && c->last.result == RECONCILE_DONE &&
		ob->members == ob->desired && ob->sts_replicas == ob->desired && ob->ready == ob->desired;
	scaling = !c->spec_error[0] && (ob->members != ob->desired || ob->sts_replicas != ob->desired ||
					(running && !same_str(c->done_list, c->engine_list)));
	if (scaling)
		scaling_reason = ob->members == 0                                              ? "Creating"
				 : ob->desired > ob->members || ob->sts_replicas < ob->desired ? "ScalingUp"
				 : ob->desired < ob->members || ob->sts_replicas > ob->desired ? "ScalingDown"
											       : "Rebalancing";
	engine_bad = c->have_result && (c->last.result == RECONCILE_ERROR || c->last.result == RECONCILE_REFUSED);
	degraded = engine_bad || (list_done && ob->ready < ob->desired && !running);

	if (c->spec_error[0])
		snprintf(msg, sizeof(msg), "invalid spec: %s", c->spec_error);
	else if (ob->mismatch)
		snprintf(msg, sizeof(msg), "%s", ob->mismatch_why);
	else if (ob->why[0])
		snprintf(msg, sizeof(msg), "%s", ob->why);
	else if (running)
		snprintf(msg, sizeof(msg), "engine running on %d instances", count_lines(c->engine_list));
	else if (c->have_result)
		snprintf(msg, sizeof(msg), "%s: %s", reconcile_result_str(c->last.result), c->last.msg);
	else
		snprintf(msg, sizeof(msg), "starting");

	vc_selector(s, sel, sizeof(sel));
	conds = json_array();
	if (!conds)
		goto done;
	json_array_append_new(conds, condition(old, "Ready", ready,
					       ready              ? "ClusterHealthy"
					       : c->spec_error[0] ? "InvalidSpec"
								  : "NotReady",
					       ready ? "every slot served, every instance a member and Ready" : msg,
					       s->generation));
	json_array_append_new(conds,
			      condition(old, "Scaling", scaling, scaling_reason, scaling ? msg : "", s->generation));
	json_array_append_new(
		conds, condition(old, "Degraded", degraded,
				 engine_bad ? (c->last.result == RECONCILE_REFUSED ? "EngineRefused" : "EngineError")
				 : degraded ? "PodsNotReady"
					    : "AsExpected",
				 degraded ? msg : "", s->generation));
	json_array_append_new(conds, condition(old, "TopologyMismatch", ob->mismatch,
					       ob->mismatch ? "CloneGuardRefused" : "AsExpected",
					       ob->mismatch ? ob->mismatch_why : "", s->generation));
	st = json_pack(
		"{s:I, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:{s:I, s:I, s:I, s:s}, s:O}", "observedGeneration",
		(json_int_t)s->generation, "shards", c->have_result && c->last.masters >= 0 ? c->last.masters : 0,
		"masters", c->have_result && c->last.masters >= 0 ? c->last.masters : 0, "replicas",
		c->have_result && c->last.replicas >= 0 ? c->last.replicas : 0, "instances", ob->members,
		"slotsAssigned", c->have_result && c->last.slots >= 0 ? c->last.slots : 0, "selector", sel, "message",
		msg, "migration", "slotsDone", (json_int_t)(running && c->have_progress ? c->progress.slots_done : 0),
		"slotsTotal", (json_int_t)(running && c->have_progress ? c->progress.slots_total : 0), "keysMoved",
		(json_int_t)(running && c->have_progress ? c->progress.keys : 0), "phase",
		running ? (c->have_progress ? c->progress.phase : "reconciling") : "idle", "conditions", conds);
	if (!st)
		goto done;
	if (old && json_equal((json_t *)old, st))
		goto done;
	patch = json_pack("{s:O}", "status", st);
	t = patch ? ticket_new(c->op, c, T_STATUS, "patch status") : NULL;
	if (!t)
		goto done;
	t->call = kube_merge_patch(c->op->kc, &RES_VALKEYCLUSTERS, c->ns, c->name, "status", patch, on_written, t, err,
				   sizeof(err));
	if (!t->call) {
		log_warnx("valkeycluster %s: patch status: %s", c->key, err);
		ticket_free(t);
	}
done:
	json_decref(patch);
	json_decref(st);
	json_decref(conds);
}

/* ---- the engine ---- */

static void event(struct cluster *c, const json_t *vc, const char *type, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void event(struct cluster *c, const json_t *vc, const char *type, const char *reason, const char *fmt, ...)
{
	char msg[KUBE_EVENT_MESSAGE_MAX], err[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("valkeycluster %s: %s: %s", c->key, reason, msg);
	if (c->op->rec && kube_event_record(c->op->rec, vc, type, reason, msg, err, sizeof(err)) < 0)
		log_warnx("valkeycluster %s: event: %s", c->key, err);
}

static void notify_change(struct operator* op)
{
	if (op->o.on_change)
		op->o.on_change(op->o.change_arg);
}

static void engine_progress_cb(const struct engine_progress *p, void *arg)
{
	struct cluster *c = arg;
	int64_t now = now_ms();

	if (c->prev_progress_ms && now > c->prev_progress_ms && p->keys >= c->prev_progress_keys)
		c->keys_per_s = (double)(p->keys - c->prev_progress_keys) * 1000.0 /
				(double)(now - c->prev_progress_ms);
	c->prev_progress_ms = now;
	c->prev_progress_keys = p->keys;
	c->progress = *p;
	c->have_progress = 1;
	mark_dirty(c);
	notify_change(c->op);
}

static void engine_map_cb(struct engine_map *m, void *arg)
{
	struct cluster *c = arg;
	const json_t *vc = kube_informer_get(c->op->vcs, c->ns, c->name);

	/* A node that was a replica and now is a master holding slots took over
	 * from its master: say so. */
	for (size_t i = 0; c->map && vc && i < m->n; i++) {
		const struct engine_node *now = &m->nodes[i];

		if (strcmp(now->role, "master") != 0 || now->nslots == 0)
			continue;
		for (size_t j = 0; j < c->map->n; j++) {
			const struct engine_node *was = &c->map->nodes[j];

			if (!strcmp(was->id, now->id) && !strcmp(was->role, "replica"))
				event(c, vc, "Warning", "Failover",
				      "replica %.12s (%s) took over %d slots from master %.12s", now->id, now->addr,
				      now->nslots, was->master[0] ? was->master : "?");
		}
	}
	engine_map_free(c->map);
	c->map = m;
	notify_change(c->op);
}

static void engine_done_cb(const struct engine_report *r, void *arg)
{
	struct cluster *c = arg;
	const json_t *vc = kube_informer_get(c->op->vcs, c->ns, c->name);

	c->engine = NULL;
	c->last = *r;
	c->have_result = 1;
	c->have_progress = 0;
	c->keys_per_s = 0;
	if ((int)r->result >= 0 && r->result <= RECONCILE_REFUSED)
		c->runs[r->result]++;
	if (!c->quiet_run && c->engine_started_ms) {
		double secs = (double)(now_ms() - c->engine_started_ms) / 1000.0;

		c->run_count++;
		c->run_seconds += secs;
		for (int i = 0; i < N_RUN_BUCKETS; i++)
			if (secs <= run_bucket_le[i])
				c->run_buckets[i]++;
	}
	notify_change(c->op);
	if (r->result == RECONCILE_DONE) {
		set_str(&c->done_list, c->engine_list);
		c->backoff_ms = 0;
		c->next_engine_ms = now_ms() + ENGINE_AGAIN_AFTER_DONE_MS;
		if (c->quiet_run)
			log_debug("valkeycluster %s: re-check: %s", c->key, r->msg);
		else
			log_info("valkeycluster %s: engine done: %d masters, %d replicas, %d slots: %s", c->key,
				 r->masters, r->replicas, r->slots, r->msg);
		if (c->scaling_event && vc) {
			event(c, vc, "Normal", "ScalingFinished", "%d instances, %d masters with slots, %d replicas",
			      count_lines(c->engine_list), r->masters, r->replicas);
			c->scaling_event = 0;
		}
	} else {
		c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : ENGINE_BACKOFF_MIN_MS;
		if (c->backoff_ms > ENGINE_BACKOFF_MAX_MS)
			c->backoff_ms = ENGINE_BACKOFF_MAX_MS;
		c->next_engine_ms = now_ms() + c->backoff_ms;
		if (r->result == RECONCILE_ERROR || r->result == RECONCILE_REFUSED) {
			if (vc)
				event(c, vc, "Warning",
				      r->result == RECONCILE_REFUSED ? "EngineRefused" : "EngineFailed", "%s", r->msg);
		} else {
			log_info("valkeycluster %s: engine %s: %s (again in %lld ms)", c->key,
				 reconcile_result_str(r->result), r->msg, (long long)c->backoff_ms);
		}
		retry_in(c, c->backoff_ms);
	}
	set_str(&c->engine_list, NULL);
	secret_free(c->password);
	c->password = NULL;
	c->have_password = 0;
	mark_dirty(c);
}

static int parse_member_text(const char *text, struct member_list *ml, char *err, size_t errlen)
{
	const char *p = text;

	memset(ml, 0, sizeof(*ml));
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[HOST_MAX + 16];
		struct member m;
		memset(&m, 0, sizeof(m));
		if (len == 0 || len >= sizeof(line)) {
			seterr(err, errlen, "bad member line");
			goto fail;
		}
		memcpy(line, p, len);
		line[len] = 0;
		if (hostport_parse(line, VALKEY_PORT, &m.addr, err, errlen) < 0)
			goto fail;
		strlcpy_a(m.host, m.addr.host, sizeof(m.host));
		if (member_list_add(ml, &m, err, errlen) < 0)
			goto fail;
		p = nl ? nl + 1 : NULL;
	}
	return 0;
fail:
	member_list_free(ml);
	return -1;
}

static void on_secret(const struct kube_result *res, void *arg)
{
	struct ticket *t = arg;
	struct cluster *c = ticket_cluster(t);
	const json_t *vc;
	struct vc_spec s;
	char err[256];

	if (!c)
		goto done;
	c->fetching_secret = 0;
	vc = kube_informer_get(c->op->vcs, c->ns, c->name);
	if (!vc || vc_spec_parse(vc, &s, err, sizeof(err)) < 0 || !s.has_secret)
		goto done;
	if (!res->ok) {
		/* the message names the Secret, never its content */
		log_warnx("valkeycluster %s: password secret: %s", c->key, res->message);
		event(c, vc, "Warning", "SecretUnavailable", "password secret %s: %s", s.secret_name, res->message);
		retry_in(c, ENGINE_BACKOFF_MAX_MS / 3);
		goto done;
	}
	{
		const char *b64 = jstr(json_object_get(res->object, "data"), s.secret_key, NULL);
		char *pw = NULL;
		size_t pwlen = 0;
		if (!b64 || kube_base64_decode(b64, strlen(b64), &pw, &pwlen) < 0 || pwlen == 0 ||
		    strlen(pw) != pwlen) {
			secret_free(pw);
			event(c, vc, "Warning", "SecretUnavailable", "password secret %s has no usable key %s",
			      s.secret_name, s.secret_key);
			retry_in(c, ENGINE_BACKOFF_MAX_MS / 3);
			goto done;
		}
		while (pwlen && (pw[pwlen - 1] == '\n' || pw[pwlen - 1] == '\r'))
			pw[--pwlen] = 0;
		secret_free(c->password);
		c->password = pw;
		c->have_password = 1;
	}
	mark_dirty(c);
done:
	ticket_free(t);
}

/* Start the engine on text (the written member list). */
static void start_engine(struct cluster *c, const struct vc_spec *s, const char *text)
{
	struct member_list ml = {NULL, 0};
	struct engine_opts eo;
	char err[256];

	if (s->has_secret && !c->have_password) {
		struct ticket *t;
		if (c->fetching_secret)
			return;
		t = ticket_new(c->op, c, T_SECRET, "get secret");
		if (!t)
			return;
		t->call = kube_get(c->op->kc, &KUBE_RES_SECRETS, c->ns, s->secret_name, on_secret, t, err, sizeof(err));
		if (!t->call) {
			log_warnx("valkeycluster %s: get secret: %s", c->key, err);
			ticket_free(t);
			retry_in(c, APPLY_RETRY_MS);
			return;
		}
		c->fetching_secret = 1;
		return;
	}
	if (parse_member_text(text, &ml, err, sizeof(err)) < 0) {
		log_warnx("valkeycluster %s: member list: %s", c->key, err);
		return;
	}
	memset(&eo, 0, sizeof(eo));
	eo.password = c->have_password ? c->password : NULL;
	eo.replicas = s->replicas_per_shard;
	eo.reassign_lost_slots = !s->persistent;
	eo.deadline_ms = c->op->o.engine_deadline_s * 1000;
	eo.on_progress = engine_progress_cb;
	eo.on_map = engine_map_cb;
	eo.on_done = engine_done_cb;
	eo.arg = c;
	c->engine = engine_start(c->op->loop, &ml, &eo, err, sizeof(err));
	member_list_free(&ml);
	if (!c->engine) {
		log_warnx("valkeycluster %s: engine: %s", c->key, err);
		retry_in(c, ENGINE_BACKOFF_MIN_MS);
		return;
	}
	c->quiet_run = same_str(c->done_list, text) && c->have_result && c->last.result == RECONCILE_DONE;
	c->engine_started_ms = now_ms();
	c->prev_progress_ms = c->engine_started_ms; /* the first report's rate counts from the start */
	c->prev_progress_keys = 0;
	c->keys_per_s = 0;
	set_str(&c->engine_list, text);
	c->force_engine = 0;
	c->have_progress = 0;
	if (c->quiet_run)
		log_debug("valkeycluster %s: re-checking (pid %d)", c->key, (int)engine_pid(c->engine));
	else
		log_info("valkeycluster %s: engine started (pid %d) on %d instances, %d replicas per shard", c->key,
			 (int)engine_pid(c->engine), count_lines(text), s->replicas_per_shard);
}

/* ---- one pass over one cluster ---- */

static void cluster_pass(struct cluster *c)
{
	struct operator* op = c->op;
	const json_t *vc = kube_informer_get(op->vcs, c->ns, c->name), *sts, *cm;
	struct vc_spec s;
	struct observed ob;
	char name[300], mark[160], err[256];
	char *text = NULL;
	int target;

	if (!vc) {
		log_info("valkeycluster %s: gone; its objects go with it (owner references)", c->key);
		cluster_remove(op, c);
		return;
	}
	memset(&ob, 0, sizeof(ob));
	if (vc_spec_parse(vc, &s, err, sizeof(err)) < 0) {
		if (strcmp(c->spec_error, err))
			event(c, vc, "Warning", "InvalidSpec", "%s", err);
		strlcpy_a(c->spec_error, err, sizeof(c->spec_error));
		if (jstr(json_object_get(vc, "metadata"), "uid", NULL)) {
			memset(&s, 0, sizeof(s));
			strlcpy_a(s.ns, c->ns, sizeof(s.ns));
			strlcpy_a(s.name, c->name, sizeof(s.name));
			s.generation = json_integer_value(
				json_object_get(json_object_get(vc, "metadata"), "generation"));
			update_status(c, vc, &s, &ob);
		}
		return;
	}
	c->spec_error[0] = 0;
	ob.desired = vc_desired_instances(&s);

	/* Services and the PDB: once per generation (and after a restart). */
	snprintf(mark, sizeof(mark), "%s/%lld", s.uid, s.generation);
	if (strcmp(c->applied_static, mark)) {
		snprintf(name, sizeof(name), "%s-headless", s.name);
		apply(c, &KUBE_RES_SERVICES, name, build_headless_service(&s), T_STATIC, "apply headless Service");
		apply(c, &KUBE_RES_SERVICES, s.name, build_client_service(&s), T_STATIC, "apply client Service");
		apply(c, &RES_PDBS, s.name, build_pdb(&s), T_STATIC, "apply PodDisruptionBudget");
		strlcpy_a(c->applied_static, mark, sizeof(c->applied_static));
	}

	snprintf(name, sizeof(name), "%s-members", s.name);
	cm = kube_informer_get(op->cms, s.ns, name);
	ob.cm_text = cm ? jstr(cm, "data", MEMBERS_KEY) : NULL;
	if (!ob.cm_text)
		ob.cm_text = cm ? "" : NULL;
	ob.members = count_lines(ob.cm_text);
	if (!cm && !c->cm_applied) {
		/* the pods mount it: it exists before the StatefulSet */
		apply(c, &KUBE_RES_CONFIGMAPS, name, build_members_configmap(&s, ""), T_CONFIGMAP,
		      "apply members ConfigMap");
		set_str(&c->cm_applied, "");
		snprintf(ob.why, sizeof(ob.why), "creating the members ConfigMap");
		goto status;
	}
	if (!cm) {
		snprintf(ob.why, sizeof(ob.why), "waiting for the members ConfigMap");
		goto status;
	}

	/* StatefulSet replicas: up at once; down only after the engine drained. */
	sts = kube_informer_get(op->sts, s.ns, s.name);
	ob.sts_replicas = sts ? (int)json_integer_value(json_object_get(json_object_get(sts, "spec"), "replicas")) : 0;
	target = ob.desired;
	if (sts && ob.sts_replicas > ob.desired &&
	    !(c->engine == NULL && ob.members == ob.desired && same_str(c->done_list, ob.cm_text)))
		target = ob.sts_replicas;
	snprintf(mark, sizeof(mark), "%s/%lld/%d", s.uid, s.generation, target);
	if (strcmp(c->sts_applied, mark)) {
		if (sts && ob.sts_replicas != target) {
			event(c, vc, "Normal", target > ob.sts_replicas ? "ScalingStarted" : "ScaledDown",
			      "StatefulSet %s: %d -> %d pods (%d shards x %d)", s.name, ob.sts_replicas, target,
			      s.shards, 1 + s.replicas_per_shard);
			if (target > ob.sts_replicas)
				c->scaling_event = 1;
		}
		apply(c, &KUBE_RES_STATEFULSETS, s.name,
		      build_statefulset(&s, target, op->o.default_image, op->o.cluster_domain), T_STATEFULSET,
		      "apply StatefulSet");
		strlcpy_a(c->sts_applied, mark, sizeof(c->sts_applied));
	}
	ob.mismatch = pods_topology_mismatch(&s, kube_informer_cache(op->pods), ob.desired, ob.mismatch_why,
					     sizeof(ob.mismatch_why));
	if (ob.mismatch && !c->mismatch_reported)
		event(c, vc, "Warning", "CloneGuardRefused", "%s", ob.mismatch_why);
	c->mismatch_reported = ob.mismatch;

	/* The member list once every desired pod runs with an IP. */
	text = members_from_pods(&s, kube_informer_cache(op->pods), ob.desired, &ob.ready, ob.why, sizeof(ob.why));
	if (!text)
		goto status;
	/* One run at a time; the next pass sees its result. But a run whose
	 * list names a pod address that no pod has any more (pods re-created
	 * on new addresses, e.g. by a rolling update) would wait for it until
	 * its deadline: stop it (the engine is safe to kill at any point) and
	 * run on the list the pods give now. */
	if (c->engine && members_lost(c->engine_list, text)) {
		log_info("valkeycluster %s: the running engine's member list names addresses no pod has now; "
			 "restarting it on the current pods",
			 c->key);
		cluster_stop_engine(c);
	}
	if (c->engine)
		goto status;
	if (strcmp(ob.cm_text, text)) {
		if (!same_str(c->cm_applied, text)) {
			if (ob.members != ob.desired) {
				event(c, vc, "Normal", ob.members ? "ScalingStarted" : "Creating",
				      "members: %d -> %d instances (%d shards x %d)", ob.members, ob.desired, s.shards,
				      1 + s.replicas_per_shard);
				c->scaling_event = 1;
			}
			apply(c, &KUBE_RES_CONFIGMAPS, name, build_members_configmap(&s, text), T_CONFIGMAP,
			      "apply members ConfigMap");
			set_str(&c->cm_applied, text);
		}
		snprintf(ob.why, sizeof(ob.why), "writing the member list (%d instances)", ob.desired);
		goto status;
	}
	set_str(&c->cm_applied, text);

	/* The engine: when the written list is not known DONE, a pod is not
	 * Ready, pods are still to be removed, or the resync asked. */
	if (!same_str(c->done_list, text) || ob.ready < ob.desired || ob.sts_replicas > ob.desired || c->force_engine) {
		int64_t now = now_ms();
		if (now < c->next_engine_ms && same_str(c->done_list, text) == 0 && c->have_result &&
		    c->last.result == RECONCILE_DONE)
			c->next_engine_ms = now; /* a new list: no reason to wait */
		if (now >= c->next_engine_ms)
			start_engine(c, &s, text);
		else
			retry_in(c, c->next_engine_ms - now);
	}
status:
	update_status(c, vc, &s, &ob);
	free(text);
}

/* ---- scheduling and informers ---- */

static int64_t pass_fired(struct evloop *loop, int64_t id, void *arg)
{
	struct operator* op = arg;
	int again = 1;

	(void)loop;
	(void)id;
	op->pass_timer = 0;
	if (!op->leader || op->watch_broken || !kube_informer_synced(op->vcs) || !kube_informer_synced(op->sts) ||
	    !kube_informer_synced(op->pods) || !kube_informer_synced(op->cms))
		return 0;
	while (again) {
		again = 0;
		for (struct cluster *c = op->clusters; c; c = c->next)
			if (c->dirty) {
				c->dirty = 0;
				cluster_pass(c); /* may remove c */
				again = 1;
				break;
			}
	}
	return 0;
}

static void schedule_pass(struct operator* op)
{
	if (!op->pass_timer && op->leader) {
		op->pass_timer = evloop_add_timer(op->loop, 10, pass_fired, op);
		if (op->pass_timer < 0)
			op->pass_timer = 0;
	}
}

static void mark_all(struct operator* op, int force_engine)
{
	for (struct cluster *c = op->clusters; c; c = c->next) {
		c->dirty = 1;
		if (force_engine) {
			/* the resync also re-applies the owned objects (drift) */
			c->force_engine = 1;
			c->applied_static[0] = 0;
			c->sts_applied[0] = 0;
		}
	}
	schedule_pass(op);
}

static int64_t resync_fired(struct evloop *loop, int64_t id, void *arg)
{
	(void)loop;
	(void)id;
	mark_all(arg, 1);
	return ((struct operator*)arg)->o.resync_s * 1000LL;
}

/* A ValkeyCluster changed: make sure it is tracked. */
static void vc_touched(const json_t *obj, void *arg)
{
	struct operator* op = arg;
	const json_t *m = json_object_get(obj, "metadata");
	const char *ns = jstr(m, "namespace", NULL), *name = jstr(m, "name", NULL);
	struct cluster *c;

	if (!ns || !name)
		return;
	c = cluster_get(op, ns, name);
	if (c)
		mark_dirty(c);
}

static void vc_add(const json_t *obj, void *arg)
{
	vc_touched(obj, arg);
}
static void vc_update(const json_t *old, const json_t *obj, void *arg)
{
	(void)old;
	vc_touched(obj, arg);
}

/* An owned object changed: the cluster named by its instance label. */
static void owned_touched(const json_t *obj, void *arg)
{
	struct operator* op = arg;
	const json_t *m = json_object_get(obj, "metadata");
	const char *ns = jstr(m, "namespace", NULL), *inst = jstr(json_object_get(m, "labels"), LABEL_INSTANCE, NULL);
	struct cluster *c;

	if (ns && inst && (c = cluster_find(op, ns, inst)))
		mark_dirty(c);
}

static void owned_add(const json_t *obj, void *arg)
{
	owned_touched(obj, arg);
}
static void owned_update(const json_t *old, const json_t *obj, void *arg)
{
	(void)old;
	owned_touched(obj, arg);
}
static void owned_delete(const json_t *obj, void *arg)
{
	owned_touched(obj, arg);
}

static void synced(void *arg)
{
	mark_all(arg, 0);
}

static void informers(const struct operator* op, struct kube_informer *inf[N_INFORMERS])
{
	inf[0] = op->vcs;
	inf[1] = op->sts;
	inf[2] = op->pods;
	inf[3] = op->cms;
}

/* While a watch is broken: every WATCH_CHECK_MS, each informer that failed
 * since must have started a watch (or list + watch) after its last failure
 * and seen no new failure for WATCH_STABLE_MS. Then the cache is current
 * again (a re-watch from the last resourceVersion delivers what was missed,
 * a relist replaces the cache) and passes run for every cluster. */
static void probe_done(const struct kube_result *res, void *arg)
{
	struct operator* op = arg;

	op->probe = NULL;
	if (res->status > 0) /* any answer, even 403/404: the API server is back */
		op->need_probe = 0;
}

/* One GET of the ValkeyCluster collection (limit-free but cheap: the same
 * objects the informer holds). */
static void start_probe(struct operator* op)
{
	char err[256];

	op->probe = kube_get(op->kc, &RES_VALKEYCLUSTERS, op->o.ns && *op->o.ns ? op->o.ns : NULL, NULL, probe_done, op,
			     err, sizeof(err));
}

static int64_t watch_check_fired(struct evloop *loop, int64_t id, void *arg)
{
	struct operator* op = arg;
	struct kube_informer *inf[N_INFORMERS];
	struct kube_informer_stats st;
	int64_t now = now_ms();
	int ok = 1;

	(void)loop;
	(void)id;
	informers(op, inf);
	for (int i = 0; i < N_INFORMERS; i++) {
		kube_informer_get_stats(inf[i], &st);
		if (st.errors != op->seen[i].errors) {
			op->seen[i].errors = st.errors;
			op->seen[i].watches_at_error = st.watches;
			op->seen[i].error_ms = now;
		}
		if (op->seen[i].error_ms &&
		    (st.watches == op->seen[i].watches_at_error || now - op->seen[i].error_ms < WATCH_STABLE_MS))
			ok = 0;
	}
	if (ok && op->need_probe) {
		if (!op->probe)
			start_probe(op);
		ok = 0;
	}
	if (!ok)
		return WATCH_CHECK_MS;
	log_info("api: watches re-established after %u errors (%lld ms): acting again", op->broken_errors,
		 (long long)(now - op->broken_since_ms));
	op->watch_broken = 0;
	op->watch_timer = 0;
	mark_all(op, 0);
	return 0;
}

static void hold_actions(struct operator* op, const char *why)
{
	struct kube_informer *inf[N_INFORMERS];
	struct kube_informer_stats st;

	op->broken_errors++;
	if (op->watch_broken)
		return;
	/* The failing informer counts its error after this callback: the first
	 * check sees it as new. */
	informers(op, inf);
	for (int i = 0; i < N_INFORMERS; i++) {
		kube_informer_get_stats(inf[i], &st);
		op->seen[i].errors = st.errors;
		op->seen[i].watches_at_error = st.watches;
		op->seen[i].error_ms = 0;
	}
	op->watch_timer = evloop_add_timer(op->loop, WATCH_CHECK_MS, watch_check_fired, op);
	if (op->watch_timer < 0) {
		op->watch_timer = 0;
		log_warnx("api: cannot schedule the watch check (out of memory); acting on as before");
		return;
	}
	op->watch_broken = 1;
	op->broken_since_ms = now_ms();
	op->broken_errors = 1;
	log_warnx("api: %s; holding actions until every watch is back", why);
}

static void informer_error(const char *msg, void *arg)
{
	log_warnx("watch: %s", msg);
	hold_actions(arg, "a watch is broken");
}

/* ---- observability ---- */

static json_int_t spec_int(const json_t *vc, const char *field, json_int_t dflt)
{
	const json_t *v = json_object_get(json_object_get(vc, "spec"), field);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static const char *condition_status(const json_t *vc, const char *type)
{
	const json_t *conds = json_object_get(json_object_get(vc, "status"), "conditions"), *cd;
	size_t i;

	json_array_foreach(conds, i, cd)
	{
		if (json_is_object(cd) && jstr(cd, "type", NULL) && !strcmp(jstr(cd, "type", NULL), type))
			return jstr(cd, "status", NULL);
	}
	return NULL;
}

static json_t *map_json(const struct engine_map *m)
{
	json_t *nodes = json_array(), *slots = json_array();
	int s = 0;

	if (!nodes || !slots)
		goto fail;
	for (size_t i = 0; i < m->n; i++) {
		const struct engine_node *nd = &m->nodes[i];

		if (json_array_append_new(nodes,
					  json_pack("{s:s, s:s, s:s, s:s?, s:s, s:i}", "id", nd->id, "addr", nd->addr,
						    "role", nd->role, "masterId", nd->master[0] ? nd->master : NULL,
						    "state", nd->state, "slots", nd->nslots)) < 0)
			goto fail;
	}
	while (s < 16384) {
		int e = s;

		while (e + 1 < 16384 && m->owner[e + 1] == m->owner[s])
			e++;
		if (m->owner[s] >= 0 && json_array_append_new(slots, json_pack("[i,i,i]", s, e, (int)m->owner[s])) < 0)
			goto fail;
		s = e + 1;
	}
	return json_pack("{s:o, s:o, s:I, s:I}", "nodes", nodes, "slots", slots, "mapAgeMs",
			 (json_int_t)(now_ms() - m->at_ms), "keys", (json_int_t)m->keys);
fail:
	json_decref(nodes);
	json_decref(slots);
	return NULL;
}

json_t *operator_clusters_json(const struct operator* op)
{
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	for (const struct cluster *c = op->clusters; c; c = c->next) {
		const json_t *vc = kube_informer_get(op->vcs, c->ns, c->name);
		const char *ready = vc ? condition_status(vc, "Ready") : NULL;
		int running = c->engine != NULL;
		json_t *o;

		if (!vc)
			continue;
		o = json_pack("{s:s, s:s, s:I, s:I, s:b, s:s, s:i, s:i, s:i, s:{s:I, s:I, s:I, s:f, s:s}}", "namespace",
			      c->ns, "name", c->name, "shards", spec_int(vc, "shards", 0), "replicasPerShard",
			      spec_int(vc, "replicasPerShard", 0), "ready", ready && !strcmp(ready, "True"), "message",
			      c->have_result ? c->last.msg : "", "masters",
			      c->have_result && c->last.masters >= 0 ? c->last.masters : 0, "replicas",
			      c->have_result && c->last.replicas >= 0 ? c->last.replicas : 0, "slotsAssigned",
			      c->have_result && c->last.slots >= 0 ? c->last.slots : 0, "migration", "slotsDone",
			      (json_int_t)(running && c->have_progress ? c->progress.slots_done : 0), "slotsTotal",
			      (json_int_t)(running && c->have_progress ? c->progress.slots_total : 0), "keysMoved",
			      (json_int_t)(running && c->have_progress ? c->progress.keys : 0), "keysPerSecond",
			      running ? c->keys_per_s : 0.0, "phase",
			      running ? (c->have_progress ? c->progress.phase : "reconciling") : "idle");
		if (!o)
			goto fail;
		if (c->map) {
			json_t *mj = map_json(c->map);

			if (!mj || json_object_update(o, mj) < 0) {
				json_decref(mj);
				json_decref(o);
				goto fail;
			}
			json_decref(mj);
		} else if (json_object_set_new(o, "nodes", json_array()) < 0 ||
			   json_object_set_new(o, "slots", json_array()) < 0) {
			json_decref(o);
			goto fail;
		}
		if (json_array_append_new(arr, o) < 0)
			goto fail;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

/* A label value in the exposition format: backslash, quote and newline escaped. */
static void label(struct textbuf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			tb_printf(b, "\\%c", *v);
		else if (*v == '\n')
			tb_printf(b, "\\n");
		else
			tb_printf(b, "%c", *v);
	}
}

static void cluster_labels(struct textbuf *b, const struct cluster *c)
{
	tb_printf(b, "{namespace=\"");
	label(b, c->ns);
	tb_printf(b, "\",name=\"");
	label(b, c->name);
	tb_printf(b, "\"");
}

typedef double cluster_value(const struct operator* op, const struct cluster *c);

static double v_slots(const struct operator* op, const struct cluster *c)
{
	(void)op;
	return c->have_result && c->last.slots >= 0 ? c->last.slots : 0;
}
static double v_masters(const struct operator* op, const struct cluster *c)
{
	(void)op;
	return c->have_result && c->last.masters >= 0 ? c->last.masters : 0;
}
static double v_replicas(const struct operator* op, const struct cluster *c)
{
	(void)op;
	return c->have_result && c->last.replicas >= 0 ? c->last.replicas : 0;
}
static double v_ready(const struct operator* op, const struct cluster *c)
{
	const json_t *vc = kube_informer_get(op->vcs, c->ns, c->name);
	const char *r = vc ? condition_status(vc, "Ready") : NULL;

	return r && !strcmp(r, "True");
}
static double v_open(const struct operator* op, const struct cluster *c)
{
	(void)op;
	/* Slots a running migration has not finished yet. */
	return c->engine && c->have_progress ? (double)(c->progress.slots_total - c->progress.slots_done) : 0;
}
static double v_done(const struct operator* op, const struct cluster *c)
{
	(void)op;
	return c->engine && c->have_progress ? (double)c->progress.slots_done : 0;
}
static double v_total(const struct operator* op, const struct cluster *c)
{
	(void)op;
	return c->engine && c->have_progress ? (double)c->progress.slots_total : 0;
}
static double v_keys(const struct operator* op, const struct cluster *c)
{
	(void)op;
	return c->engine && c->have_progress ? (double)c->progress.keys : 0;
}
static double v_rate(const struct operator* op, const struct cluster *c)
{
	(void)op;
	return c->engine ? c->keys_per_s : 0;
}
static double v_keys_total(const struct operator* op, const struct cluster *c)
{
	(void)op;
	return c->map && c->map->keys >= 0 ? (double)c->map->keys : 0;
}
static double v_running(const struct operator* op, const struct cluster *c)
{
	(void)op;
	return c->engine != NULL;
}

static void gauge(struct textbuf *b, const struct operator* op, const char *name, const char *help, cluster_value *fn)
{
	tb_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (const struct cluster *c = op->clusters; c; c = c->next) {
		tb_printf(b, "%s", name);
		cluster_labels(b, c);
		tb_printf(b, "} %.17g\n", fn(op, c));
	}
}

void operator_metrics(const struct operator* op, struct textbuf *b)
{
	static const char *const results[] = {"done", "progress", "wait", "error", "refused"};
	struct kube_informer *inf[N_INFORMERS];
	struct kube_informer_stats st;
	unsigned long long restarts = 0, errors = 0;

	gauge(b, op, "autoshard_cluster_slots_assigned", "Hash slots assigned to a master (16384 when covered).",
	      v_slots);
	gauge(b, op, "autoshard_cluster_masters", "Masters holding slots.", v_masters);
	gauge(b, op, "autoshard_cluster_replicas", "Replicas attached to a master.", v_replicas);
	gauge(b, op, "autoshard_cluster_ready", "Whether the ValkeyCluster is Ready.", v_ready);
	gauge(b, op, "autoshard_cluster_slots_open", "Slots the running migration has still to move.", v_open);
	gauge(b, op, "autoshard_cluster_migration_slots_done", "Slots the running migration has moved.", v_done);
	gauge(b, op, "autoshard_cluster_migration_slots_total", "Slots the running migration moves in all.", v_total);
	gauge(b, op, "autoshard_cluster_migration_keys_moved", "Keys the running migration has moved.", v_keys);
	gauge(b, op, "autoshard_cluster_migration_keys_per_second", "Keys moved per second, last interval.", v_rate);
	gauge(b, op, "autoshard_cluster_engine_running", "Whether an engine run is in progress.", v_running);
	gauge(b, op, "autoshard_cluster_keys", "Keys held by the masters (DBSIZE summed) when the engine last looked.",
	      v_keys_total);

	tb_printf(b, "# HELP autoshard_engine_runs_total Engine runs finished, by result.\n"
		     "# TYPE autoshard_engine_runs_total counter\n");
	for (const struct cluster *c = op->clusters; c; c = c->next)
		for (int r = 0; r <= RECONCILE_REFUSED; r++) {
			tb_printf(b, "autoshard_engine_runs_total");
			cluster_labels(b, c);
			tb_printf(b, ",result=\"%s\"} %llu\n", results[r], c->runs[r]);
		}
	tb_printf(b, "# HELP autoshard_rebalance_duration_seconds Engine runs that changed the cluster "
		     "(bootstrap, scale, rebalance, heal), by duration.\n"
		     "# TYPE autoshard_rebalance_duration_seconds histogram\n");
	for (const struct cluster *c = op->clusters; c; c = c->next) {
		for (int i = 0; i < N_RUN_BUCKETS; i++) {
			tb_printf(b, "autoshard_rebalance_duration_seconds_bucket");
			cluster_labels(b, c);
			tb_printf(b, ",le=\"%g\"} %llu\n", run_bucket_le[i], c->run_buckets[i]);
		}
		tb_printf(b, "autoshard_rebalance_duration_seconds_bucket");
		cluster_labels(b, c);
		tb_printf(b, ",le=\"+Inf\"} %llu\n", c->run_count);
		tb_printf(b, "autoshard_rebalance_duration_seconds_sum");
		cluster_labels(b, c);
		tb_printf(b, "} %.17g\n", c->run_seconds);
		tb_printf(b, "autoshard_rebalance_duration_seconds_count");
		cluster_labels(b, c);
		tb_printf(b, "} %llu\n", c->run_count);
	}
	for (const struct cluster *c = op->clusters; c; c = c->next)
		errors += c->runs[RECONCILE_ERROR] + c->runs[RECONCILE_REFUSED];
	tb_printf(b,
		  "# HELP autoshard_reconcile_errors_total Engine runs that failed or were refused.\n"
		  "# TYPE autoshard_reconcile_errors_total counter\n"
		  "autoshard_reconcile_errors_total %llu\n",
		  errors);
	informers(op, inf);
	for (int i = 0; i < N_INFORMERS; i++) {
		if (!inf[i])
			continue;
		kube_informer_get_stats(inf[i], &st);
		restarts += st.watches > 0 ? st.watches - 1 : 0;
	}
	tb_printf(b,
		  "# HELP autoshard_watch_restarts_total Watches started again after the first one, all informers.\n"
		  "# TYPE autoshard_watch_restarts_total counter\n"
		  "autoshard_watch_restarts_total %llu\n",
		  restarts);
}

int operator_ready(const struct operator* op, char *why, size_t whylen)
{
	static const char *const names[N_INFORMERS] = {"valkeyclusters", "statefulsets", "pods", "configmaps"};
	struct kube_informer *inf[N_INFORMERS];

	informers(op, inf);
	for (int i = 0; i < N_INFORMERS; i++)
		if (!inf[i] || !kube_informer_synced(inf[i])) {
			snprintf(why, whylen, "the %s informer has not listed yet", names[i]);
			return 0;
		}
	if (op->watch_broken) {
		snprintf(why, whylen, "a watch is broken or the API server did not answer");
		return 0;
	}
	snprintf(why, whylen, "ok");
	return 1;
}

void operator_api_error(struct operator* op)
{
	op->need_probe = 1;
	hold_actions(op, "the API server did not answer");
}

struct operator* operator_new(struct evloop *loop, struct kube_client *kc, struct kube_event_recorder *rec,
			      const struct operator_opts *opts, char *err, size_t errlen)
{
	struct operator* op = calloc(1, sizeof(*op));

	if (!op) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	op->loop = loop;
	op->kc = kc;
	op->rec = rec;
	op->o = *opts;
	if (op->o.resync_s <= 0)
		op->o.resync_s = 30;
	if (op->o.engine_deadline_s <= 0)
		op->o.engine_deadline_s = 600;
	return op;
}

int operator_start(struct operator* op, char *err, size_t errlen)
{
	static const struct kube_informer_callbacks vc_cb = {vc_add, vc_update, vc_touched, synced, informer_error};
	static const struct kube_informer_callbacks own_cb = {owned_add, owned_update, owned_delete, synced,
							      informer_error};
	const char *ns = op->o.ns && *op->o.ns ? op->o.ns : NULL;
	const char *sel = LABEL_MANAGED_BY "=" MANAGED_BY_VALUE;

	op->vcs = kube_informer_start(op->kc, &RES_VALKEYCLUSTERS, ns, NULL, &vc_cb, op, err, errlen);
	if (!op->vcs)
		return -1;
	op->sts = kube_informer_start(op->kc, &KUBE_RES_STATEFULSETS, ns, sel, &own_cb, op, err, errlen);
	if (!op->sts)
		return -1;
	op->pods = kube_informer_start(op->kc, &KUBE_RES_PODS, ns, sel, &own_cb, op, err, errlen);
	if (!op->pods)
		return -1;
	op->cms = kube_informer_start(op->kc, &KUBE_RES_CONFIGMAPS, ns, sel, &own_cb, op, err, errlen);
	if (!op->cms)
		return -1;
	op->resync_timer = evloop_add_timer(op->loop, op->o.resync_s * 1000LL, resync_fired, op);
	if (op->resync_timer < 0)
		return seterr(err, errlen, "out of memory");
	return 0;
}

void operator_set_leader(struct operator* op, int leader)
{
	op->leader = leader;
	if (leader) {
		mark_all(op, 0);
		return;
	}
	for (struct cluster *c = op->clusters; c; c = c->next)
		cluster_stop_engine(c);
}

int operator_engines_running(const struct operator* op)
{
	int n = 0;
	for (const struct cluster *c = op->clusters; c; c = c->next)
		n += c->engine != NULL;
	return n;
}

void operator_free(struct operator* op)
{
	if (!op)
		return;
	kube_informer_stop(op->vcs);
	kube_informer_stop(op->sts);
	kube_informer_stop(op->pods);
	kube_informer_stop(op->cms);
	while (op->clusters) {
		struct cluster *c = op->clusters;
		op->clusters = c->next;
		cluster_free(c);
	}
	while (op->tickets) {
		kube_call_cancel(op->tickets->call);
		ticket_free(op->tickets);
	}
	if (op->pass_timer)
		evloop_del_timer(op->loop, op->pass_timer);
	if (op->watch_timer)
		evloop_del_timer(op->loop, op->watch_timer);
	kube_call_cancel(op->probe);
	if (op->resync_timer > 0)
		evloop_del_timer(op->loop, op->resync_timer);
	free(op);
}
