/* Synchronous connection to one Valkey/Redis node, for the short control steps
 * of the reconciler (the migrator has its own async connections). Every error
 * message names the node ("node 127.0.0.3:6379: ...") and never the password. */
#ifndef AUTOSHARD_NODE_H
#define AUTOSHARD_NODE_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "util.h"

struct node_conn {
	redisContext *ctx;
	struct hostport addr;
	char name[HOST_MAX + 16]; /* "host:port" for messages */
};

/* Connect with a timeout (connect and every command), AUTH when password is not
 * NULL. Caller frees with node_close. NULL with err on failure. */
struct node_conn *node_connect(const struct hostport *addr, const char *password, int timeout_ms, char *err,
			       size_t errlen);
void node_close(struct node_conn *n);

/* Run a command (printf-style as redisCommand). Returns the reply (caller
 * frees with freeReplyObject) or NULL with err on I/O error or an error reply;
 * err then reads "node H:P: CMD: <reply or I/O error>" where CMD is the
 * command's first word(s) only. */
redisReply *node_command(struct node_conn *n, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
redisReply *node_command_argv(struct node_conn *n, char *err, size_t errlen, int argc, const char **argv,
			      const size_t *argvlen);
/* Like node_command but expects a status/bulk reply and frees it: 0 or -1. */
int node_command_ok(struct node_conn *n, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
