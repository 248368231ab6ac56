#include "node.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "resp_cap.h"

/* The command's first word, or two for CLUSTER/CONFIG subcommands, for messages.
 * Never the arguments: they may be keys or secrets. */
static void command_label(const char *fmt, char *out, size_t len)
{
	size_t i = 0, words = 0;
	int two = strncasecmp(fmt, "CLUSTER ", 8) == 0 || strncasecmp(fmt, "CONFIG ", 7) == 0;

	while (fmt[i] && i + 1 < len) {
		if (fmt[i] == ' ' && ++words >= (two ? 2u : 1u))
			break;
		if (fmt[i] == '%')
			break;
		out[i] = fmt[i];
		i++;
	}
	while (i > 0 && out[i - 1] == ' ')
		i--;
	out[i] = '\0';
}

static redisReply *check_reply(struct node_conn *n, redisReply *r, const char *label, char *err, size_t errlen)
{
	if (!r) {
		seterr(err, errlen, "node %s: %s: %s", n->name, label, resp_errstr(n->ctx->err, n->ctx->errstr));
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (strncmp(r->str, "NOAUTH", 6) == 0)
			seterr(err, errlen, "node %s: %s: server requires a password (set --password-file)", n->name,
			       label);
		else {
			char shown[208];
			seterr(err, errlen, "node %s: %s: %s", n->name, label,
			       printable(shown, sizeof(shown), r->str, r->len));
		}
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* redisvCommand / redisCommandArgv for a blocking context, with the reply
 * caps checked after every read (resp_get_reply). NULL on failure, the
 * reason in ctx->err / ctx->errstr. */
static redisReply *command_v(redisContext *ctx, const char *fmt, va_list ap)
{
	void *r = NULL;

	if (redisvAppendCommand(ctx, fmt, ap) != REDIS_OK || resp_get_reply(ctx, &r) != REDIS_OK)
		return NULL;
	return r;
}

static redisReply *command(redisContext *ctx, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = command_v(ctx, fmt, ap);
	va_end(ap);
	return r;
}

static redisReply *command_argv(redisContext *ctx, int argc, const char **argv, const size_t *argvlen)
{
	void *r = NULL;

	if (redisAppendCommandArgv(ctx, argc, argv, argvlen) != REDIS_OK || resp_get_reply(ctx, &r) != REDIS_OK)
		return NULL;
	return r;
}

struct node_conn *node_connect(const struct hostport *addr, const char *password, int timeout_ms, char *err,
			       size_t errlen)
{
	struct node_conn *n = NULL;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	redisReply *r = NULL;

	n = calloc(1, sizeof(*n));
	if (!n) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	n->addr = *addr;
	hostport_str(addr, n->name, sizeof(n->name));
	n->ctx = redisConnectWithTimeout(addr->host, addr->port, tv);
	if (!n->ctx || n->ctx->err) {
		seterr(err, errlen, "node %s: cannot connect: %s", n->name, n->ctx ? n->ctx->errstr : "out of memory");
		goto fail;
	}
	resp_cap_reader(n->ctx->reader);
	if (redisSetTimeout(n->ctx, tv) != REDIS_OK) {
		seterr(err, errlen, "node %s: cannot set timeout", n->name);
		goto fail;
	}
	if (password) {
		r = command(n->ctx, "AUTH %s", password);
		if (!r) {
			seterr(err, errlen, "node %s: AUTH: %s", n->name, resp_errstr(n->ctx->err, n->ctx->errstr));
			goto fail;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			if (strstr(r->str, "without any password") || strstr(r->str, "no password"))
				seterr(err, errlen, "node %s: a password is configured but the server has none",
				       n->name);
			else
				seterr(err, errlen, "node %s: authentication failed (wrong password?)", n->name);
			goto fail;
		}
		freeReplyObject(r);
		r = NULL;
	}
	return n;
fail:
	if (r)
		freeReplyObject(r);
	node_close(n);
	return NULL;
}

void node_close(struct node_conn *n)
{
	if (!n)
		return;
	if (n->ctx)
		redisFree(n->ctx);
	free(n);
}

redisReply *node_command(struct node_conn *n, char *err, size_t errlen, const char *fmt, ...)
{
	char label[48];
	va_list ap;
	redisReply *r;

	command_label(fmt, label, sizeof(label));
	if (n->ctx->err)
		return seterr(err, errlen, "node %s: %s: connection broken: %s", n->name, label,
			      resp_errstr(n->ctx->err, n->ctx->errstr)),
		       NULL;
	va_start(ap, fmt);
	r = command_v(n->ctx, fmt, ap);
	va_end(ap);
	return check_reply(n, r, label, err, errlen);
}

redisReply *node_command_argv(struct node_conn *n, char *err, size_t errlen, int argc, const char **argv,
			      const size_t *argvlen)
{
	char label[48];
	size_t l = argvlen ? argvlen[0] : strlen(argv[0]);
	redisReply *r;

	if (l >= sizeof(label))
		l = sizeof(label) - 1;
	memcpy(label, argv[0], l);
	label[l] = '\0';
	if (n->ctx->err)
		return seterr(err, errlen, "node %s: %s: connection broken: %s", n->name, label,
			      resp_errstr(n->ctx->err, n->ctx->errstr)),
		       NULL;
	r = command_argv(n->ctx, argc, argv, argvlen);
	return check_reply(n, r, label, err, errlen);
}

int node_command_ok(struct node_conn *n, char *err, size_t errlen, const char *fmt, ...)
{
	char label[48];
	va_list ap;
	redisReply *r;

	command_label(fmt, label, sizeof(label));
	if (n->ctx->err)
		return seterr(err, errlen, "node %s: %s: connection broken: %s", n->name, label,
			      resp_errstr(n->ctx->err, n->ctx->errstr));
	va_start(ap, fmt);
	r = command_v(n->ctx, fmt, ap);
	va_end(ap);
	r = check_reply(n, r, label, err, errlen);
	if (!r)
		return -1;
	freeReplyObject(r);
	return 0;
}
