/* kube_smoke --kubeconfig FILE [--namespace NS] [--etcd URL]: the Kubernetes client against
 * a real kube-apiserver (tests/k8s/test_kube_client.sh). Prints one TAP-like
 * line per check ("ok - ..." / "not ok - ...") and exits 0 only if all pass.
 *
 * In a fresh namespace: paginated list; an informer that sees ADD and MODIFY
 * and a bookmark; server-side apply of a ConfigMap (field manager recorded);
 * merge patch; an invalid object refused with the API's message; delete
 * preconditions; with --etcd, a watch of Events from a compacted
 * resourceVersion answered by 410 Expired and a relist; two Lease contenders (one holds, the other takes over after expiry,
 * release clears the holder); an Event deduplicated to count 2. Every wait is
 * bounded by a number of loop iterations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evloop.h"
#include "http/http_client.h"
#include "kubernetes/events.h"
#include "kubernetes/kube_client.h"
#include "kubernetes/kubeconfig.h"
#include "kubernetes/lease.h"
#include "util.h"

static struct evloop *loop;
static struct kube_client *kc;
static const char *ns;
static int failures;

static void check(int cond, const char *what, const char *detail)
{
	printf("%s - %s%s%s\n", cond ? "ok" : "not ok", what, !cond && detail ? ": " : "",
	       !cond && detail ? detail : "");
	fflush(stdout);
	if (!cond)
		failures++;
}

struct answer {
	int done, ok;
	long status;
	char reason[64], message[1024];
	json_t *object;
};

static void on_answer(const struct kube_result *res, void *arg)
{
	struct answer *a = arg;

	a->done = 1;
	a->ok = res->ok;
	a->status = res->status;
	snprintf(a->reason, sizeof(a->reason), "%s", res->reason);
	snprintf(a->message, sizeof(a->message), "%s", res->message);
	a->object = json_incref(res->object);
}

/* Run the loop until *flag reaches want, at most n iterations of <= 100 ms. */
static void run_until(const int *flag, int want, int n)
{
	int i;

	for (i = 0; i < n && *flag < want; i++)
		evloop_run_once(loop, 100);
}

static void wait_call(struct kube_call *call, struct answer *a, const char *err)
{
	if (!call) {
		snprintf(a->message, sizeof(a->message), "not started: %s", err);
		return;
	}
	run_until(&a->done, 1, 300);
}

static void reset(struct answer *a)
{
	json_decref(a->object);
	memset(a, 0, sizeof(*a));
}

static json_t *configmap(const char *name, const char *k, const char *v)
{
	return json_pack("{sssss{ssss}s{ss}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata", "name", name,
			 "namespace", ns, "data", k, v);
}

static const char *str_at(const json_t *o, const char *a, const char *b)
{
	const char *s = json_string_value(json_object_get(json_object_get(o, a), b));

	return s ? s : "";
}

/* ---- informer ---- */

struct seen {
	int adds, updates, deletes, synced, errors;
	char last_error[512];
};

static void s_add(const json_t *o, void *arg)
{
	(void)o;
	((struct seen *)arg)->adds++;
}

static void s_update(const json_t *old, const json_t *o, void *arg)
{
	(void)old;
	(void)o;
	((struct seen *)arg)->updates++;
}

static void s_delete(const json_t *o, void *arg)
{
	(void)o;
	((struct seen *)arg)->deletes++;
}

static void s_synced(void *arg)
{
	((struct seen *)arg)->synced++;
}

static void s_error(const char *msg, void *arg)
{
	struct seen *s = arg;

	s->errors++;
	snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
}

static void stats_wait(struct kube_informer *inf, struct kube_informer_stats *st, unsigned *field, unsigned want, int n)
{
	int i;

	kube_informer_get_stats(inf, st);
	for (i = 0; i < n && *field < want; i++) {
		evloop_run_once(loop, 100);
		kube_informer_get_stats(inf, st);
	}
}

static void smoke_lists_and_writes(void)
{
	struct answer a;
	char err[512], name[32], detail[1200];
	json_t *o;
	int i;

	memset(&a, 0, sizeof(a));
	o = json_pack("{ssss s{ss}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", ns);
	wait_call(kube_create(kc, &KUBE_RES_NAMESPACES, NULL, o, on_answer, &a, err, sizeof(err)), &a, err);
	check(a.ok, "create namespace", a.message);
	reset(&a);
	json_decref(o);

	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "cm-%d", i);
		o = configmap(name, "k", "v");
		wait_call(kube_create(kc, &KUBE_RES_CONFIGMAPS, ns, o, on_answer, &a, err, sizeof(err)), &a, err);
		if (!a.ok)
			check(0, "create configmap", a.message);
		reset(&a);
		json_decref(o);
	}
	/* Page size 2 (set in main): 5 objects plus kube-root-ca.crt, 3+ pages. */
	wait_call(kube_list(kc, &KUBE_RES_CONFIGMAPS, ns, NULL, NULL, on_answer, &a, err, sizeof(err)), &a, err);
	snprintf(detail, sizeof(detail), "%s (%zu items)", a.message,
		 json_array_size(json_object_get(a.object, "items")));
	check(a.ok && json_array_size(json_object_get(a.object, "items")) >= 5, "paginated list", detail);
	check(json_string_length(json_object_get(a.object, "resourceVersion")) > 0, "list resourceVersion", NULL);
	reset(&a);

	/* Server-side apply, twice: create then update; our manager is recorded. */
	o = configmap("applied", "mode", "one");
	wait_call(kube_apply(kc, &KUBE_RES_CONFIGMAPS, ns, "applied", NULL, o, "autoshard-smoke", 1, on_answer, &a, err,
			     sizeof(err)),
		  &a, err);
	check(a.ok && strcmp(str_at(a.object, "data", "mode"), "one") == 0, "server-side apply creates", a.message);
	reset(&a);
	json_decref(o);
	o = configmap("applied", "mode", "two");
	wait_call(kube_apply(kc, &KUBE_RES_CONFIGMAPS, ns, "applied", NULL, o, "autoshard-smoke", 1, on_answer, &a, err,
			     sizeof(err)),
		  &a, err);
	check(a.ok && strcmp(str_at(a.object, "data", "mode"), "two") == 0, "server-side apply updates", a.message);
	{
		json_t *mf = json_object_get(json_object_get(a.object, "metadata"), "managedFields"), *e;
		size_t k;
		int found = 0;

		json_array_foreach(mf, k, e)
		{
			const char *m = json_string_value(json_object_get(e, "manager"));
			const char *op = json_string_value(json_object_get(e, "operation"));

			if (m && op && strcmp(m, "autoshard-smoke") == 0 && strcmp(op, "Apply") == 0)
				found = 1;
		}
		check(found, "apply recorded field manager autoshard-smoke", NULL);
	}
	reset(&a);
	json_decref(o);

	/* Merge patch. */
	o = json_pack("{s{ss}}", "data", "extra", "yes");
	wait_call(kube_merge_patch(kc, &KUBE_RES_CONFIGMAPS, ns, "applied", NULL, o, on_answer, &a, err, sizeof(err)),
		  &a, err);
	check(a.ok && strcmp(str_at(a.object, "data", "extra"), "yes") == 0 &&
		      strcmp(str_at(a.object, "data", "mode"), "two") == 0,
	      "merge patch", a.message);
	reset(&a);
	json_decref(o);

	/* The API's own message on a validation error and on a missing object. */
	o = configmap("Bad_Name", "k", "v");
	wait_call(kube_create(kc, &KUBE_RES_CONFIGMAPS, ns, o, on_answer, &a, err, sizeof(err)), &a, err);
	check(!a.ok && a.status == 422 && strcmp(a.reason, "Invalid") == 0 &&
		      strstr(a.message, "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value"),
	      "invalid object refused with the API message", a.message);
	printf("# message: %s\n", a.message);
	reset(&a);
	json_decref(o);
	wait_call(kube_get(kc, &KUBE_RES_CONFIGMAPS, ns, "nope", on_answer, &a, err, sizeof(err)), &a, err);
	check(!a.ok && a.status == 404 && strcmp(a.message, "configmaps \"nope\" not found") == 0, "not found message",
	      a.message);
	reset(&a);

	/* Delete with preconditions. */
	wait_call(kube_delete(kc, &KUBE_RES_CONFIGMAPS, ns, "cm-4", "00000000-0000-0000-0000-000000000000", NULL, NULL,
			      on_answer, &a, err, sizeof(err)),
		  &a, err);
	check(!a.ok && a.status == 409 && strcmp(a.reason, "Conflict") == 0 &&
		      strstr(a.message,
			     "the UID in the precondition (00000000-0000-0000-0000-000000000000) does not match"),
	      "delete precondition (uid) refused", a.message);
	reset(&a);
	wait_call(kube_get(kc, &KUBE_RES_CONFIGMAPS, ns, "cm-4", on_answer, &a, err, sizeof(err)), &a, err);
	{
		char uid[128];

		snprintf(uid, sizeof(uid), "%s", str_at(a.object, "metadata", "uid"));
		reset(&a);
		wait_call(kube_delete(kc, &KUBE_RES_CONFIGMAPS, ns, "cm-4", uid, NULL, "Background", on_answer, &a, err,
				      sizeof(err)),
			  &a, err);
		check(a.ok, "delete with the right uid", a.message);
		reset(&a);
	}
}

static void smoke_informer(void)
{
	static const struct kube_informer_callbacks cbs = {s_add, s_update, s_delete, s_synced, s_error};
	struct kube_informer_stats st;
	struct kube_informer *inf;
	struct seen s;
	struct answer a;
	char err[512], detail[256];
	json_t *o;
	size_t initial;
	int i;

	memset(&s, 0, sizeof(s));
	memset(&a, 0, sizeof(a));
	inf = kube_informer_start(kc, &KUBE_RES_CONFIGMAPS, ns, NULL, &cbs, &s, err, sizeof(err));
	check(inf != NULL, "informer start", err);
	if (!inf)
		return;
	run_until(&s.synced, 1, 300);
	initial = json_object_size(kube_informer_cache(inf));
	check(s.synced == 1 && initial >= 5 && (size_t)s.adds == initial, "informer synced with the list",
	      s.last_error);

	o = configmap("watched", "k", "1");
	wait_call(kube_create(kc, &KUBE_RES_CONFIGMAPS, ns, o, on_answer, &a, err, sizeof(err)), &a, err);
	reset(&a);
	json_decref(o);
	run_until(&s.adds, (int)initial + 1, 300);
	check(kube_informer_get(inf, ns, "watched") != NULL, "watch: ADDED", s.last_error);
	o = json_pack("{s{ss}}", "data", "k", "2");
	wait_call(kube_merge_patch(kc, &KUBE_RES_CONFIGMAPS, ns, "watched", NULL, o, on_answer, &a, err, sizeof(err)),
		  &a, err);
	reset(&a);
	json_decref(o);
	run_until(&s.updates, 1, 300);
	check(s.updates >= 1 && strcmp(str_at(kube_informer_get(inf, ns, "watched"), "data", "k"), "2") == 0,
	      "watch: MODIFIED", s.last_error);

	/* Bookmarks: the apiserver sends one before a watch's timeout (5 s
	 * here) and about once a minute; wait at most 90 s. */
	stats_wait(inf, &st, &st.bookmarks, 1, 900);
	snprintf(detail, sizeof(detail), "bookmarks %u watches %u errors %u %s", st.bookmarks, st.watches, st.errors,
		 s.last_error);
	check(st.bookmarks >= 1, "watch: BOOKMARK", detail);

	/* And deletions. */
	wait_call(
		kube_delete(kc, &KUBE_RES_CONFIGMAPS, ns, "watched", NULL, NULL, NULL, on_answer, &a, err, sizeof(err)),
		&a, err);
	reset(&a);
	run_until(&s.deletes, 1, 300);
	check(s.deletes == 1 && kube_informer_get(inf, ns, "watched") == NULL, "watch: DELETED", s.last_error);
	for (i = 0; i < 3; i++)
		evloop_run_once(loop, 10);
	kube_informer_stop(inf);
}

/* ---- 410 Gone -> relist ----
 * The watch cache serves any old resourceVersion until it has evicted
 * events, so a young cluster never says 410 for ConfigMaps. Events have no
 * watch cache: their watches go to etcd. Compact etcd (its JSON gateway on
 * the client port) and watch Events from resourceVersion 1: "too old", 410. */

static const char *etcd_url;

struct etcd_reply {
	int done;
	long status;
	char body[1024];
};

static void etcd_done(struct http_request *req, const struct http_result *res, void *arg)
{
	struct etcd_reply *r = arg;

	(void)req;
	r->done = 1;
	r->status = res->error == HTTP_OK ? res->status : 0;
	snprintf(r->body, sizeof(r->body), "%s", res->error == HTTP_OK ? res->body : res->errmsg);
}

static int etcd_post(struct http_client *h, const char *path, const char *body, struct etcd_reply *r)
{
	char url[256], err[256];
	struct http_request_opts o;

	memset(&o, 0, sizeof(o));
	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%s", etcd_url, path);
	o.method = "POST";
	o.url = url;
	o.body = body;
	o.body_len = strlen(body);
	o.content_type = "application/json";
	o.timeout_ms = 10000;
	o.max_body = 1 << 16;
	o.on_done = etcd_done;
	o.arg = r;
	if (!http_request_start(h, &o, err, sizeof(err))) {
		snprintf(r->body, sizeof(r->body), "%s", err);
		return -1;
	}
	run_until(&r->done, 1, 200);
	return r->done && r->status == 200 ? 0 : -1;
}

/* Compact etcd at its current revision. */
static int etcd_compact(char *detail, size_t len)
{
	struct http_client *h = http_client_new(loop, detail, len);
	struct etcd_reply r;
	json_t *j = NULL;
	const char *rev;
	char body[128];
	int rc = -1;

	if (!h)
		return -1;
	if (etcd_post(h, "/v3/kv/range", "{\"key\":\"AA==\"}", &r) < 0) {
		snprintf(detail, len, "etcd range: %ld %s", r.status, r.body);
		goto out;
	}
	j = json_loads(r.body, 0, NULL);
	rev = json_string_value(json_object_get(json_object_get(j, "header"), "revision"));
	if (!rev) {
		snprintf(detail, len, "etcd range: no revision in %s", r.body);
		goto out;
	}
	snprintf(body, sizeof(body), "{\"revision\":\"%s\",\"physical\":true}", rev);
	if (etcd_post(h, "/v3/kv/compaction", body, &r) < 0) {
		snprintf(detail, len, "etcd compaction: %ld %s", r.status, r.body);
		goto out;
	}
	snprintf(detail, len, "compacted at revision %s", rev);
	rc = 0;
out:
	json_decref(j);
	http_client_free(h);
	return rc;
}

static void smoke_relist(void)
{
	static const struct kube_informer_callbacks cbs = {s_add, s_update, s_delete, s_synced, s_error};
	struct kube_informer_stats st;
	struct kube_informer *inf;
	struct kube_event_recorder *rec;
	struct seen s;
	char err[512], detail[512];
	json_t *involved;
	size_t before;

	if (!etcd_url) {
		printf("# skipped 410 relist: no --etcd\n");
		return;
	}
	memset(&s, 0, sizeof(s));
	inf = kube_informer_start(kc, &KUBE_RES_EVENTS, ns, NULL, &cbs, &s, err, sizeof(err));
	check(inf != NULL, "events informer start", err);
	if (!inf)
		return;
	run_until(&s.synced, 1, 300);
	before = json_object_size(kube_informer_cache(inf));
	check(s.synced == 1 && before >= 1, "events informer synced", s.last_error);
	check(etcd_compact(detail, sizeof(detail)) == 0, "etcd compaction", detail);
	printf("# %s\n", detail);
	check(kube_informer_rewatch_from(inf, "1") == 0, "watch events from resourceVersion 1", NULL);
	stats_wait(inf, &st, &st.relists, 1, 300);
	stats_wait(inf, &st, &st.lists, 2, 300);
	snprintf(detail, sizeof(detail), "relists %u lists %u errors %u %s", st.relists, st.lists, st.errors,
		 s.last_error);
	check(st.relists == 1 && st.lists == 2, "410 Expired -> relist", detail);
	check(json_object_size(kube_informer_cache(inf)) == before && s.deletes == 0, "cache unchanged by the relist",
	      NULL);
	/* Still watching after the relist: a new Event arrives as ADDED. */
	rec = kube_events_new(kc, "autoshard-smoke", "smoke-host", NULL, NULL, err, sizeof(err));
	involved = json_pack("{ssss s{ssss}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata", "name", "applied",
			     "namespace", ns);
	if (rec && involved)
		kube_event_record(rec, involved, "Normal", "SmokeAfterRelist", "watching again", err, sizeof(err));
	run_until(&s.adds, (int)before + 1, 300);
	check(s.adds == (int)before + 1 && json_object_size(kube_informer_cache(inf)) == before + 1,
	      "watch after relist: ADDED", s.last_error);
	json_decref(involved);
	kube_events_free(rec);
	kube_informer_stop(inf);
}

/* ---- lease ---- */

struct contender {
	const char *id;
	int leading, started, stopped;
	struct lease_elector *le;
};

static void c_started(void *arg)
{
	struct contender *c = arg;

	c->leading = 1;
	c->started++;
}

static void c_stopped(void *arg)
{
	struct contender *c = arg;

	c->leading = 0;
	c->stopped++;
}

static void c_released(int ok, void *arg)
{
	*(int *)arg = ok ? 1 : -1;
}

static void smoke_lease(void)
{
	struct contender ca = {"smoke-a", 0, 0, 0, NULL}, cb = {"smoke-b", 0, 0, 0, NULL}, *first, *second;
	struct lease_elector_opts o;
	struct answer a;
	char err[512];
	int i, both = 0, released = 0;
	int64_t t0;

	memset(&o, 0, sizeof(o));
	memset(&a, 0, sizeof(a));
	o.ns = ns;
	o.name = "smoke-leader";
	o.lease_duration_ms = 3000;
	o.renew_deadline_ms = 2000;
	o.retry_period_ms = 500;
	o.on_started_leading = c_started;
	o.on_stopped_leading = c_stopped;
	o.identity = ca.id;
	o.arg = &ca;
	ca.le = lease_elector_start(kc, &o, err, sizeof(err));
	o.identity = cb.id;
	o.arg = &cb;
	cb.le = lease_elector_start(kc, &o, err, sizeof(err));
	check(ca.le && cb.le, "two lease contenders", err);
	if (!ca.le || !cb.le)
		return;
	for (i = 0; i < 100 && !ca.leading && !cb.leading; i++)
		evloop_run_once(loop, 100);
	for (i = 0; i < 50; i++) { /* 5 s: several renewals */
		evloop_run_once(loop, 100);
		if (ca.leading && cb.leading)
			both++;
	}
	check(ca.leading + cb.leading == 1 && both == 0, "exactly one holds the lease", NULL);
	first = ca.leading ? &ca : &cb;
	second = ca.leading ? &cb : &ca;
	wait_call(kube_get(kc, &KUBE_RES_LEASES, ns, "smoke-leader", on_answer, &a, err, sizeof(err)), &a, err);
	check(a.ok && strcmp(str_at(a.object, "spec", "holderIdentity"), first->id) == 0 &&
		      json_integer_value(json_object_get(json_object_get(a.object, "spec"), "leaseDurationSeconds")) ==
			      3,
	      "lease object names the holder", a.message);
	reset(&a);

	/* The holder vanishes without releasing: the other waits for expiry. */
	lease_elector_free(first->le);
	first->le = NULL;
	t0 = now_ms();
	for (i = 0; i < 200 && !second->leading; i++)
		evloop_run_once(loop, 100);
	{
		char d[64];

		snprintf(d, sizeof(d), "after %lld ms", (long long)(now_ms() - t0));
		check(second->leading, "the other contender takes over after expiry", d);
		printf("# takeover %s (lease 3 s)\n", d);
	}
	wait_call(kube_get(kc, &KUBE_RES_LEASES, ns, "smoke-leader", on_answer, &a, err, sizeof(err)), &a, err);
	check(a.ok && strcmp(str_at(a.object, "spec", "holderIdentity"), second->id) == 0 &&
		      json_integer_value(json_object_get(json_object_get(a.object, "spec"), "leaseTransitions")) == 1,
	      "lease transitions counted", a.message);
	reset(&a);
	lease_elector_release(second->le, c_released, &released);
	run_until(&released, 1, 100);
	check(released == 1 && second->stopped == 1, "release on shutdown", NULL);
	wait_call(kube_get(kc, &KUBE_RES_LEASES, ns, "smoke-leader", on_answer, &a, err, sizeof(err)), &a, err);
	check(a.ok && strcmp(str_at(a.object, "spec", "holderIdentity"), "") == 0, "released lease has no holder",
	      a.message);
	reset(&a);
	lease_elector_free(second->le);
}

/* ---- events ---- */

static void smoke_events(void)
{
	struct kube_event_recorder *rec;
	struct answer a;
	char err[512];
	unsigned created = 0, patched = 0;
	json_t *cm, *e;
	size_t i;
	int n, ok2 = 0;

	memset(&a, 0, sizeof(a));
	wait_call(kube_get(kc, &KUBE_RES_CONFIGMAPS, ns, "applied", on_answer, &a, err, sizeof(err)), &a, err);
	cm = json_incref(a.object);
	reset(&a);
	rec = kube_events_new(kc, "autoshard-smoke", "smoke-host", NULL, NULL, err, sizeof(err));
	check(rec && cm, "event recorder", err);
	if (!rec || !cm) {
		kube_events_free(rec);
		json_decref(cm);
		return;
	}
	json_object_set_new(cm, "kind", json_string("ConfigMap"));
	json_object_set_new(cm, "apiVersion", json_string("v1"));
	for (n = 0; n < 2; n++)
		kube_event_record(rec, cm, "Warning", "SmokeRepeated", "the same thing again", err, sizeof(err));
	for (n = 0; n < 100; n++) {
		kube_events_counts(rec, &created, &patched);
		if (created == 1 && patched >= 1)
			break;
		evloop_run_once(loop, 100);
	}
	wait_call(kube_list(kc, &KUBE_RES_EVENTS, ns, NULL, "reason=SmokeRepeated", on_answer, &a, err, sizeof(err)),
		  &a, err);
	json_array_foreach(json_object_get(a.object, "items"), i, e)
	{
		if (json_integer_value(json_object_get(e, "count")) == 2 &&
		    strcmp(str_at(e, "involvedObject", "name"), "applied") == 0)
			ok2++;
	}
	check(a.ok && ok2 == 1 && json_array_size(json_object_get(a.object, "items")) == 1,
	      "identical events folded into one with count 2", a.message);
	reset(&a);
	json_decref(cm);
	kube_events_free(rec);
}

static void cleanup_namespace(void)
{
	struct answer a;
	char err[512];

	memset(&a, 0, sizeof(a));
	wait_call(kube_delete(kc, &KUBE_RES_NAMESPACES, NULL, ns, NULL, NULL, NULL, on_answer, &a, err, sizeof(err)),
		  &a, err);
	check(a.ok, "delete namespace", a.message);
	reset(&a);
}

int main(int argc, char **argv)
{
	struct kube_config *cfg = NULL;
	struct kube_client_opts opts;
	const char *kubeconfig = NULL;
	char err[512], nsbuf[64];
	int i;

	snprintf(nsbuf, sizeof(nsbuf), "kube-smoke-%d", (int)getpid());
	ns = nsbuf;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--kubeconfig") == 0 && i + 1 < argc)
			kubeconfig = argv[++i];
		else if (strcmp(argv[i], "--namespace") == 0 && i + 1 < argc)
			ns = argv[++i];
		else if (strcmp(argv[i], "--etcd") == 0 && i + 1 < argc)
			etcd_url = argv[++i];
		else {
			fprintf(stderr,
				"usage: kube_smoke [--kubeconfig FILE] [--namespace NS] [--etcd http://IP:2379]\n");
			return 2;
		}
	}
	if (kubeconfig_load_default(kubeconfig, NULL, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "kube_smoke: %s\n", err);
		return 2;
	}
	loop = evloop_new();
	memset(&opts, 0, sizeof(opts));
	opts.list_page_size = 2;
	opts.watch_timeout_s = 5;
	opts.backoff_initial_ms = 100;
	opts.backoff_max_ms = 2000;
	opts.request_timeout_ms = 15000;
	kc = kube_client_new(loop, cfg, &opts, err, sizeof(err));
	if (!kc) {
		fprintf(stderr, "kube_smoke: %s\n", err);
		return 2;
	}
	printf("# server %s namespace %s\n", cfg->server, ns);
	smoke_lists_and_writes();
	smoke_informer();
	smoke_lease();
	smoke_events();
	smoke_relist();
	cleanup_namespace();
	kube_client_free(kc);
	evloop_free(loop);
	kube_config_free(cfg);
	printf("# %d failed\n", failures);
	return failures ? 1 : 0;
}
