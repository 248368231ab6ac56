/* kube_client, lease elector and event recorder against a fake API server
 * (data/kube/fake_apiserver.py on 127.0.0.1, started here): request paths,
 * verbs, content types and the bearer token; Status messages in errors;
 * optimistic concurrency; delete preconditions; paginated lists including an
 * expired continue token; the informer (synced, add/update/delete, bookmarks,
 * relist on 410, re-watch after a dropped connection); event dedup; two lease
 * contenders. The real apiserver is exercised by tests/k8s. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evloop.h"
#include "kubernetes/events.h"
#include "kubernetes/kube_client.h"
#include "kubernetes/lease.h"
#include "testlib.h"
#include "util.h"

static struct evloop *loop;
static struct kube_client *kc;
static int port;

/* ---- the fake server ---- */

static int from_child = -1, tls_from_child = -1; /* kept open: the server may still write */
static int tls_port;

static pid_t fake_start(int tls, int *to_child, int *from)
{
	int in[2], out[2];
	char buf[32];
	ssize_t n;
	pid_t pid;

	if (pipe(in) < 0 || pipe(out) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		if (tls)
			execl("/usr/bin/python3", "python3", "data/kube/fake_apiserver.py", "--tls", "data/kube/tls",
			      (char *)NULL);
		else
			execl("/usr/bin/python3", "python3", "data/kube/fake_apiserver.py", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	n = read(out[0], buf, sizeof(buf) - 1);
	*from = out[0];
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	*(tls ? &tls_port : &port) = atoi(buf);
	*to_child = in[1];
	return pid;
}

/* ---- one request, waited for ---- */

struct answer {
	int done;
	int ok;
	long status;
	char reason[64];
	char message[1024];
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

static void wait_flag(const int *flag)
{
	int i;

	for (i = 0; i < 400 && !*flag; i++)
		evloop_run_once(loop, 50);
}

static void answer_reset(struct answer *a)
{
	json_decref(a->object);
	memset(a, 0, sizeof(*a));
}

static int waited(struct kube_call *call, struct answer *a, const char *err)
{
	CHECK_MSG(call != NULL, "%s", err);
	if (!call)
		return 0;
	wait_flag(&a->done);
	CHECK(a->done);
	return a->done;
}

/* The fake server's request log (new reference). */
static json_t *server_log(void)
{
	struct answer a;
	char err[256];
	json_t *log;

	memset(&a, 0, sizeof(a));
	waited(kube_request(kc, "GET", "/control/log", NULL, NULL, 0, on_answer, &a, err, sizeof(err)), &a, err);
	log = json_incref(a.object);
	answer_reset(&a);
	return log;
}

static void control(const char *what)
{
	struct answer a;
	char err[256], path[128];

	memset(&a, 0, sizeof(a));
	snprintf(path, sizeof(path), "/control/%s", what);
	waited(kube_request(kc, "POST", path, "application/json", "{}", 2, on_answer, &a, err, sizeof(err)), &a, err);
	CHECK(a.ok);
	answer_reset(&a);
}

/* The last logged request whose path starts with prefix (borrowed from log). */
static json_t *last_request(json_t *log, const char *method, const char *prefix)
{
	json_t *found = NULL, *e;
	size_t i;

	json_array_foreach(log, i, e)
	{
		const char *m = json_string_value(json_object_get(e, "method"));
		const char *p = json_string_value(json_object_get(e, "path"));

		if (m && p && strcmp(m, method) == 0 && strncmp(p, prefix, strlen(prefix)) == 0)
			found = e;
	}
	return found;
}

static json_t *configmap(const char *name, const char *value)
{
	return json_pack("{sssss{ssss}s{ss}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata", "name", name,
			 "namespace", "ns1", "data", "k", value);
}

static const char *data_k(const json_t *obj)
{
	const char *s = json_string_value(json_object_get(json_object_get(obj, "data"), "k"));

	return s ? s : "";
}

static const char *meta(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), key));

	return s ? s : "";
}

static void test_requests(void)
{
	struct answer a;
	char err[512], rv[32];
	json_t *obj, *log, *e;

	memset(&a, 0, sizeof(a));
	obj = configmap("a", "1");
	waited(kube_create(kc, &KUBE_RES_CONFIGMAPS, "ns1", obj, on_answer, &a, err, sizeof(err)), &a, err);
	CHECK_MSG(a.ok && a.status == 201 && strcmp(meta(a.object, "uid"), "uid-a") == 0, "%ld %s", a.status,
		  a.message);
	answer_reset(&a);
	/* Again: AlreadyExists with the server's message. */
	waited(kube_create(kc, &KUBE_RES_CONFIGMAPS, "ns1", obj, on_answer, &a, err, sizeof(err)), &a, err);
	CHECK(!a.ok && a.status == 409 && strcmp(a.reason, "AlreadyExists") == 0);
	CHECK_MSG(strcmp(a.message, "\"a\" already exists") == 0, "%s", a.message);
	answer_reset(&a);
	json_decref(obj);

	waited(kube_get(kc, &KUBE_RES_CONFIGMAPS, "ns1", "a", on_answer, &a, err, sizeof(err)), &a, err);
	CHECK(a.ok && strcmp(data_k(a.object), "1") == 0);
	snprintf(rv, sizeof(rv), "%s", meta(a.object, "resourceVersion"));
	answer_reset(&a);
	waited(kube_get(kc, &KUBE_RES_CONFIGMAPS, "ns1", "zz", on_answer, &a, err, sizeof(err)), &a, err);
	CHECK(!a.ok && a.status == 404 && strcmp(a.reason, "NotFound") == 0);
	CHECK_MSG(strcmp(a.message, "configmaps \"zz\" not found") == 0, "%s", a.message);
	answer_reset(&a);

	/* Validation errors carry the API's message. */
	control("reject-name?name=bad");
	obj = configmap("bad", "1");
	waited(kube_create(kc, &KUBE_RES_CONFIGMAPS, "ns1", obj, on_answer, &a, err, sizeof(err)), &a, err);
	CHECK(!a.ok && a.status == 422 && strcmp(a.reason, "Invalid") == 0);
	CHECK_MSG(strcmp(a.message, "ConfigMap \"bad\" is invalid: data: Invalid value") == 0, "%s", a.message);
	answer_reset(&a);
	json_decref(obj);

	/* Replace: a stale resourceVersion conflicts, the current one wins. */
	obj = configmap("a", "2");
	json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion", json_string("1"));
	waited(kube_replace(kc, &KUBE_RES_CONFIGMAPS, "ns1", "a", obj, on_answer, &a, err, sizeof(err)), &a, err);
	CHECK(!a.ok && a.status == 409 && strcmp(a.reason, "Conflict") == 0 && strstr(a.message, "has been modified"));
	answer_reset(&a);
	json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion", json_string(rv));
	waited(kube_replace(kc, &KUBE_RES_CONFIGMAPS, "ns1", "a", obj, on_answer, &a, err, sizeof(err)), &a, err);
	CHECK_MSG(a.ok && strcmp(data_k(a.object), "2") == 0, "%s", a.message);
	answer_reset(&a);
	json_decref(obj);

	/* Merge patch, on the object and on its status subresource. */
	obj = json_pack("{s{ss}}", "data", "k", "3");
	waited(kube_merge_patch(kc, &KUBE_RES_CONFIGMAPS, "ns1", "a", NULL, obj, on_answer, &a, err, sizeof(err)), &a,
	       err);
	CHECK(a.ok && strcmp(data_k(a.object), "3") == 0);
	answer_reset(&a);
	waited(kube_merge_patch(kc, &KUBE_RES_CONFIGMAPS, "ns1", "a", "status", obj, on_answer, &a, err, sizeof(err)),
	       &a, err);
	CHECK(a.ok);
	answer_reset(&a);
	json_decref(obj);

	/* Server-side apply. */
	obj = configmap("applied", "x");
	waited(kube_apply(kc, &KUBE_RES_CONFIGMAPS, "ns1", "applied", NULL, obj, "autoshard test", 1, on_answer, &a,
			  err, sizeof(err)),
	       &a, err);
	CHECK(a.ok && strcmp(data_k(a.object), "x") == 0);
	answer_reset(&a);
	CHECK(kube_apply(kc, &KUBE_RES_CONFIGMAPS, "ns1", "applied", NULL, obj, NULL, 1, on_answer, &a, err,
			 sizeof(err)) == NULL);
	CHECK(kube_get(kc, &KUBE_RES_CONFIGMAPS, "ns1", "../x", on_answer, &a, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "bad object name") != NULL);
	json_decref(obj);

	/* Delete with preconditions. */
	waited(kube_delete(kc, &KUBE_RES_CONFIGMAPS, "ns1", "applied", "uid-wrong", NULL, "Background", on_answer, &a,
			   err, sizeof(err)),
	       &a, err);
	CHECK(!a.ok && a.status == 409 && strstr(a.message, "the UID in the precondition (uid-wrong) does not match"));
	answer_reset(&a);
	waited(kube_delete(kc, &KUBE_RES_CONFIGMAPS, "ns1", "applied", "uid-applied", NULL, NULL, on_answer, &a, err,
			   sizeof(err)),
	       &a, err);
	CHECK(a.ok);
	answer_reset(&a);

	/* What went over the wire. */
	log = server_log();
	e = last_request(log, "PATCH", "/api/v1/namespaces/ns1/configmaps/applied?");
	CHECK(e && strcmp(json_string_value(json_object_get(e, "path")),
			  "/api/v1/namespaces/ns1/configmaps/applied?fieldManager=autoshard%20test&force=true") == 0);
	CHECK(e && strcmp(json_string_value(json_object_get(e, "ctype")), "application/apply-patch+yaml") == 0);
	CHECK(e && strcmp(json_string_value(json_object_get(e, "auth")), "Bearer test-token") == 0);
	e = last_request(log, "PATCH", "/api/v1/namespaces/ns1/configmaps/a/status");
	CHECK(e && strcmp(json_string_value(json_object_get(e, "ctype")), "application/merge-patch+json") == 0);
	e = last_request(log, "DELETE", "/api/v1/namespaces/ns1/configmaps/applied");
	CHECK(e &&
	      strstr(json_string_value(json_object_get(e, "body")), "\"preconditions\":{\"uid\":\"uid-applied\"}"));
	e = last_request(log, "DELETE", "/api/v1/namespaces/ns1/configmaps/applied");
	json_decref(log);
}

static void test_list_pages(void)
{
	struct answer a;
	char err[512], name[16];
	json_t *obj, *log, *e;
	size_t i;
	int pages = 0;

	memset(&a, 0, sizeof(a));
	for (i = 0; i < 4; i++) { /* with "a": 5 objects */
		snprintf(name, sizeof(name), "p%zu", i);
		obj = configmap(name, "v");
		waited(kube_create(kc, &KUBE_RES_CONFIGMAPS, "ns1", obj, on_answer, &a, err, sizeof(err)), &a, err);
		answer_reset(&a);
		json_decref(obj);
	}
	waited(kube_list(kc, &KUBE_RES_CONFIGMAPS, "ns1", NULL, NULL, on_answer, &a, err, sizeof(err)), &a, err);
	CHECK(a.ok && json_array_size(json_object_get(a.object, "items")) == 5);
	CHECK(json_string_length(json_object_get(a.object, "resourceVersion")) > 0);
	answer_reset(&a);
	log = server_log();
	json_array_foreach(log, i, e)
	{
		const char *p = json_string_value(json_object_get(e, "path"));

		if (p && strncmp(p, "/api/v1/namespaces/ns1/configmaps?limit=2", 41) == 0)
			pages++;
	}
	CHECK_MSG(pages == 3, "%d pages", pages);
	json_decref(log);

	/* An expired continue token: the list starts over and still completes. */
	control("expire-next-continue");
	waited(kube_list(kc, &KUBE_RES_CONFIGMAPS, "ns1", NULL, NULL, on_answer, &a, err, sizeof(err)), &a, err);
	CHECK_MSG(a.ok && json_array_size(json_object_get(a.object, "items")) == 5, "%s", a.message);
	answer_reset(&a);
}

/* ---- informer ---- */

struct seen {
	int adds, updates, deletes, synced, errors;
	char last_update[32];
	struct kube_informer *stop_me; /* stop from on_delete */
};

static void s_add(const json_t *o, void *arg)
{
	(void)o;
	((struct seen *)arg)->adds++;
}

static void s_update(const json_t *old, const json_t *o, void *arg)
{
	struct seen *s = arg;

	(void)old;
	s->updates++;
	snprintf(s->last_update, sizeof(s->last_update), "%s", data_k(o));
}

static void s_delete(const json_t *o, void *arg)
{
	struct seen *s = arg;

	(void)o;
	s->deletes++;
	if (s->stop_me) {
		kube_informer_stop(s->stop_me);
		s->stop_me = NULL;
	}
}

static void s_synced(void *arg)
{
	((struct seen *)arg)->synced++;
}

static void s_error(const char *msg, void *arg)
{
	(void)msg;
	((struct seen *)arg)->errors++;
}

static void wait_count(const int *v, int want)
{
	int i;

	for (i = 0; i < 400 && *v < want; i++)
		evloop_run_once(loop, 50);
}

static void test_informer(void)
{
	static const struct kube_informer_callbacks cbs = {s_add, s_update, s_delete, s_synced, s_error};
	struct kube_informer_stats st;
	struct kube_informer *inf;
	struct seen s;
	struct answer a;
	char err[512];
	json_t *obj;
	unsigned watches;

	memset(&s, 0, sizeof(s));
	memset(&a, 0, sizeof(a));
	inf = kube_informer_start(kc, &KUBE_RES_CONFIGMAPS, "ns1", NULL, &cbs, &s, err, sizeof(err));
	CHECK_MSG(inf != NULL, "%s", err);
	if (!inf)
		return;
	wait_count(&s.synced, 1);
	CHECK(s.synced == 1 && s.adds == 5 && kube_informer_synced(inf));
	CHECK(kube_informer_get(inf, "ns1", "a") && strcmp(data_k(kube_informer_get(inf, "ns1", "a")), "3") == 0);

	/* Changes arrive through the watch. */
	obj = configmap("w1", "new");
	waited(kube_create(kc, &KUBE_RES_CONFIGMAPS, "ns1", obj, on_answer, &a, err, sizeof(err)), &a, err);
	answer_reset(&a);
	json_decref(obj);
	wait_count(&s.adds, 6);
	CHECK(s.adds == 6 && kube_informer_get(inf, "ns1", "w1"));
	obj = json_pack("{s{ss}}", "data", "k", "changed");
	waited(kube_merge_patch(kc, &KUBE_RES_CONFIGMAPS, "ns1", "w1", NULL, obj, on_answer, &a, err, sizeof(err)), &a,
	       err);
	answer_reset(&a);
	json_decref(obj);
	wait_count(&s.updates, 1);
	CHECK(s.updates == 1 && strcmp(s.last_update, "changed") == 0);
	waited(kube_delete(kc, &KUBE_RES_CONFIGMAPS, "ns1", "p0", NULL, NULL, NULL, on_answer, &a, err, sizeof(err)),
	       &a, err);
	answer_reset(&a);
	wait_count(&s.deletes, 1);
	CHECK(s.deletes == 1 && kube_informer_get(inf, "ns1", "p0") == NULL);
	CHECK(json_object_size(kube_informer_cache(inf)) == 5);

	/* Bookmarks move the resourceVersion. */
	kube_informer_get_stats(inf, &st);
	{
		int i;

		for (i = 0; i < 100 && st.bookmarks == 0; i++) {
			evloop_run_once(loop, 50);
			kube_informer_get_stats(inf, &st);
		}
	}
	CHECK(st.bookmarks > 0);
	CHECK(st.lists == 1 && st.relists == 0);

	/* Watching from a compacted version: ERROR 410, relist, cache intact. */
	control("compact");
	CHECK(kube_informer_rewatch_from(inf, "1") == 0);
	{
		int i;

		for (i = 0; i < 200 && st.relists == 0; i++) {
			evloop_run_once(loop, 50);
			kube_informer_get_stats(inf, &st);
		}
		for (i = 0; i < 200 && st.lists < 2; i++) {
			evloop_run_once(loop, 50);
			kube_informer_get_stats(inf, &st);
		}
	}
	CHECK_MSG(st.relists == 1 && st.lists == 2, "relists %u lists %u", st.relists, st.lists);
	CHECK(json_object_size(kube_informer_cache(inf)) == 5 && s.adds == 6 && s.deletes == 1);

	/* A dropped connection: an error, then a new watch from the same version.
	 * First make sure the new watch is being served (a bookmark came). */
	{
		unsigned b = st.bookmarks;
		int i;

		for (i = 0; i < 200 && st.bookmarks == b; i++) {
			evloop_run_once(loop, 50);
			kube_informer_get_stats(inf, &st);
		}
		CHECK(st.bookmarks > b);
	}
	watches = st.watches;
	control("close-watches");
	{
		int i;

		for (i = 0; i < 200 && st.watches <= watches; i++) {
			evloop_run_once(loop, 50);
			kube_informer_get_stats(inf, &st);
		}
	}
	CHECK_MSG(st.watches > watches, "watches %u -> %u", watches, st.watches);
	obj = configmap("w2", "after");
	waited(kube_create(kc, &KUBE_RES_CONFIGMAPS, "ns1", obj, on_answer, &a, err, sizeof(err)), &a, err);
	answer_reset(&a);
	json_decref(obj);
	wait_count(&s.adds, 7);
	CHECK(s.adds == 7);

	/* Stop from inside a callback. */
	s.stop_me = inf;
	waited(kube_delete(kc, &KUBE_RES_CONFIGMAPS, "ns1", "w2", NULL, NULL, NULL, on_answer, &a, err, sizeof(err)),
	       &a, err);
	answer_reset(&a);
	wait_count(&s.deletes, 2);
	CHECK(s.deletes == 2 && s.stop_me == NULL);
	{
		int i;

		for (i = 0; i < 5; i++)
			evloop_run_once(loop, 20);
	}
}

/* ---- events ---- */

static void test_events(void)
{
	struct kube_event_recorder *rec;
	struct answer a;
	char err[512];
	json_t *involved, *items, *e;
	unsigned created = 0, patched = 0;
	size_t i;
	int found3 = 0, found1 = 0, n;

	memset(&a, 0, sizeof(a));
	rec = kube_events_new(kc, "autoshard-test", "pod-0", NULL, NULL, err, sizeof(err));
	CHECK(rec != NULL);
	if (!rec)
		return;
	involved = json_pack("{ssss s{ssssssss}}", "apiVersion", "autoshard.io/v1alpha1", "kind", "ValkeyCluster",
			     "metadata", "name", "vc", "namespace", "ns1", "uid", "u-vc", "resourceVersion", "5");
	for (n = 0; n < 3; n++)
		CHECK(kube_event_record(rec, involved, "Warning", "Degraded", "shard 2 has no replica", err,
					sizeof(err)) == 0);
	CHECK(kube_event_record(rec, involved, "Sometimes", "X", "y", err, sizeof(err)) < 0);
	for (n = 0; n < 200; n++) {
		kube_events_counts(rec, &created, &patched);
		if (created == 1 && patched >= 1)
			break;
		evloop_run_once(loop, 50);
	}
	CHECK(kube_event_record(rec, involved, "Normal", "Healthy", "all shards covered", err, sizeof(err)) == 0);
	for (n = 0; n < 200; n++) {
		kube_events_counts(rec, &created, &patched);
		if (created == 2)
			break;
		evloop_run_once(loop, 50);
	}
	CHECK_MSG(created == 2 && patched >= 1, "created %u patched %u", created, patched);
	waited(kube_list(kc, &KUBE_RES_EVENTS, "ns1", NULL, NULL, on_answer, &a, err, sizeof(err)), &a, err);
	items = json_object_get(a.object, "items");
	CHECK(json_array_size(items) == 2);
	json_array_foreach(items, i, e)
	{
		const char *reason = json_string_value(json_object_get(e, "reason"))
					     ? json_string_value(json_object_get(e, "reason"))
					     : "";
		json_int_t count = json_integer_value(json_object_get(e, "count"));

		if (strcmp(reason, "Degraded") == 0 && count == 3 &&
		    strcmp(json_string_value(json_object_get(e, "type")), "Warning") == 0 &&
		    strcmp(meta(json_object_get(e, "involvedObject"), "x"), "") == 0 &&
		    strcmp(json_string_value(json_object_get(json_object_get(e, "involvedObject"), "uid")), "u-vc") ==
			    0)
			found3++;
		if (strcmp(reason, "Healthy") == 0 && count == 1)
			found1++;
	}
	CHECK(found3 == 1 && found1 == 1);
	answer_reset(&a);
	json_decref(involved);
	kube_events_free(rec);
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

static void test_lease(void)
{
	struct contender ca = {"pod-a", 0, 0, 0, NULL}, cb = {"pod-b", 0, 0, 0, NULL};
	struct contender *first, *second;
	struct lease_elector_opts o;
	struct answer a;
	char err[512];
	int i, both = 0, released = 0;

	memset(&o, 0, sizeof(o));
	memset(&a, 0, sizeof(a));
	o.ns = "ns1";
	o.name = "autoshard-leader";
	o.lease_duration_ms = 1500;
	o.renew_deadline_ms = 1000;
	o.retry_period_ms = 200;
	o.on_started_leading = c_started;
	o.on_stopped_leading = c_stopped;
	o.identity = ca.id;
	o.arg = &ca;
	ca.le = lease_elector_start(kc, &o, err, sizeof(err));
	o.identity = cb.id;
	o.arg = &cb;
	cb.le = lease_elector_start(kc, &o, err, sizeof(err));
	CHECK(ca.le && cb.le);
	for (i = 0; i < 100 && !ca.leading && !cb.leading; i++)
		evloop_run_once(loop, 50);
	/* Exactly one leads, through several renewals. */
	for (i = 0; i < 40; i++) {
		evloop_run_once(loop, 50);
		if (ca.leading && cb.leading)
			both++;
	}
	CHECK(both == 0);
	CHECK(ca.leading + cb.leading == 1);
	CHECK(lease_elector_is_leader(ca.le) == ca.leading && lease_elector_is_leader(cb.le) == cb.leading);
	first = ca.leading ? &ca : &cb;
	second = ca.leading ? &cb : &ca;
	CHECK(first->started == 1 && second->started == 0);

	/* The leader dies without releasing: the other takes over after expiry. */
	lease_elector_free(first->le);
	first->le = NULL;
	for (i = 0; i < 200 && !second->leading; i++)
		evloop_run_once(loop, 50);
	CHECK(second->leading && second->started == 1);
	waited(kube_get(kc, &KUBE_RES_LEASES, "ns1", "autoshard-leader", on_answer, &a, err, sizeof(err)), &a, err);
	CHECK(a.ok &&
	      strcmp(json_string_value(json_object_get(json_object_get(a.object, "spec"), "holderIdentity")),
		     second->id) == 0 &&
	      json_integer_value(json_object_get(json_object_get(a.object, "spec"), "leaseTransitions")) == 1);
	answer_reset(&a);

	/* Release on shutdown clears the holder. */
	lease_elector_release(second->le, c_released, &released);
	CHECK(second->stopped == 1 && !second->leading);
	wait_flag(&released);
	CHECK(released == 1);
	waited(kube_get(kc, &KUBE_RES_LEASES, "ns1", "autoshard-leader", on_answer, &a, err, sizeof(err)), &a, err);
	CHECK(a.ok &&
	      strcmp(json_string_value(json_object_get(json_object_get(a.object, "spec"), "holderIdentity")), "") == 0);
	answer_reset(&a);
	lease_elector_free(second->le);
	lease_elector_free(NULL);
}

/* ---- TLS: CA, client certificate and key from memory or files ---- */

static char *b64_file(const char *path)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len, i, o = 0;
	char *in = test_slurp(path, &len), *out;

	if (!in)
		return NULL;
	out = malloc(len / 3 * 4 + 8);
	for (i = 0; out && i < len; i += 3) {
		unsigned v = (unsigned char)in[i] << 16;

		if (i + 1 < len)
			v |= (unsigned char)in[i + 1] << 8;
		if (i + 2 < len)
			v |= (unsigned char)in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	if (out)
		out[o] = '\0';
	free(in);
	return out;
}

/* One GET of a missing ConfigMap over TLS with the given user/CA lines. */
static void tls_get(const char *cluster_extra, const char *user, struct answer *a)
{
	struct kube_config *cfg = NULL;
	struct kube_client *tc = NULL;
	char *yaml = malloc(16384), err[512];
	int i;

	memset(a, 0, sizeof(*a));
	snprintf(yaml, 16384,
		 "current-context: t\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:%d'%s}}]\n"
		 "contexts: [{name: t, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {%s}}]\n",
		 tls_port, cluster_extra, user);
	if (kubeconfig_parse(yaml, strlen(yaml), "data/kube/tls", NULL, &cfg, err, sizeof(err)) < 0 ||
	    !(tc = kube_client_new(loop, cfg, NULL, err, sizeof(err)))) {
		snprintf(a->message, sizeof(a->message), "setup: %s", err);
		goto out;
	}
	if (!kube_get(tc, &KUBE_RES_CONFIGMAPS, "ns1", "zz", on_answer, a, err, sizeof(err))) {
		snprintf(a->message, sizeof(a->message), "start: %s", err);
		goto out;
	}
	for (i = 0; i < 400 && !a->done; i++)
		evloop_run_once(loop, 50);
out:
	kube_client_free(tc);
	kube_config_free(cfg);
	free(yaml);
}

static void test_tls(void)
{
	char *ca = b64_file("data/kube/tls/ca.crt"), *cert = b64_file("data/kube/tls/client.crt");
	char *key = b64_file("data/kube/tls/client.key"), *other = b64_file("data/kube/tls/other-ca.crt");
	char *cl = malloc(8192), *us = malloc(8192);
	struct answer a;

	CHECK(ca && cert && key && other && cl && us);
	if (!ca || !cert || !key || !other || !cl || !us)
		goto out;
	/* Everything embedded (*-data): the request reaches the server. */
	snprintf(cl, 8192, ", certificate-authority-data: %s", ca);
	snprintf(us, 8192, "client-certificate-data: %s, client-key-data: %s", cert, key);
	tls_get(cl, us, &a);
	CHECK_MSG(a.done && a.status == 404 && strcmp(a.reason, "NotFound") == 0, "data: %ld %s", a.status, a.message);
	answer_reset(&a);
	/* The same from files (relative to the kubeconfig's directory). */
	tls_get(", certificate-authority: ca.crt", "client-certificate: client.crt, client-key: client.key", &a);
	CHECK_MSG(a.done && a.status == 404, "files: %ld %s", a.status, a.message);
	answer_reset(&a);
	/* A CA that did not sign the server: refused before any request. */
	snprintf(cl, 8192, ", certificate-authority-data: %s", other);
	tls_get(cl, us, &a);
	CHECK_MSG(a.done && !a.ok && a.status == 0 && strstr(a.message, "GET https://127.0.0.1:"), "%s", a.message);
	answer_reset(&a);
	/* No client certificate: the server refuses the handshake. */
	snprintf(cl, 8192, ", certificate-authority-data: %s", ca);
	tls_get(cl, "token: abc", &a);
	CHECK_MSG(a.done && !a.ok && a.status == 0, "%ld %s", a.status, a.message);
	CHECK(strstr(a.message, "abc") == NULL);
	answer_reset(&a);
	/* insecure-skip-tls-verify with the wrong CA still connects. */
	tls_get(", insecure-skip-tls-verify: true", us, &a);
	CHECK_MSG(a.done && a.status == 404, "insecure: %ld %s", a.status, a.message);
	answer_reset(&a);
out:
	free(ca);
	free(cert);
	free(key);
	free(other);
	free(cl);
	free(us);
}

int main(void)
{
	struct kube_config *cfg = NULL;
	struct kube_client_opts opts;
	char yaml[512], err[512];
	int to_child = -1, st;
	pid_t pid;

	signal(SIGPIPE, SIG_IGN);
	pid = fake_start(0, &to_child, &from_child);
	CHECK_MSG(pid > 0 && port > 0, "cannot start data/kube/fake_apiserver.py");
	if (pid <= 0 || port <= 0)
		return TEST_DONE();
	snprintf(yaml, sizeof(yaml),
		 "current-context: t\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:%d'}}]\n"
		 "contexts: [{name: t, context: {cluster: c, user: u, namespace: ns1}}]\n"
		 "users: [{name: u, user: {token: test-token}}]\n",
		 port);
	CHECK_MSG(kubeconfig_parse(yaml, strlen(yaml), NULL, NULL, &cfg, err, sizeof(err)) == 0, "%s", err);
	loop = evloop_new();
	memset(&opts, 0, sizeof(opts));
	opts.list_page_size = 2;
	opts.backoff_initial_ms = 50;
	opts.backoff_max_ms = 400;
	opts.watch_timeout_s = 30;
	opts.request_timeout_ms = 10000;
	kc = cfg ? kube_client_new(loop, cfg, &opts, err, sizeof(err)) : NULL;
	CHECK_MSG(kc != NULL, "%s", err);
	if (kc) {
		test_requests();
		test_list_pages();
		test_informer();
		test_events();
		test_lease();
	}
	{
		int tls_to = -1, st2;
		pid_t tpid = fake_start(1, &tls_to, &tls_from_child);

		CHECK_MSG(tpid > 0 && tls_port > 0, "cannot start the TLS fake server");
		if (tpid > 0 && tls_port > 0)
			test_tls();
		if (tpid > 0) {
			close(tls_to);
			close(tls_from_child);
			kill(tpid, SIGTERM);
			waitpid(tpid, &st2, 0);
		}
	}
	kube_client_free(kc);
	evloop_free(loop);
	kube_config_free(cfg);
	close(to_child);
	close(from_child);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	return TEST_DONE();
}
