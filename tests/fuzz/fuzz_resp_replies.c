/* RESP replies as the engine receives them: bytes through the hiredis reader
 * (with caps), fed once whole and once in small pieces (the replies must be
 * the same), then each reply handled the way lib/cluster.c handles the
 * replies of INFO, CLUSTER NODES, CLUSTER INFO and CLUSTER SHARDS: strings
 * to the text parsers, arrays to topology_from_shards, with the model
 * invariants checked on every success. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define MAX_REPLIES 32

static int reply_equal(const redisReply *a, const redisReply *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
	case REDIS_REPLY_INTEGER:
		return a->integer == b->integer;
	case REDIS_REPLY_ARRAY:
		if (a->elements != b->elements)
			return 0;
		for (size_t i = 0; i < a->elements; i++)
			if (!reply_equal(a->element[i], b->element[i]))
				return 0;
		return 1;
	default:
		return 1;
	}
}

/* Read up to MAX_REPLIES replies; chunk 0 feeds everything at once, else
 * chunk bytes at a time. Returns the count; *failed set on a reader error. */
static size_t read_all(const uint8_t *data, size_t size, size_t chunk, redisReply **out, int *failed)
{
	redisReader *rd = fuzz_reader_new();
	size_t n = 0, pos = 0;

	*failed = 0;
	for (;;) {
		size_t k = chunk && size - pos > chunk ? chunk : size - pos;
		void *reply = NULL;
		if (k && redisReaderFeed(rd, (const char *)data + pos, k) != REDIS_OK) {
			*failed = 1;
			break;
		}
		pos += k;
		while (n < MAX_REPLIES) {
			reply = NULL;
			if (redisReaderGetReply(rd, &reply) != REDIS_OK) {
				FUZZ_CHECK(reply == NULL && rd->errstr[0], "reader error without a message");
				*failed = 1;
				break;
			}
			if (!reply) {
				/* where the connections check the caps between reads */
				int over = resp_reader_over_cap(rd);
				FUZZ_CHECK(over == 0 || over == 1, "resp_reader_over_cap returned %d", over);
				break;
			}
			out[n++] = reply;
		}
		if (*failed || n == MAX_REPLIES || pos == size)
			break;
	}
	redisReaderFree(rd);
	return n;
}

static void consume(const redisReply *r)
{
	struct topology *t = NULL;
	struct cluster_info ci;
	char err[256], val[32];

	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
		/* INFO cluster, CLUSTER NODES, CLUSTER INFO, INFO replication */
		if (info_get_field(r->str, r->len, "cluster_enabled", val, sizeof(val)) == 0)
			FUZZ_CHECK(strlen(val) < sizeof(val), "info value too long");
		if (topology_parse_nodes(r->str, r->len, &t, err, sizeof(err)) == 0) {
			fuzz_check_topology(t, 0);
			topology_free(t);
		} else {
			FUZZ_CHECK(t == NULL, "failed parse left a topology");
			fuzz_check_err(err, sizeof(err));
		}
		if (cluster_info_parse(r->str, r->len, &ci, err, sizeof(err)) == 0)
			FUZZ_CHECK(ci.slots_assigned >= 0 && ci.slots_assigned <= CLUSTER_SLOTS, "slots_assigned %d",
				   ci.slots_assigned);
		else
			fuzz_check_err(err, sizeof(err));
	} else if (r->type == REDIS_REPLY_ARRAY) {
		if (topology_from_shards(r, &t, err, sizeof(err)) == 0) {
			fuzz_check_topology(t, 1);
			topology_free(t);
		} else {
			FUZZ_CHECK(t == NULL, "failed parse left a topology");
			fuzz_check_err(err, sizeof(err));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	redisReply *whole[MAX_REPLIES], *piece[MAX_REPLIES];
	size_t nw, np, chunk;
	int fw, fp;

	chunk = 1 + size % 13; /* from the length, so seeds are plain replies */
	nw = read_all(data, size, 0, whole, &fw);
	np = read_all(data, size, chunk, piece, &fp);
	FUZZ_CHECK(np == nw && fp == fw, "%zu replies%s whole, %zu%s in pieces of %zu", nw, fw ? " then an error" : "",
		   np, fp ? " then an error" : "", chunk);
	for (size_t i = 0; i < nw; i++)
		FUZZ_CHECK(reply_equal(whole[i], piece[i]), "reply %zu differs when fed in pieces of %zu", i, chunk);
	for (size_t i = 0; i < nw; i++) {
		fuzz_check_reply(whole[i], 0);
		consume(whole[i]);
		freeReplyObject(whole[i]);
	}
	for (size_t i = 0; i < np; i++)
		freeReplyObject(piece[i]);
	return 0;
}
