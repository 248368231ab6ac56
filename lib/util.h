/* Small helpers shared by the engine: error buffers, addresses, clocks, secrets. */
#ifndef AUTOSHARD_UTIL_H
#define AUTOSHARD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CLUSTER_SLOTS 16384
#define NODE_ID_LEN 40
#define HOST_MAX 256
#define IP_MAX 46

/* Exit codes shared by every program. Permanent refusals are distinct from
 * transient failures so supervisors (Kubernetes, Upsun) do the right thing. */
enum autoshard_exit {
	EXIT_OK = 0,
	EXIT_FAILURE_GENERIC = 1, /* transient or unhealthy: retry may help */
	EXIT_USAGE = 2,           /* bad flags or configuration */
	EXIT_REFUSED = 3,         /* permanent refusal (clone guard, foreign cluster) */
};

/* Format into err (errlen bytes, may be 0/NULL). Always returns -1 so callers
 * can `return seterr(...)`. */
int seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A host:port address. ip holds an IPv4/IPv6 literal or a host name. */
struct hostport {
	char host[HOST_MAX];
	int port;
};

/* Parse "host:port", "[v6]:port" or "host" (default_port). 0 or -1 with err. */
int hostport_parse(const char *s, int default_port, struct hostport *out, char *err, size_t errlen);
/* "host:port" (v6 in brackets) into buf; returns buf. */
const char *hostport_str(const struct hostport *hp, char *buf, size_t len);
int hostport_eq(const struct hostport *a, const struct hostport *b);

/* Copy at most n bytes of p into dst (dstlen) for a message: bytes outside
 * printable ASCII (and '"') become '?', so a value from outside cannot add
 * lines, quotes or escape sequences to a log. "..." marks a cut. Returns dst. */
const char *printable(char *dst, size_t dstlen, const char *p, size_t n);

/* Replace path with data atomically: a temporary file beside it (named per
 * process, so two writers never share one), written in full, fsync'd, renamed
 * over path, then the directory fsync'd. 0, or -1 with err (path and errno). */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, char *err, size_t errlen);

/* Monotonic milliseconds. */
int64_t now_ms(void);
void sleep_ms(int ms);

/* Copy with truncation, always NUL-terminated; returns strlen(src). */
size_t strlcpy_a(char *dst, const char *src, size_t size);

/* Parse a decimal integer within [min,max]; the whole string must be the number. */
int parse_int(const char *s, long long min, long long max, long long *out);

/* Read a secret from a file: first line, trailing CR/LF stripped, at most 512 bytes.
 * Caller frees with secret_free (which wipes it). The error never contains the secret. */
int secret_read_file(const char *path, char **out, char *err, size_t errlen);
/* Password from --password-file value (may be NULL), else AUTOSHARD_PASSWORD_FILE,
 * else AUTOSHARD_PASSWORD. *out stays NULL when none is configured. */
int secret_load_password(const char *file_flag, char **out, char *err, size_t errlen);
void secret_free(char *s);

#endif
