/* Upsun instance source.
 *
 * Upsun keeps /run/peers.json in every container of an application: a JSON
 * object from "<app>.<N>" to the IP of each current instance of every app,
 * rewritten live when the instance count changes, e.g.
 *	{"valkey.1": "169.254.1.3", "valkey.0": "169.254.1.2"}
 * No environment variable gives the instance number or count; this file does.
 *
 * - upsun_peers_parse: bytes in, member list out (no I/O).
 * - upsun_peers_poll: reads the file (capped) and says whether it changed, so a
 *   timer in the sidecar can keep its last good list when the file is missing,
 *   half-written or malformed.
 * - upsun_find_self: which member is this container (override or getifaddrs).
 * - upsun_relationship_members: the instances behind a relationship in
 *   PLATFORM_RELATIONSHIPS (base64 JSON), for clients and tools.
 *
 * Wiring in the sidecar (sketch):
 *	static struct upsun_peers_watch w;            // zeroed once
 *	struct member_list ml;
 *	switch (upsun_peers_poll(&w, UPSUN_PEERS_PATH, app, 6379, &ml, err, sizeof(err))) {
 *	case UPSUN_PEERS_CHANGED:   swap ml into sc->members; break;
 *	case UPSUN_PEERS_UNCHANGED: break;
 *	default:                    if (!w.err_repeated) log_warnx("%s; keeping the last good list", err);
 *	}
 */
#ifndef AUTOSHARD_UPSUN_SOURCE_H
#define AUTOSHARD_UPSUN_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "members.h"

#define UPSUN_PEERS_PATH "/run/peers.json"
#define UPSUN_PEERS_MAX_BYTES (256u * 1024u)     /* the whole file */
#define UPSUN_PEERS_MAX_ENTRIES 4096             /* entries of all apps together */
#define UPSUN_APP_NAME_MAX 64                    /* "<app>" part of a key */
#define UPSUN_INSTANCE_MAX 999999                /* largest N accepted in "<app>.<N>" */
#define UPSUN_RELATIONSHIPS_MAX_BYTES (1u << 20) /* base64 text of PLATFORM_RELATIONSHIPS */
#define UPSUN_DEFAULT_PORT 6379
#define UPSUN_PEERS_RACY_S 2 /* see upsun_peers_poll */

/* An application name as Upsun allows in a peers.json key: 1..64 of
 * [A-Za-z0-9_-]. 1 when valid. */
int upsun_app_name_valid(const char *app);

/* Parse peers.json. Every key must be "<name>.<N>" (name as above, N decimal
 * without leading zeros, at most UPSUN_INSTANCE_MAX) and every value a string.
 * Only the entries of `app` are kept; their values must be IPv4 or IPv6
 * literals (kept in canonical text form, e.g. "fe80::1"). Members are ordered by
 * N, reachable on `port` (0: UPSUN_DEFAULT_PORT), with host label = the IP (each
 * instance is its own failure domain as far as we can tell). The same IP twice,
 * more than MEMBERS_MAX instances, or no instance of `app` is an error.
 * out is always initialised; on success the caller frees it with
 * member_list_free. 0, or -1 with a one-line message in err. */
int upsun_peers_parse(const char *buf, size_t len, const char *app, int port, struct member_list *out, char *err,
		      size_t errlen);

/* What upsun_peers_poll remembers between calls; zero it before the first. */
struct upsun_peers_watch {
	int have;  /* a good list was returned at least once */
	dev_t dev; /* identity and content of the last good file */
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec read_at; /* CLOCK_REALTIME when it was read */
	uint64_t hash;           /* FNV-1a 64 of its bytes */
	char last_err[256];      /* message of the last failed poll, "" if none */
	int err_repeated;        /* set by a failed poll whose message equals the previous one */
	unsigned long errors;    /* failed polls since the last good one */
};

enum upsun_poll_result {
	UPSUN_PEERS_ERROR = -1,    /* missing, unreadable, too big, changing while read, malformed */
	UPSUN_PEERS_UNCHANGED = 0, /* same file (stat) or same bytes as the last good list */
	UPSUN_PEERS_CHANGED = 1,   /* *out holds a new list; caller frees it */
};

/* Read `path` (at most UPSUN_PEERS_MAX_BYTES) and parse it as upsun_peers_parse
 * does. When dev/inode/size/mtime are those of the last good read, and that read
 * happened at least UPSUN_PEERS_RACY_S seconds after the file's mtime (so a later
 * write would have moved the mtime: git's "racily clean" rule), the file is not
 * read again; otherwise it is read, and when its bytes hash to the last good
 * content the answer is UNCHANGED too.
 * On ERROR the watch still describes the last good file, so the caller keeps its
 * list and the next poll tries again. *out is initialised on every return and
 * filled only on CHANGED. Does blocking file I/O on a small local file: fine
 * from a timer callback. */
int upsun_peers_poll(struct upsun_peers_watch *w, const char *path, const char *app, int port, struct member_list *out,
		     char *err, size_t errlen);

/* Index of the member whose address is one of ips[0..n-1] (IP literals,
 * compared as addresses, so "::1" matches "0:0::1"). -1 with err when none
 * matches, or when two members match (ambiguous). */
int upsun_match_self(const struct member_list *ml, const char *const *ips, size_t n, char *err, size_t errlen);

/* Addresses of this host's up interfaces (getifaddrs), IPv4 and IPv6, written
 * into ips[0..max-1] as canonical text; *n gets how many. 0 or -1 with err. */
int upsun_local_ips(char (*ips)[IP_MAX], size_t max, size_t *n, char *err, size_t errlen);

/* This instance in ml: when override_ip is non-NULL and non-empty it is the only
 * address tried (it must be an IP literal), else every address of
 * upsun_local_ips. Index, or -1 with err naming the addresses tried. */
int upsun_find_self(const struct member_list *ml, const char *override_ip, char *err, size_t errlen);

/* Decode base64 (standard alphabet, '=' padding required, no whitespace except
 * a trailing newline). Caller frees *out (NUL-terminated, *outlen bytes without
 * the NUL). 0, or -1 with err (the input is never echoed). */
int upsun_base64_decode(const char *in, size_t inlen, char **out, size_t *outlen, char *err, size_t errlen);

/* Instances behind relationship `name` in PLATFORM_RELATIONSHIPS (`b64`, the
 * variable's value). For each endpoint of the relationship: its "instance_ips"
 * when that is a non-empty array (IP literals), else its "ip" (IP literal),
 * else its "host" (a host name such as "valkey.internal"). Duplicates across
 * endpoints are listed once, in order of appearance. Members get `port` (0:
 * UPSUN_DEFAULT_PORT; an app-to-app relationship's own port is the HTTP one).
 * The variable holds passwords: errors name the relationship and the field,
 * never a value, and JSON syntax errors give only line and column.
 * out is always initialised; caller frees it on success. 0 or -1 with err. */
int upsun_relationship_members(const char *b64, const char *name, int port, struct member_list *out, char *err,
			       size_t errlen);

#endif
