/* nodes.conf shard-id repair (nodes_file_converge_shard_ids), on any bytes.
 * Checks: the length never changes and every byte that changed lies inside
 * the 40-hex value of a "shard-id=" field, and becomes another hex digit;
 * the count returned is at most the number of lines and 0 exactly when
 * nothing changed; a second run changes nothing (the result is a fixed
 * point); the note, when a line changed, is one terminated line. The
 * myself lookup (nodes_file_myself) leaves the bytes alone and, when it finds
 * an id, returns 40 hex digits that start a line of the input. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "nodesfile.h"

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *t = malloc(size ? size : 1), note[256];
	size_t lines = 1, diffs = 0;
	int n, again;

	FUZZ_CHECK(t != NULL, "out of memory");
	memcpy(t, data, size);
	memset(note, 'x', sizeof(note));
	n = nodes_file_converge_shard_ids(t, size, note, sizeof(note));
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	FUZZ_CHECK(n >= 0 && (size_t)n <= lines, "changed %d lines of %zu", n, lines);
	for (size_t i = 0; i < size; i++) {
		int inside = 0;
		if (t[i] == (char)data[i])
			continue;
		diffs++;
		FUZZ_CHECK(is_hex(t[i]), "byte %zu became 0x%02x", i, (unsigned char)t[i]);
		/* some "shard-id=" + 40 hex digits of the input covers byte i */
		for (size_t k = 0; k < 40 && k <= i && !inside; k++) {
			size_t s = i - k, h = 0;
			if (s < 9 || s + 40 > size || memcmp(data + s - 9, "shard-id=", 9) != 0)
				continue;
			while (h < 40 && is_hex((char)data[s + h]))
				h++;
			inside = h == 40;
		}
		FUZZ_CHECK(inside, "byte %zu changed outside a shard-id value", i);
	}
	FUZZ_CHECK((n == 0) == (diffs == 0), "%d lines reported, %zu bytes changed", n, diffs);
	if (n > 0) {
		FUZZ_CHECK(memchr(note, '\0', sizeof(note)) != NULL, "note not terminated");
		FUZZ_CHECK(strchr(note, '\n') == NULL, "note has a line break");
	}
	again = nodes_file_converge_shard_ids(t, size, NULL, 0);
	FUZZ_CHECK(again == 0, "a second run changed %d more lines", again);
	memcpy(t, data, size);
	{
		char id[41];
		int found = nodes_file_myself(t, size, id), at_line = 0;
		FUZZ_CHECK(memcmp(t, data, size) == 0, "the myself lookup changed the text");
		if (found) {
			FUZZ_CHECK(strlen(id) == 40, "id of %zu characters", strlen(id));
			for (size_t k = 0; k < 40; k++)
				FUZZ_CHECK(is_hex(id[k]), "id character %zu is 0x%02x", k, (unsigned char)id[k]);
			for (size_t i = 0; i + 40 <= size && !at_line; i++)
				at_line = (i == 0 || data[i - 1] == '\n') && memcmp(data + i, id, 40) == 0;
			FUZZ_CHECK(at_line, "id %s starts no line", id);
		}
	}
	free(t);
	return 0;
}
