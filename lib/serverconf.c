#include "serverconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define CONF_MAX 16384

/* Append a double-quoted value, escaping \ and " as the server's config
 * parser reads them. -1 when it does not fit or holds a control character. */
static int put_quoted(char *buf, size_t cap, size_t *off, const char *v)
{
	if (*off + 1 >= cap)
		return -1;
	buf[(*off)++] = '"';
	for (const char *p = v; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
		if (*off + 3 >= cap)
			return -1;
		if (*p == '"' || *p == '\\')
			buf[(*off)++] = '\\';
		buf[(*off)++] = *p;
	}
	if (*off + 2 >= cap)
		return -1;
	buf[(*off)++] = '"';
	buf[(*off)++] = '\n';
	buf[*off] = '\0';
	return 0;
}

static int put(char *buf, size_t cap, size_t *off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *off, cap - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *off)
		return -1;
	*off += (size_t)n;
	return 0;
}

int server_conf_write(const char *path, const struct server_conf *c, char *err, size_t errlen)
{
	char *text = NULL;
	size_t off = 0;
	int rc = -1;

	if (!c->bind_ip || !c->dir)
		return seterr(err, errlen, "server config: bind address and data directory are required");
	text = calloc(1, CONF_MAX);
	if (!text)
		return seterr(err, errlen, "out of memory");
	if (put(text, CONF_MAX, &off,
		"# written by autoshard; changes are overwritten at the next start\n"
		"bind %s\nbind-source-addr %s\nport %d\nprotected-mode no\ndaemonize no\n"
		"cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout %d\n"
		"save \"\"\n%s",
		c->bind_ip, c->bind_ip, c->port > 0 ? c->port : 6379,
		c->node_timeout_ms > 0 ? c->node_timeout_ms : 15000,
		c->persistent ? "appendonly yes\nappendfsync everysec\n" : "appendonly no\n") < 0 ||
	    put(text, CONF_MAX, &off, "dir ") < 0 || put_quoted(text, CONF_MAX, &off, c->dir) < 0 ||
	    put(text, CONF_MAX, &off, "logfile ") < 0 ||
	    put_quoted(text, CONF_MAX, &off, c->logfile ? c->logfile : "server.log") < 0) {
		seterr(err, errlen, "server config: a value is too long or holds a control character");
		goto done;
	}
	if (c->announce_hostname && (put(text, CONF_MAX, &off, "cluster-announce-hostname ") < 0 ||
				     put_quoted(text, CONF_MAX, &off, c->announce_hostname) < 0 ||
				     put(text, CONF_MAX, &off, "cluster-preferred-endpoint-type %s\n",
					 c->prefer_hostname ? "hostname" : "ip") < 0)) {
		seterr(err, errlen, "server config: bad announce hostname");
		goto done;
	}
	if (c->prefer_hostname && !c->announce_hostname) {
		seterr(err, errlen, "server config: endpoint type hostname needs an announced hostname");
		goto done;
	}
	if (c->announce_ip && put(text, CONF_MAX, &off, "cluster-announce-ip %s\n", c->bind_ip) < 0) {
		seterr(err, errlen, "server config: bad announce address");
		goto done;
	}
	if (c->password &&
	    (put(text, CONF_MAX, &off, "requirepass ") < 0 || put_quoted(text, CONF_MAX, &off, c->password) < 0 ||
	     put(text, CONF_MAX, &off, "masterauth ") < 0 || put_quoted(text, CONF_MAX, &off, c->password) < 0)) {
		/* The message never carries the value. */
		seterr(err, errlen, "server config: the password is too long or holds a control character");
		goto done;
	}
	if (c->pidfile &&
	    (put(text, CONF_MAX, &off, "pidfile ") < 0 || put_quoted(text, CONF_MAX, &off, c->pidfile) < 0)) {
		seterr(err, errlen, "server config: bad pidfile path");
		goto done;
	}
	if (c->include &&
	    (put(text, CONF_MAX, &off, "include ") < 0 || put_quoted(text, CONF_MAX, &off, c->include) < 0)) {
		seterr(err, errlen, "server config: bad include path");
		goto done;
	}
	if (write_file_atomic(path, text, off, 0600, err, errlen) < 0)
		goto done;
	rc = 0;
done:
	memset(text, 0, CONF_MAX);
	free(text);
	return rc;
}
