/* CLUSTER SHARDS: bytes through the hiredis reader (with caps), each reply
 * into topology_from_shards. On success every model invariant holds
 * (replicas point at their shard's master, only masters own slots) and the
 * same model written as CLUSTER NODES parses back equal: both parsers agree
 * on what a cluster is. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define MAX_REPLIES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	redisReader *rd = fuzz_reader_new();
	char err[256];

	if (redisReaderFeed(rd, (const char *)data, size) != REDIS_OK)
		goto done;
	for (int i = 0; i < MAX_REPLIES; i++) {
		void *reply = NULL;
		struct topology *t = (struct topology *)1, *t2 = NULL;
		char *text;
		size_t len;
		int rc;

		if (redisReaderGetReply(rd, &reply) != REDIS_OK) {
			FUZZ_CHECK(reply == NULL && rd->err != 0 && rd->errstr[0], "reader error without a message");
			break;
		}
		if (!reply)
			break;
		fuzz_check_reply(reply, 0);
		err[0] = '\0';
		rc = topology_from_shards(reply, &t, err, sizeof(err));
		if (rc != 0) {
			FUZZ_CHECK(rc == -1 && t == NULL, "rc %d, out %p", rc, (void *)t);
			fuzz_check_err(err, sizeof(err));
			freeReplyObject(reply);
			continue;
		}
		fuzz_check_topology(t, 1);
		text = fuzz_topology_to_nodes(t, &len);
		rc = topology_parse_nodes(text, len, &t2, err, sizeof(err));
		FUZZ_CHECK(rc == 0, "CLUSTER SHARDS model written as CLUSTER NODES does not parse: %s", err);
		fuzz_check_topology_equal(t, t2);
		free(text);
		topology_free(t2);
		topology_free(t);
		freeReplyObject(reply);
	}
done:
	redisReaderFree(rd);
	return 0;
}
