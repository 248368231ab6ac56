#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

size_t strlcpy_a(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size) {
		size_t c = n >= size ? size - 1 : n;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

int parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int hostport_parse(const char *s, int default_port, struct hostport *out, char *err, size_t errlen)
{
	const char *host = s, *colon, *end;
	size_t hlen;
	long long port = default_port;

	if (!s || !*s)
		return seterr(err, errlen, "empty address");
	if (*s == '[') {
		end = strchr(s, ']');
		if (!end)
			return seterr(err, errlen, "address '%.64s': missing ']'", s);
		host = s + 1;
		hlen = (size_t)(end - host);
		if (end[1] == ':') {
			if (parse_int(end + 2, 1, 65535, &port) < 0)
				return seterr(err, errlen, "address '%.64s': bad port", s);
		} else if (end[1]) {
			return seterr(err, errlen, "address '%.64s': junk after ']'", s);
		}
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon) /* bare IPv6 literal, no port */
			colon = NULL;
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (colon && parse_int(colon + 1, 1, 65535, &port) < 0)
			return seterr(err, errlen, "address '%.64s': bad port", s);
	}
	if (hlen == 0 || hlen >= sizeof(out->host))
		return seterr(err, errlen, "address '%.64s': bad host", s);
	if (port <= 0)
		return seterr(err, errlen, "address '%.64s': missing port", s);
	for (size_t i = 0; i < hlen; i++)
		if (host[i] == ' ' || host[i] == '\t' || host[i] == '/' || (unsigned char)host[i] < 0x20)
			return seterr(err, errlen, "address '%.64s': bad character in host", s);
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	out->port = (int)port;
	return 0;
}

const char *hostport_str(const struct hostport *hp, char *buf, size_t len)
{
	if (strchr(hp->host, ':'))
		snprintf(buf, len, "[%s]:%d", hp->host, hp->port);
	else
		snprintf(buf, len, "%s:%d", hp->host, hp->port);
	return buf;
}

int hostport_eq(const struct hostport *a, const struct hostport *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void secret_free(char *s)
{
	if (!s)
		return;
	volatile char *p = s;
	while (*p)
		*p++ = 0;
	free(s);
}

int secret_read_file(const char *path, char **out, char *err, size_t errlen)
{
	FILE *f = NULL;
	char buf[514];
	size_t n;
	int rc = -1;

	*out = NULL;
	f = fopen(path, "r");
	if (!f) {
		seterr(err, errlen, "password file %s: %s", path, strerror(errno));
		goto done;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	if (ferror(f)) {
		seterr(err, errlen, "password file %s: read error", path);
		goto done;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) > 512 || (n == sizeof(buf) - 1 && !strchr(buf, '\n') && fgetc(f) != EOF)) {
		seterr(err, errlen, "password file %s: longer than 512 bytes", path);
		goto done;
	}
	if (!buf[0]) {
		seterr(err, errlen, "password file %s: empty", path);
		goto done;
	}
	*out = strdup(buf);
	if (!*out) {
		seterr(err, errlen, "password file %s: out of memory", path);
		goto done;
	}
	rc = 0;
done:
	memset(buf, 0, sizeof(buf));
	if (f)
		fclose(f);
	return rc;
}

int secret_load_password(const char *file_flag, char **out, char *err, size_t errlen)
{
	const char *f = file_flag;
	const char *env;

	*out = NULL;
	if (!f || !*f)
		f = getenv("AUTOSHARD_PASSWORD_FILE");
	if (f && *f)
		return secret_read_file(f, out, err, errlen);
	env = getenv("AUTOSHARD_PASSWORD");
	if (env && *env) {
		*out = strdup(env);
		if (!*out)
			return seterr(err, errlen, "out of memory");
	}
	return 0;
}

const char *printable(char *dst, size_t dstlen, const char *p, size_t n)
{
	size_t i, k = 0;

	if (!dstlen)
		return dst;
	for (i = 0; i < n && k + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)p[i];
		dst[k++] = (c < 0x20 || c >= 0x7f || c == '"') ? '?' : (char)c;
	}
	if (i < n && dstlen > 4) {
		k = k + 3 < dstlen ? k : dstlen - 4;
		memcpy(dst + k, "...", 3);
		k += 3;
	}
	dst[k] = '\0';
	return dst;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *p = data, *slash;
	int fd, rc = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp))
		return seterr(err, errlen, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return seterr(err, errlen, "%s: %s", tmp, strerror(errno));
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			seterr(err, errlen, "%s: %s", tmp, w < 0 ? strerror(errno) : "short write");
			goto done;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0) {
		seterr(err, errlen, "%s: fsync: %s", tmp, strerror(errno));
		goto done;
	}
	if (close(fd) < 0) {
		fd = -1;
		seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	/* The rename itself must reach the disk. */
	slash = strrchr(path, '/');
	if (slash && (size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	} else {
		strlcpy_a(dir, ".", sizeof(dir));
	}
	if ((fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
		fd = -1;
	}
	return 0;
done:
	if (fd >= 0)
		close(fd);
	{
		int e = errno; /* callers may report errno */
		unlink(tmp);
		errno = e;
	}
	return rc;
}
