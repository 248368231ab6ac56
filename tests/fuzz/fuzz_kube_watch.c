/* Kubernetes watch streams: the line splitter (http_lines_*) and the watch
 * line parser (kube_watch_parse_line). The bytes are split once whole and
 * once in pieces (size from the input length): both give the same lines,
 * none empty, none holding '\n', none over the cap. Each
 * line is parsed; on success the event's type is known, the object is set,
 * resourceVersion is a string ("" for ERROR), ERROR events carry a code,
 * reason and message, other events a metadata.name; and the event written
 * back as {"type":..,"object":..} parses to the same type and version. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "http/http_client.h"
#include "kubernetes/kube_client.h"

#define MAX_LINE 8192
#define MAX_LINES 256

struct lines {
	char *v[MAX_LINES];
	size_t len[MAX_LINES];
	size_t n;
};

static int collect(const char *line, size_t len, void *arg)
{
	struct lines *l = arg;

	FUZZ_CHECK(len > 0 && len <= MAX_LINE, "line of %zu bytes", len);
	/* one trailing '\r' is removed; "a\r\r\n" still ends in '\r' */
	FUZZ_CHECK(!memchr(line, '\n', len), "line holds a newline");
	if (l->n == MAX_LINES)
		return 1;
	l->v[l->n] = malloc(len);
	FUZZ_CHECK(l->v[l->n] != NULL, "out of memory");
	memcpy(l->v[l->n], line, len);
	l->len[l->n++] = len;
	return 0;
}

static int split(const uint8_t *data, size_t size, size_t chunk, struct lines *out)
{
	struct http_lines hl;
	int rc = 0;

	http_lines_init(&hl, MAX_LINE);
	for (size_t pos = 0; pos < size && rc == 0; pos += chunk) {
		size_t k = size - pos < chunk ? size - pos : chunk;
		rc = http_lines_feed(&hl, (const char *)data + pos, k, collect, out);
	}
	if (rc == 0)
		rc = http_lines_finish(&hl, collect, out);
	http_lines_free(&hl);
	return rc;
}

static void check_event(const char *line, size_t len)
{
	struct kube_watch_event ev, ev2;
	char err[256], *again, *obj;
	const char *name;
	json_t *wrap;

	memset(&ev, 0, sizeof(ev));
	if (kube_watch_parse_line(line, len, &ev, err, sizeof(err)) != 0) {
		fuzz_check_err(err, sizeof(err));
		kube_watch_event_clear(&ev);
		return;
	}
	FUZZ_CHECK(ev.type >= KUBE_EVENT_ADDED && ev.type <= KUBE_EVENT_ERROR, "event type %d", (int)ev.type);
	name = kube_event_type_name(ev.type);
	FUZZ_CHECK(name && *name, "no name for event type %d", (int)ev.type);
	FUZZ_CHECK(ev.object != NULL && ev.resource_version != NULL, "event without object or version");
	if (ev.type == KUBE_EVENT_ERROR) {
		FUZZ_CHECK(ev.reason && ev.message, "error event without reason/message");
	} else if (ev.type != KUBE_EVENT_BOOKMARK) {
		char key[512];
		FUZZ_CHECK(kube_object_key(ev.object, key, sizeof(key)) == 0 && key[0], "%s event without a name",
			   name);
	}
	obj = json_dumps(ev.object, JSON_COMPACT);
	FUZZ_CHECK(obj != NULL, "object does not serialize");
	free(obj);
	wrap = json_pack("{s:s, s:O}", "type", name, "object", ev.object);
	FUZZ_CHECK(wrap != NULL, "json_pack");
	again = json_dumps(wrap, JSON_COMPACT);
	json_decref(wrap);
	FUZZ_CHECK(again != NULL, "json_dumps");
	memset(&ev2, 0, sizeof(ev2));
	FUZZ_CHECK(kube_watch_parse_line(again, strlen(again), &ev2, err, sizeof(err)) == 0,
		   "event written back does not parse: %s", err);
	FUZZ_CHECK(ev2.type == ev.type && strcmp(ev2.resource_version, ev.resource_version) == 0,
		   "event round trip differs");
	if (ev.type == KUBE_EVENT_ERROR)
		FUZZ_CHECK(ev2.code == ev.code, "error code differs after the round trip");
	kube_watch_event_clear(&ev2);
	free(again);
	kube_watch_event_clear(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lines whole = {0}, piece = {0};
	size_t chunk = 1 + size % 17;
	int rw = split(data, size, size ? size : 1, &whole), rp = split(data, size, chunk, &piece);

	FUZZ_CHECK(rw == rp, "splitter: %d whole, %d in pieces of %zu", rw, rp, chunk);
	FUZZ_CHECK(whole.n == piece.n, "%zu lines whole, %zu in pieces of %zu", whole.n, piece.n, chunk);
	for (size_t i = 0; i < whole.n; i++) {
		FUZZ_CHECK(whole.len[i] == piece.len[i] && memcmp(whole.v[i], piece.v[i], whole.len[i]) == 0,
			   "line %zu differs in pieces of %zu", i, chunk);
		check_event(whole.v[i], whole.len[i]);
	}
	for (size_t i = 0; i < whole.n; i++)
		free(whole.v[i]);
	for (size_t i = 0; i < piece.n; i++)
		free(piece.v[i]);
	return 0;
}
