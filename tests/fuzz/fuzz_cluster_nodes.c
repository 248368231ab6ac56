/* CLUSTER NODES parser: any bytes in; on success every model invariant holds
 * and writing the model back as CLUSTER NODES and parsing it again gives the
 * same model; on failure an error message and no model. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], *text, *small;
	struct topology *t = (struct topology *)1, *t2 = NULL;
	size_t len;
	int rc;

	err[0] = '\0';
	rc = topology_parse_nodes((const char *)data, size, &t, err, sizeof(err));
	if (rc != 0) {
		FUZZ_CHECK(rc == -1 && t == NULL, "rc %d, out %p", rc, (void *)t);
		fuzz_check_err(err, sizeof(err));
		/* a tiny error buffer is never overrun (ASan sees the exact size) */
		if (size < 4096) {
			small = malloc(5);
			FUZZ_CHECK(small != NULL, "out of memory");
			FUZZ_CHECK(topology_parse_nodes((const char *)data, size, &t, small, 5) == -1,
				   "not repeatable");
			FUZZ_CHECK(strnlen(small, 5) < 5, "small error buffer not terminated");
			free(small);
			FUZZ_CHECK(topology_parse_nodes((const char *)data, size, &t, NULL, 0) == -1, "not repeatable");
		}
		return 0;
	}
	fuzz_check_topology(t, 0);
	text = fuzz_topology_to_nodes(t, &len);
	rc = topology_parse_nodes(text, len, &t2, err, sizeof(err));
	FUZZ_CHECK(rc == 0, "written back, the topology does not parse: %s", err);
	fuzz_check_topology_equal(t, t2);
	free(text);
	topology_free(t2);
	topology_free(t);
	return 0;
}
