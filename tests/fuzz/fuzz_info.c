/* INFO field lookup (info_get_field): compared with a plain reference
 * implementation on the same bytes, for well-known keys and for a key taken
 * from the input, with output buffers of exact sizes (0..63 bytes) so any
 * overrun is an ASan report. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

/* What info_get_field promises: the first line "key:value" (lines end at
 * "\n", one trailing "\r" removed); value truncated to outlen - 1 bytes. */
static int reference(const char *buf, size_t len, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key), pos = 0;

	if (!klen)
		return -1;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len, n = end - pos;
		const char *line = buf + pos;

		if (n && line[n - 1] == '\r')
			n--;
		if (n > klen && memcmp(line, key, klen) == 0 && line[klen] == ':') {
			if (outlen) {
				size_t c = n - klen - 1 < outlen - 1 ? n - klen - 1 : outlen - 1;
				memcpy(out, line + klen + 1, c);
				out[c] = '\0';
			}
			return 0;
		}
		pos = nl ? end + 1 : len;
	}
	return -1;
}

static void compare(const char *buf, size_t len, const char *key, size_t outlen)
{
	char *got = malloc(outlen ? outlen : 1), want[64];
	int rg, rw;

	FUZZ_CHECK(got != NULL, "out of memory");
	rg = info_get_field(buf, len, key, outlen ? got : NULL, outlen);
	rw = reference(buf, len, key, want, outlen);
	FUZZ_CHECK(rg == rw, "key '%s': info_get_field %d, reference %d", key, rg, rw);
	if (rg == 0 && outlen)
		FUZZ_CHECK(strcmp(got, want) == 0, "key '%s': value '%s', reference '%s'", key, got, want);
	free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {
		"cluster_enabled", "master_link_status", "role", "redis_version", "valkey_version",
		"cluster_state",   "connected_slaves",   "db0"};
	const char *buf = (const char *)data;
	size_t outlen, klen;
	char key[64];

	outlen = size % 64; /* from the length, so seeds are plain INFO text */
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		compare(buf, size, keys[i], outlen);
	/* a key from the input: the bytes before the first ':' */
	for (klen = 0; klen < size && klen < sizeof(key) - 1 && buf[klen] != ':' && buf[klen] != '\0'; klen++)
		key[klen] = buf[klen];
	key[klen] = '\0';
	compare(buf, size, key, outlen);
	return 0;
}
