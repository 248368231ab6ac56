/* Caps on what a server's reply may make hiredis allocate.
 *
 * hiredis 0.14 (Debian bookworm) has no limit of its own: "*2000000000\r\n"
 * makes it calloc 16 GB at once, "$1000000000\r\n" buffer a gigabyte. Every
 * connection autoshard opens (lib/node.c, lib/migrator.c) builds its replies
 * with these functions instead, which refuse an array of more than
 * RESP_MAX_ELEMENTS elements or a string of more than RESP_MAX_STRING bytes;
 * hiredis then fails the connection with REDIS_ERR_OOM, which resp_errstr
 * names. The reply objects are hiredis's own (freeReplyObject frees them). */
#ifndef AUTOSHARD_RESP_CAP_H
#define AUTOSHARD_RESP_CAP_H

#include <hiredis/hiredis.h>

#define RESP_MAX_ELEMENTS (1 << 20) /* far above any CLUSTER SHARDS or GETKEYSINSLOT batch */
#define RESP_MAX_STRING (64u << 20) /* CLUSTER NODES of 16384 fragmented slots is < 1 MiB */
#define RESP_MAX_LINE (64u << 10)   /* status, error and integer lines; Valkey's are short */

/* Build this reader's replies with the capped functions. Before any read. */
void resp_cap_reader(redisReader *r);
/* The reader functions themselves (fuzzers build readers with them). */
redisReplyObjectFunctions *resp_capped_functions(void);
/* ctx->errstr, or for REDIS_ERR_OOM a message naming the caps. */
const char *resp_errstr(int err, const char *errstr);

/* The functions above see a string only once all of it arrived, so a
 * "$1000000000" header alone would still make the reader buffer whatever
 * follows until the command timeout. Called when the reader has no complete
 * reply yet: 1 when the item it waits for can no longer fit the caps (a "$N"
 * header with N over RESP_MAX_STRING, refused as soon as its digits say so;
 * a line longer than RESP_MAX_LINE, e.g. one that never ends), else 0. */
int resp_reader_over_cap(const redisReader *r);
#define RESP_OVER_CAP "a reply over the size caps (1048576 array elements, 64 MiB strings, 64 KiB lines)"
/* redisGetReply for a blocking context that also checks the above after
 * every read; over the caps, the context fails with REDIS_ERR_PROTOCOL and
 * RESP_OVER_CAP (no further command runs on it). */
int resp_get_reply(redisContext *c, void **reply);

#endif
