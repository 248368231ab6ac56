/* CLUSTER INFO parser: any bytes in; on success the counts are within their
 * bounds and writing the struct back as CLUSTER INFO text and parsing it
 * again gives the same struct; on failure an error message. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cluster_info ci, ci2;
	char err[256], text[1024];
	int rc, n;

	err[0] = '\0';
	rc = cluster_info_parse((const char *)data, size, &ci, err, sizeof(err));
	if (rc != 0) {
		FUZZ_CHECK(rc == -1, "rc %d", rc);
		fuzz_check_err(err, sizeof(err));
		return 0;
	}
	FUZZ_CHECK(ci.state_ok == 0 || ci.state_ok == 1, "state_ok %d", ci.state_ok);
	FUZZ_CHECK(ci.slots_assigned >= 0 && ci.slots_assigned <= CLUSTER_SLOTS, "slots_assigned %d",
		   ci.slots_assigned);
	FUZZ_CHECK(ci.slots_ok >= 0 && ci.slots_ok <= CLUSTER_SLOTS, "slots_ok %d", ci.slots_ok);
	FUZZ_CHECK(ci.slots_pfail >= 0 && ci.slots_pfail <= CLUSTER_SLOTS, "slots_pfail %d", ci.slots_pfail);
	FUZZ_CHECK(ci.slots_fail >= 0 && ci.slots_fail <= CLUSTER_SLOTS, "slots_fail %d", ci.slots_fail);
	FUZZ_CHECK(ci.size >= 0 && ci.size <= CLUSTER_SLOTS, "size %d", ci.size);
	FUZZ_CHECK(ci.known_nodes >= 0 && ci.known_nodes <= (1 << 30), "known_nodes %d", ci.known_nodes);

	n = snprintf(text, sizeof(text),
		     "# Cluster\r\ncluster_state:%s\r\ncluster_slots_assigned:%d\r\ncluster_slots_ok:%d\r\n"
		     "cluster_slots_pfail:%d\r\ncluster_slots_fail:%d\r\ncluster_known_nodes:%d\r\ncluster_size:%d\r\n"
		     "cluster_current_epoch:%" PRIu64 "\r\ncluster_my_epoch:%" PRIu64
		     "\r\ncluster_stats_messages_sent:1\r\n",
		     ci.state_ok ? "ok" : "fail", ci.slots_assigned, ci.slots_ok, ci.slots_pfail, ci.slots_fail,
		     ci.known_nodes, ci.size, ci.current_epoch, ci.my_epoch);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text), "snprintf");
	rc = cluster_info_parse(text, (size_t)n, &ci2, err, sizeof(err));
	FUZZ_CHECK(rc == 0, "written back, CLUSTER INFO does not parse: %s", err);
	FUZZ_CHECK(memcmp(&ci, &ci2, sizeof(ci)) == 0, "CLUSTER INFO round trip differs");
	return 0;
}
