/* Lease leader election, the pure part: lease_decide follows client-go (create
 * when missing, acquire when the holder is empty or the record is unchanged
 * for leaseDurationSeconds on our clock, renew when ours, wait otherwise;
 * timestamps written by other clocks are not trusted) and lease_build writes
 * the right record (transitions, acquireTime kept on renew, resourceVersion
 * kept for optimistic concurrency, release). */
#include <string.h>

#include "kubernetes/lease.h"
#include "testlib.h"

static json_t *lease(const char *holder, int dur, const char *renew, int transitions, const char *rv)
{
	json_t *l = json_pack("{sss{ssssss}s{sssisssssi}}", "kind", "Lease", "metadata", "name", "autoshard",
			      "namespace", "sys", "resourceVersion", rv, "spec", "holderIdentity", holder,
			      "leaseDurationSeconds", dur, "acquireTime", "2024-01-01T00:00:00.000000Z", "renewTime",
			      renew, "leaseTransitions", transitions);

	return l;
}

static const char *spec_s(const json_t *l, const char *k)
{
	const char *s = json_string_value(json_object_get(json_object_get(l, "spec"), k));

	return s ? s : "(none)";
}

static long long spec_i(const json_t *l, const char *k)
{
	return (long long)json_integer_value(json_object_get(json_object_get(l, "spec"), k));
}

static void test_decide(void)
{
	struct lease_observation obs;
	json_t *l;

	memset(&obs, 0, sizeof(obs));
	CHECK(lease_decide(NULL, 1000, "me", &obs, 15000) == LEASE_CREATE);

	l = lease("", 15, "2024-01-01T00:00:00.000000Z", 2, "10");
	CHECK(lease_decide(l, 1000, "me", &obs, 15000) == LEASE_ACQUIRE);
	json_decref(l);

	l = lease("me", 15, "2024-01-01T00:00:00.000000Z", 2, "11");
	CHECK(lease_decide(l, 1000, "me", &obs, 15000) == LEASE_RENEW);
	json_decref(l);

	/* Another holder: valid for 15 s from when *we* first saw this record,
	 * whatever its renewTime says (year 2000 here: a skewed clock). */
	memset(&obs, 0, sizeof(obs));
	l = lease("other", 15, "2000-01-01T00:00:00.000000Z", 2, "12");
	CHECK(lease_decide(l, 1000, "me", &obs, 15000) == LEASE_WAIT);
	CHECK(strcmp(obs.holder, "other") == 0 && obs.observed_ms == 1000);
	CHECK(lease_decide(l, 15999, "me", &obs, 15000) == LEASE_WAIT);
	CHECK(obs.observed_ms == 1000); /* same record: the clock keeps running */
	CHECK(lease_decide(l, 16000, "me", &obs, 15000) == LEASE_ACQUIRE);
	json_decref(l);

	/* The holder renews at 10 s: the record changed, the window restarts. */
	memset(&obs, 0, sizeof(obs));
	l = lease("other", 15, "2024-01-01T00:00:01.000000Z", 2, "13");
	CHECK(lease_decide(l, 1000, "me", &obs, 15000) == LEASE_WAIT);
	json_decref(l);
	l = lease("other", 15, "2024-01-01T00:00:11.000000Z", 2, "14");
	CHECK(lease_decide(l, 10000, "me", &obs, 15000) == LEASE_WAIT);
	CHECK(lease_decide(l, 24999, "me", &obs, 15000) == LEASE_WAIT);
	CHECK(lease_decide(l, 25000, "me", &obs, 15000) == LEASE_ACQUIRE);
	json_decref(l);

	/* The record's own leaseDurationSeconds counts (3 s here). */
	memset(&obs, 0, sizeof(obs));
	l = lease("other", 3, "x", 0, "15");
	CHECK(lease_decide(l, 0, "me", &obs, 15000) == LEASE_WAIT);
	CHECK(lease_decide(l, 2999, "me", &obs, 15000) == LEASE_WAIT);
	CHECK(lease_decide(l, 3000, "me", &obs, 15000) == LEASE_ACQUIRE);
	json_decref(l);

	/* Without leaseDurationSeconds the default applies. */
	memset(&obs, 0, sizeof(obs));
	l = json_pack("{s{ss}}", "spec", "holderIdentity", "other");
	CHECK(lease_decide(l, 0, "me", &obs, 5000) == LEASE_WAIT);
	CHECK(lease_decide(l, 4999, "me", &obs, 5000) == LEASE_WAIT);
	CHECK(lease_decide(l, 5000, "me", &obs, 5000) == LEASE_ACQUIRE);
	json_decref(l);

	/* No spec at all: nobody holds it. */
	l = json_pack("{s{ss}}", "metadata", "name", "x");
	CHECK(lease_decide(l, 0, "me", &obs, 5000) == LEASE_ACQUIRE);
	json_decref(l);
}

static void test_build(void)
{
	const int64_t t = 1714564800123456LL; /* 2024-05-01T12:00:00.123456Z */
	json_t *cur, *b;
	char buf[64];

	lease_format_microtime(0, buf, sizeof(buf));
	CHECK(strcmp(buf, "1970-01-01T00:00:00.000000Z") == 0);
	lease_format_microtime(t, buf, sizeof(buf));
	CHECK_MSG(strcmp(buf, "2024-05-01T12:00:00.123456Z") == 0, "%s", buf);

	b = lease_build(NULL, "sys", "autoshard", "me", 15000, LEASE_CREATE, 0, t);
	CHECK(b != NULL);
	if (b) {
		CHECK(strcmp(json_string_value(json_object_get(b, "apiVersion")), "coordination.k8s.io/v1") == 0);
		CHECK(strcmp(json_string_value(json_object_get(b, "kind")), "Lease") == 0);
		CHECK(strcmp(json_string_value(json_object_get(json_object_get(b, "metadata"), "namespace")), "sys") ==
		      0);
		CHECK(strcmp(spec_s(b, "holderIdentity"), "me") == 0);
		CHECK(spec_i(b, "leaseDurationSeconds") == 15 && spec_i(b, "leaseTransitions") == 0);
		CHECK(strcmp(spec_s(b, "acquireTime"), buf) == 0 && strcmp(spec_s(b, "renewTime"), buf) == 0);
	}
	json_decref(b);

	/* Taking over from another holder: transitions + 1, rv kept, new acquireTime. */
	cur = lease("other", 15, "2024-01-01T00:00:05.000000Z", 3, "42");
	json_object_set_new(json_object_get(cur, "metadata"), "managedFields", json_array());
	b = lease_build(cur, "sys", "autoshard", "me", 15000, LEASE_ACQUIRE, 0, t);
	CHECK(b != NULL);
	if (b) {
		CHECK(strcmp(spec_s(b, "holderIdentity"), "me") == 0);
		CHECK(spec_i(b, "leaseTransitions") == 4);
		CHECK(strcmp(spec_s(b, "acquireTime"), buf) == 0 && strcmp(spec_s(b, "renewTime"), buf) == 0);
		CHECK(strcmp(json_string_value(json_object_get(json_object_get(b, "metadata"), "resourceVersion")),
			     "42") == 0);
		CHECK(json_object_get(json_object_get(b, "metadata"), "managedFields") == NULL);
	}
	CHECK(strcmp(spec_s(cur, "holderIdentity"), "other") == 0); /* input untouched */
	json_decref(b);
	json_decref(cur);

	/* Renewing our own lease keeps acquireTime and transitions. */
	cur = lease("me", 15, "2024-01-01T00:00:05.000000Z", 4, "43");
	b = lease_build(cur, "sys", "autoshard", "me", 15000, LEASE_RENEW, 0, t);
	CHECK(b && strcmp(spec_s(b, "acquireTime"), "2024-01-01T00:00:00.000000Z") == 0);
	CHECK(b && strcmp(spec_s(b, "renewTime"), buf) == 0 && spec_i(b, "leaseTransitions") == 4);
	json_decref(b);

	/* Release: nobody holds it, 1 s duration, transitions kept. */
	b = lease_build(cur, "sys", "autoshard", "me", 15000, LEASE_RENEW, 1, t);
	CHECK(b && strcmp(spec_s(b, "holderIdentity"), "") == 0 && spec_i(b, "leaseDurationSeconds") == 1);
	CHECK(b && spec_i(b, "leaseTransitions") == 4);
	json_decref(b);
	/* A released lease (empty holder) taken again counts a transition. */
	json_object_set_new(json_object_get(cur, "spec"), "holderIdentity", json_string(""));
	b = lease_build(cur, "sys", "autoshard", "me", 15000, LEASE_ACQUIRE, 0, t);
	CHECK(b && spec_i(b, "leaseTransitions") == 5);
	json_decref(b);
	CHECK(lease_build(cur, "sys", "autoshard", "me", 15000, LEASE_WAIT, 0, t) == NULL);
	json_decref(cur);
}

/* Two contenders on one record, simulated with the pure functions: exactly one
 * leads at any time, the other takes over only after the holder stops
 * renewing for the lease duration. */
static void test_two_contenders(void)
{
	struct lease_observation oa, ob;
	json_t *stored = NULL, *w;
	int64_t t;
	int a_leads = 0, b_leads = 0, rv = 1, overlap = 0;
	char rvs[16];

	memset(&oa, 0, sizeof(oa));
	memset(&ob, 0, sizeof(ob));
	for (t = 0; t <= 60000; t += 2000) {
		const char *ids[2] = {"a", "b"};
		struct lease_observation *obs[2] = {&oa, &ob};
		int *leads[2] = {&a_leads, &b_leads};
		int i;

		for (i = 0; i < 2; i++) {
			enum lease_action act;

			if (i == 0 && t > 20000) {
				a_leads = 0; /* a dies at 20 s */
				continue;
			}
			act = lease_decide(stored, t, ids[i], obs[i], 15000);
			*leads[i] = act != LEASE_WAIT;
			if (act == LEASE_WAIT)
				continue;
			w = lease_build(stored, "sys", "l", ids[i], 15000, act, 0, (1700000000LL * 1000 + t) * 1000);
			snprintf(rvs, sizeof(rvs), "%d", ++rv);
			json_object_set_new(json_object_get(w, "metadata"), "resourceVersion", json_string(rvs));
			json_decref(stored);
			stored = w;
		}
		if (a_leads && b_leads)
			overlap++;
		if (t == 20000)
			CHECK(a_leads && !b_leads);
		if (t == 34000) /* a's last renewal was observed at 20 s: still valid */
			CHECK(!b_leads);
		if (t == 36000)
			CHECK(b_leads);
	}
	CHECK(overlap == 0);
	CHECK(strcmp(spec_s(stored, "holderIdentity"), "b") == 0 && spec_i(stored, "leaseTransitions") == 1);
	json_decref(stored);
}

int main(void)
{
	test_decide();
	test_build();
	test_two_contenders();
	return TEST_DONE();
}
