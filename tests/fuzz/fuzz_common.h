/* Shared helpers for the libFuzzer targets: invariant checks over the parsed
 * models, a CLUSTER NODES writer for round trips, and a RESP reader with
 * caps. A failed check prints what was wrong and aborts, which libFuzzer
 * reports as a crash and saves the input. */
#ifndef AUTOSHARD_FUZZ_COMMON_H
#define AUTOSHARD_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "members.h"
#include "resp_cap.h"
#include "topology.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void fuzz_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
#define FUZZ_CHECK(cond, ...)                                       \
	do {                                                        \
		if (!(cond))                                        \
			fuzz_fail(__FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

/* An error message must be set, NUL-terminated within errlen and one line. */
void fuzz_check_err(const char *err, size_t errlen);

/* Every invariant of a successfully parsed topology: node count within the
 * cap, ids 40 lower-case hex and unique, master ids valid, ports in range,
 * strings terminated, ranges within 0..16383 and matching slot_owner and
 * nslots, open slots in range with valid peer ids, myself consistent.
 * from_shards: the CLUSTER SHARDS variant (no myself, no open slots). */
void fuzz_check_topology(const struct topology *t, int from_shards);

/* Write t as a CLUSTER NODES reply into a new buffer (caller frees); *len set.
 * Parsing the result gives back an equal topology. */
char *fuzz_topology_to_nodes(const struct topology *t, size_t *len);
/* Abort unless a and b describe the same nodes, fields, slots and open slots. */
void fuzz_check_topology_equal(const struct topology *a, const struct topology *b);

/* A hiredis reader whose reply objects are the same as hiredis's own (free
 * with freeReplyObject) but which refuses arrays of more than
 * RESP_MAX_ELEMENTS and strings of more than RESP_MAX_STRING bytes
 * (the reader then reports an error): lib/resp_cap.c's, the product's own.
 * hiredis 0.14 has no such cap: "*N" makes it calloc N pointers at once. Free with redisReaderFree. */
redisReader *fuzz_reader_new(void);
/* Abort unless r is a well-formed reply tree (types known, strings
 * terminated, element pointers set) no deeper than hiredis allows. */
void fuzz_check_reply(const redisReply *r, int depth);

/* Member list invariants: 1..MEMBERS_MAX members, ports 1..65535, hosts and
 * labels set and terminated, no address twice. ip_sources: the platform
 * sources that take IP literals (Upsun, Flux): every host is an IPv4/IPv6
 * literal in canonical text form, the label is the IP, and the port is
 * want_port. */
void fuzz_check_members(const struct member_list *l, int ip_sources, int want_port);
/* Abort unless both lists hold the same members in the same order. */
void fuzz_check_members_equal(const struct member_list *a, const struct member_list *b);
/* Standard base64 with '=' padding; caller frees. */
char *fuzz_base64(const unsigned char *p, size_t n);

#endif
