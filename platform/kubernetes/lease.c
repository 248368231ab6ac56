/* Lease leader election. See lease.h.
 *
 * The elector ticks every retry period (one evloop timer). A tick first checks
 * the renew deadline, then, unless a request is still in flight, makes one
 * attempt:
 *
 *   leader with the object of its last write --PUT renew--> ok: renewed
 *   otherwise --GET--> 404: POST create | lease_decide: PUT acquire/renew | WAIT
 *
 * A failed write drops the cached object so the next tick reads again. */
#include "kubernetes/lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* ---- pure part ---- */

void lease_format_microtime(int64_t wall_us, char *buf, size_t len)
{
	time_t secs = (time_t)(wall_us / 1000000);
	struct tm tm;
	char base[32];

	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06lldZ", base, (long long)(wall_us % 1000000));
}

static const char *spec_str(const json_t *spec, const char *key)
{
	const char *s = json_string_value(json_object_get(spec, key));

	return s ? s : "";
}

enum lease_action lease_decide(const json_t *lease, int64_t now_ms, const char *identity, struct lease_observation *obs,
			       int64_t default_duration_ms)
{
	const json_t *spec, *dur;
	const char *holder;
	char record[sizeof(obs->record)];
	int64_t duration_ms;

	if (!lease)
		return LEASE_CREATE;
	spec = json_object_get(lease, "spec");
	holder = spec_str(spec, "holderIdentity");
	dur = json_object_get(spec, "leaseDurationSeconds");
	duration_ms = json_is_integer(dur) && json_integer_value(dur) > 0 ? json_integer_value(dur) * 1000
									  : default_duration_ms;
	snprintf(record, sizeof(record), "%s|%lld|%s|%s|%lld", holder, (long long)duration_ms,
		 spec_str(spec, "acquireTime"), spec_str(spec, "renewTime"),
		 (long long)json_integer_value(json_object_get(spec, "leaseTransitions")));
	if (strcmp(record, obs->record) != 0) {
		/* A new record: its age counts from now, on our clock. */
		snprintf(obs->record, sizeof(obs->record), "%s", record);
		snprintf(obs->holder, sizeof(obs->holder), "%s", holder);
		obs->observed_ms = now_ms;
	}
	if (!*holder)
		return LEASE_ACQUIRE;
	if (strcmp(holder, identity) == 0)
		return LEASE_RENEW;
	if (obs->observed_ms + duration_ms > now_ms)
		return LEASE_WAIT;
	return LEASE_ACQUIRE;
}

json_t *lease_build(const json_t *current, const char *ns, const char *name, const char *identity, int64_t duration_ms,
		    enum lease_action action, int release, int64_t now_wall_us)
{
	json_t *obj = NULL, *spec, *meta;
	const char *old_holder;
	json_int_t transitions;
	char now[48];
	int ok = 1;

	lease_format_microtime(now_wall_us, now, sizeof(now));
	if (current) {
		obj = json_deep_copy(current);
	} else {
		obj = json_pack("{sssss{ssss}s{}}", "apiVersion", "coordination.k8s.io/v1", "kind", "Lease", "metadata",
				"name", name, "namespace", ns, "spec");
	}
	if (!obj)
		return NULL;
	meta = json_object_get(obj, "metadata");
	if (json_is_object(meta))
		json_object_del(meta, "managedFields"); /* not ours to send back */
	spec = json_object_get(obj, "spec");
	if (!json_is_object(spec)) {
		if (json_object_set_new(obj, "spec", json_object()) < 0)
			goto fail;
		spec = json_object_get(obj, "spec");
	}
	old_holder = spec_str(spec, "holderIdentity");
	transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
	if (release) {
		ok &= json_object_set_new(spec, "holderIdentity", json_string("")) == 0;
		ok &= json_object_set_new(spec, "leaseDurationSeconds", json_integer(1)) == 0;
		ok &= json_object_set_new(spec, "acquireTime", json_string(now)) == 0;
		ok &= json_object_set_new(spec, "renewTime", json_string(now)) == 0;
		ok &= json_object_set_new(spec, "leaseTransitions", json_integer(transitions)) == 0;
		goto out;
	}
	if (action == LEASE_WAIT)
		goto fail;
	if (action == LEASE_CREATE)
		transitions = 0;
	else if (strcmp(old_holder, identity) != 0)
		transitions++;
	if (action != LEASE_RENEW || !json_is_string(json_object_get(spec, "acquireTime")) ||
	    strcmp(old_holder, identity) != 0)
		ok &= json_object_set_new(spec, "acquireTime", json_string(now)) == 0;
	/* old_holder is not used below: the next line may free it. */
	ok &= json_object_set_new(spec, "holderIdentity", json_string(identity)) == 0;
	ok &= json_object_set_new(spec, "leaseDurationSeconds", json_integer((duration_ms + 999) / 1000)) == 0;
	ok &= json_object_set_new(spec, "renewTime", json_string(now)) == 0;
	ok &= json_object_set_new(spec, "leaseTransitions", json_integer(transitions)) == 0;
out:
	if (ok)
		return obj;
fail:
	json_decref(obj);
	return NULL;
}

/* ---- the elector ---- */

struct lease_elector {
	struct kube_client *kc;
	struct lease_elector_opts o;
	char *ns, *name, *identity;
	struct lease_observation obs;
	char last_holder[LEASE_IDENTITY_MAX];
	int leader;
	int64_t last_renew_ms;
	json_t *last_written; /* the server's copy after our last successful write */
	struct kube_call *call;
	int64_t timer_id;
	int releasing;
	void (*release_done)(int ok, void *arg);
	void *release_arg;
	int busy, freed;
};

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void elector_destroy(struct lease_elector *le)
{
	kube_call_cancel(le->call);
	free(le->ns);
	free(le->name);
	free(le->identity);
	json_decref(le->last_written);
	free(le);
}

/* Leave a callback: 1 when the elector was freed meanwhile. */
static int le_leave(struct lease_elector *le)
{
	if (--le->busy == 0 && le->freed) {
		elector_destroy(le);
		return 1;
	}
	return 0;
}

static void le_error(struct lease_elector *le, const char *what, const char *msg)
{
	char buf[1400];

	if (!le->o.on_error || le->freed)
		return;
	snprintf(buf, sizeof(buf), "lease %s/%s: %s: %s", le->ns, le->name, what, msg);
	le->o.on_error(buf, le->o.arg);
}

static void le_lost(struct lease_elector *le)
{
	if (!le->leader)
		return;
	le->leader = 0;
	json_decref(le->last_written);
	le->last_written = NULL;
	if (le->o.on_stopped_leading && !le->freed)
		le->o.on_stopped_leading(le->o.arg);
}

static void le_note_holder(struct lease_elector *le, const char *holder)
{
	if (strcmp(le->last_holder, holder) == 0)
		return;
	snprintf(le->last_holder, sizeof(le->last_holder), "%s", holder);
	if (le->o.on_new_leader && !le->freed)
		le->o.on_new_leader(holder, le->o.arg);
}

static void le_on_write(const struct kube_result *res, void *arg)
{
	struct lease_elector *le = arg;
	struct lease_observation scratch;

	le->call = NULL;
	le->busy++;
	if (le->freed || le->releasing)
		goto out;
	if (!res->ok) {
		json_decref(le->last_written);
		le->last_written = NULL;
		le_error(le, res->status == 409 ? "lost a write race" : "write failed", res->message);
		goto out;
	}
	json_decref(le->last_written);
	le->last_written = json_incref(res->object);
	le->last_renew_ms = now_ms();
	/* Our own record is the one observed now. */
	scratch = le->obs;
	(void)lease_decide(res->object, le->last_renew_ms, le->identity, &scratch, le->o.lease_duration_ms);
	le->obs = scratch;
	le_note_holder(le, le->identity);
	if (!le->leader && !le->freed) {
		le->leader = 1;
		if (le->o.on_started_leading)
			le->o.on_started_leading(le->o.arg);
	}
out:
	le_leave(le);
}

static void le_write(struct lease_elector *le, const json_t *current, enum lease_action action)
{
	char err[512];
	json_t *obj = lease_build(current, le->ns, le->name, le->identity, le->o.lease_duration_ms, action, 0,
				  wall_us());

	if (!obj) {
		le_error(le, "build", "out of memory");
		return;
	}
	if (action == LEASE_CREATE)
		le->call = kube_create(le->kc, &KUBE_RES_LEASES, le->ns, obj, le_on_write, le, err, sizeof(err));
	else
		le->call = kube_replace(le->kc, &KUBE_RES_LEASES, le->ns, le->name, obj, le_on_write, le, err,
					sizeof(err));
	if (!le->call)
		le_error(le, "write", err);
	json_decref(obj);
}

static void le_on_get(const struct kube_result *res, void *arg)
{
	struct lease_elector *le = arg;
	enum lease_action a;

	le->call = NULL;
	le->busy++;
	if (le->freed || le->releasing)
		goto out;
	if (!res->ok && res->status != 404) {
		le_error(le, "read failed", res->message);
		goto out;
	}
	a = lease_decide(res->ok ? res->object : NULL, now_ms(), le->identity, &le->obs, le->o.lease_duration_ms);
	if (res->ok)
		le_note_holder(le, le->obs.holder);
	if (a == LEASE_WAIT) {
		le_lost(le); /* someone else holds it: whatever we thought, we are not leading */
		goto out;
	}
	le_write(le, res->ok ? res->object : NULL, a);
out:
	le_leave(le);
}

static int64_t le_tick(struct evloop *loop, int64_t id, void *arg)
{
	struct lease_elector *le = arg;
	char err[512];
	int64_t again = le->o.retry_period_ms;

	(void)loop;
	(void)id;
	le->busy++;
	if (le->leader && now_ms() - le->last_renew_ms >= le->o.renew_deadline_ms) {
		le_error(le, "renew", "no successful renewal within the renew deadline; leadership lost");
		kube_call_cancel(le->call);
		le->call = NULL;
		le_lost(le);
	}
	if (le->freed || le->releasing || le->call)
		goto out;
	if (le->leader && le->last_written) {
		le_write(le, le->last_written, LEASE_RENEW);
	} else {
		le->call = kube_get(le->kc, &KUBE_RES_LEASES, le->ns, le->name, le_on_get, le, err, sizeof(err));
		if (!le->call)
			le_error(le, "read", err);
	}
out:
	if (le->freed || le->releasing) {
		le->timer_id = 0;
		again = 0;
	}
	le_leave(le);
	return again;
}

struct lease_elector *lease_elector_start(struct kube_client *kc, const struct lease_elector_opts *opts, char *err,
					  size_t errlen)
{
	struct lease_elector *le = NULL;

	if (!kc || !opts || !opts->ns || !opts->name || !opts->identity || !*opts->identity ||
	    strlen(opts->identity) >= LEASE_IDENTITY_MAX) {
		seterr(err, errlen, "lease: client, namespace, name and an identity (< %d bytes) are required",
		       LEASE_IDENTITY_MAX);
		goto fail;
	}
	if (!(le = calloc(1, sizeof(*le))))
		goto oom;
	le->kc = kc;
	le->o = *opts;
	if (le->o.lease_duration_ms <= 0)
		le->o.lease_duration_ms = LEASE_DURATION_MS_DEFAULT;
	if (le->o.renew_deadline_ms <= 0)
		le->o.renew_deadline_ms = LEASE_RENEW_DEADLINE_MS_DEFAULT;
	if (le->o.retry_period_ms <= 0)
		le->o.retry_period_ms = LEASE_RETRY_PERIOD_MS_DEFAULT;
	/* client-go's rules: duration > deadline > retry period. */
	if (le->o.lease_duration_ms <= le->o.renew_deadline_ms || le->o.renew_deadline_ms <= le->o.retry_period_ms) {
		seterr(err, errlen, "lease: need lease duration > renew deadline > retry period");
		goto fail;
	}
	if (!(le->ns = strdup(opts->ns)) || !(le->name = strdup(opts->name)) ||
	    !(le->identity = strdup(opts->identity)))
		goto oom;
	le->o.ns = le->ns;
	le->o.name = le->name;
	le->o.identity = le->identity;
	le->timer_id = evloop_add_timer(kube_client_loop(kc), 0, le_tick, le);
	if (le->timer_id < 0) {
		seterr(err, errlen, "lease: cannot add a timer");
		goto fail;
	}
	return le;
oom:
	seterr(err, errlen, "lease: out of memory");
fail:
	if (le)
		elector_destroy(le);
	return NULL;
}

int lease_elector_is_leader(const struct lease_elector *le)
{
	return le && le->leader;
}

static void le_on_release(const struct kube_result *res, void *arg)
{
	struct lease_elector *le = arg;
	void (*done)(int, void *) = le->release_done;

	le->call = NULL;
	le->busy++;
	if (!res->ok)
		le_error(le, "release failed", res->message);
	le->release_done = NULL;
	if (done && !le->freed)
		done(res->ok, le->release_arg);
	le_leave(le);
}

void lease_elector_release(struct lease_elector *le, void (*done)(int ok, void *arg), void *arg)
{
	char err[512];
	json_t *obj = NULL;
	int was_leader;

	if (!le || le->releasing)
		return;
	le->releasing = 1;
	kube_call_cancel(le->call);
	le->call = NULL;
	was_leader = le->leader;
	if (le->last_written)
		obj = lease_build(le->last_written, le->ns, le->name, le->identity, le->o.lease_duration_ms,
				  LEASE_RENEW, 1, wall_us());
	le->busy++;
	if (was_leader && le->o.on_stopped_leading) {
		le->leader = 0;
		le->o.on_stopped_leading(le->o.arg);
	}
	le->leader = 0;
	if (!le->freed && obj) {
		le->release_done = done;
		le->release_arg = arg;
		le->call = kube_replace(le->kc, &KUBE_RES_LEASES, le->ns, le->name, obj, le_on_release, le, err,
					sizeof(err));
		if (!le->call) {
			le_error(le, "release", err);
			le->release_done = NULL;
			if (done)
				done(0, arg);
		}
	} else if (done && !le->freed) {
		done(!was_leader, arg);
	}
	json_decref(obj);
	le_leave(le);
}

void lease_elector_free(struct lease_elector *le)
{
	if (!le || le->freed)
		return;
	le->freed = 1;
	kube_call_cancel(le->call);
	le->call = NULL;
	if (le->timer_id > 0) {
		evloop_del_timer(kube_client_loop(le->kc), le->timer_id);
		le->timer_id = 0;
	}
	if (!le->busy)
		elector_destroy(le);
}
