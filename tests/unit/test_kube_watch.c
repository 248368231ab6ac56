/* Watch lines and the informer cache, without a server: every event type of a
 * recorded stream, every malformed line, every truncation of a good line;
 * kube_cache_apply / kube_cache_replace make the right callbacks and keep the
 * cache keyed by namespace/name. */
#include <stdlib.h>
#include <string.h>

#include "kubernetes/kube_client.h"
#include "testlib.h"

struct rec {
	char log[2048];
	int adds, updates, deletes;
};

static void rec_add(const json_t *obj, void *arg)
{
	struct rec *r = arg;
	char key[256];
	size_t n = strlen(r->log);

	kube_object_key(obj, key, sizeof(key));
	snprintf(r->log + n, sizeof(r->log) - n, "+%s ", key);
	r->adds++;
}

static void rec_update(const json_t *old, const json_t *obj, void *arg)
{
	struct rec *r = arg;
	char key[256];
	size_t n = strlen(r->log);
	const char *orv = json_string_value(json_object_get(json_object_get(old, "metadata"), "resourceVersion"));
	const char *nrv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));

	kube_object_key(obj, key, sizeof(key));
	snprintf(r->log + n, sizeof(r->log) - n, "~%s(%s>%s) ", key, orv, nrv);
	r->updates++;
}

static void rec_delete(const json_t *obj, void *arg)
{
	struct rec *r = arg;
	char key[256];
	size_t n = strlen(r->log);

	kube_object_key(obj, key, sizeof(key));
	snprintf(r->log + n, sizeof(r->log) - n, "-%s ", key);
	r->deletes++;
}

static const struct kube_informer_callbacks rec_cb = {rec_add, rec_update, rec_delete, NULL, NULL};

static void test_stream(void)
{
	size_t len;
	char *data = test_slurp("data/kube/watch-stream.jsonl", &len), *line, *save = NULL, err[256];
	static const enum kube_event_type want[] = {KUBE_EVENT_ADDED,    KUBE_EVENT_ADDED,   KUBE_EVENT_MODIFIED,
						    KUBE_EVENT_BOOKMARK, KUBE_EVENT_DELETED, KUBE_EVENT_ERROR};
	static const char *const want_rv[] = {"101", "102", "103", "150", "151", ""};
	json_t *cache = json_object();
	struct rec r;
	int i = 0;

	memset(&r, 0, sizeof(r));
	CHECK(data != NULL);
	if (!data)
		return;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		struct kube_watch_event ev;

		CHECK_MSG(kube_watch_parse_line(line, strlen(line), &ev, err, sizeof(err)) == 0, "line %d: %s", i, err);
		if (i >= 6)
			break;
		CHECK_MSG(ev.type == want[i], "line %d: %s", i, kube_event_type_name(ev.type));
		CHECK_MSG(strcmp(ev.resource_version, want_rv[i]) == 0, "line %d: rv %s", i, ev.resource_version);
		if (ev.type == KUBE_EVENT_ERROR) {
			CHECK(ev.code == 410);
			CHECK(strcmp(ev.reason, "Expired") == 0);
			CHECK(strstr(ev.message, "too old resource version") != NULL);
		}
		CHECK(kube_cache_apply(cache, &ev, &rec_cb, &r) == 0);
		kube_watch_event_clear(&ev);
	}
	CHECK(i == 6);
	CHECK_MSG(strcmp(r.log, "+ns1/a +ns1/b ~ns1/a(101>103) -ns1/b ") == 0, "%s", r.log);
	CHECK(json_object_size(cache) == 1);
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(json_object_get(cache, "ns1/a"), "data"), "k")),
		     "2") == 0);
	json_decref(cache);
	free(data);
}

static void test_bad_lines(void)
{
	size_t len;
	char *data = test_slurp("data/kube/watch-bad.jsonl", &len), *line, *save = NULL, err[256];
	int i = 0;

	CHECK(data != NULL);
	if (!data)
		return;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		struct kube_watch_event ev;

		err[0] = '\0';
		CHECK_MSG(kube_watch_parse_line(line, strlen(line), &ev, err, sizeof(err)) < 0, "line %d parsed", i);
		CHECK_MSG(err[0] != '\0' && strncmp(err, "watch event", 11) == 0, "line %d: %s", i, err);
		CHECK(ev.object == NULL);
		kube_watch_event_clear(&ev);
	}
	CHECK(i == 10);
	free(data);
}

/* Every proper prefix of a good line is rejected, without leaks or overreads. */
static void test_truncations(void)
{
	const char *good = "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\","
			   "\"resourceVersion\":\"77\"},\"data\":{\"a\":\"b\"}}}";
	size_t n = strlen(good), i;
	struct kube_watch_event ev;
	char err[256];
	int bad = 0;

	for (i = 0; i < n; i++) {
		char *copy = malloc(i ? i : 1);

		memcpy(copy, good, i);
		if (kube_watch_parse_line(copy, i, &ev, err, sizeof(err)) == 0)
			bad++;
		kube_watch_event_clear(&ev);
		free(copy);
	}
	CHECK(bad == 0);
	CHECK(kube_watch_parse_line(good, n, &ev, err, sizeof(err)) == 0 && ev.type == KUBE_EVENT_MODIFIED);
	kube_watch_event_clear(&ev);
	kube_watch_event_clear(NULL);
}

static json_t *cm(const char *ns, const char *name, const char *rv)
{
	return json_pack("{s{ssssss}}", "metadata", "name", name, "namespace", ns, "resourceVersion", rv);
}

static void test_replace(void)
{
	json_t *cache = json_object(), *items;
	struct rec r;

	memset(&r, 0, sizeof(r));
	items = json_pack("[ooo]", cm("a", "x", "1"), cm("a", "y", "2"), cm("b", "x", "3"));
	CHECK(kube_cache_replace(cache, items, &rec_cb, &r) == 3);
	CHECK_MSG(strcmp(r.log, "+a/x +a/y +b/x ") == 0, "%s", r.log);
	json_decref(items);

	/* Relist after a gap: y changed, b/x went away, c/z is new, a/x unchanged. */
	memset(&r, 0, sizeof(r));
	items = json_pack("[ooo]", cm("a", "x", "1"), cm("a", "y", "5"), cm("c", "z", "6"));
	CHECK(kube_cache_replace(cache, items, &rec_cb, &r) == 3);
	CHECK_MSG(strcmp(r.log, "~a/y(2>5) +c/z -b/x ") == 0, "%s", r.log);
	CHECK(json_object_size(cache) == 3 && json_object_get(cache, "b/x") == NULL);
	json_decref(items);

	/* An empty list empties the cache. */
	memset(&r, 0, sizeof(r));
	items = json_array();
	CHECK(kube_cache_replace(cache, items, &rec_cb, &r) == 3 && r.deletes == 3);
	CHECK(json_object_size(cache) == 0);
	json_decref(items);

	/* A malformed item leaves the cache untouched. */
	memset(&r, 0, sizeof(r));
	json_object_set_new(cache, "a/keep", cm("a", "keep", "9"));
	items = json_pack("[o{s{}}]", cm("a", "new", "1"), "metadata");
	CHECK(kube_cache_replace(cache, items, &rec_cb, &r) == -1);
	CHECK(r.log[0] == '\0' && json_object_size(cache) == 1);
	json_decref(items);
	CHECK(kube_cache_replace(cache, NULL, &rec_cb, &r) == -1);

	/* Cluster-scoped objects are keyed by name alone; NULL callbacks are fine. */
	items = json_pack("[{s{ssss}}]", "metadata", "name", "node-1", "resourceVersion", "4");
	CHECK(kube_cache_replace(cache, items, NULL, NULL) == 2);
	CHECK(json_object_get(cache, "node-1") != NULL);
	json_decref(items);
	json_decref(cache);
}

/* Cached objects lose managedFields and kubectl's last-applied copy, keep
 * everything else (other annotations included), by list and by watch. */
#define FAT_OBJECT                                                                             \
	"{\"metadata\": {\"name\": \"x\", \"namespace\": \"a\", \"resourceVersion\": \"%s\","  \
	" \"managedFields\": [{\"manager\": \"kubectl\"}], \"annotations\": {"                 \
	"\"kubectl.kubernetes.io/last-applied-configuration\": \"{...}\", \"keep\": \"me\"}}," \
	" \"spec\": {\"shards\": 3}}"
static void test_strip(void)
{
	json_t *cache = json_object(), *items, *o;
	struct kube_watch_event ev;
	char text[512];

	snprintf(text, sizeof(text), FAT_OBJECT, "1");
	items = json_pack("[o]", json_loads(text, 0, NULL));
	CHECK(kube_cache_replace(cache, items, NULL, NULL) == 1);
	json_decref(items);
	o = json_object_get(cache, "a/x");
	CHECK(o && !json_object_get(json_object_get(o, "metadata"), "managedFields"));
	CHECK(json_object_size(json_object_get(json_object_get(o, "metadata"), "annotations")) == 1);
	CHECK(json_integer_value(json_object_get(json_object_get(o, "spec"), "shards")) == 3);

	memset(&ev, 0, sizeof(ev));
	snprintf(text, sizeof(text), FAT_OBJECT, "2");
	ev.type = KUBE_EVENT_MODIFIED;
	ev.object = json_loads(text, 0, NULL);
	CHECK(kube_cache_apply(cache, &ev, NULL, NULL) == 0);
	o = json_object_get(cache, "a/x");
	CHECK(o && !json_object_get(json_object_get(o, "metadata"), "managedFields"));
	CHECK(json_string_value(
		      json_object_get(json_object_get(json_object_get(o, "metadata"), "annotations"), "keep")) != NULL);
	kube_watch_event_clear(&ev);
	json_decref(cache);
}

int main(void)
{
	test_strip();
	test_stream();
	test_bad_lines();
	test_truncations();
	test_replace();
	return TEST_DONE();
}
