/* Capped hiredis reply construction. See resp_cap.h. */
#include "resp_cap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* type: the reply's own type; task->type is the type byte read, which for
 * "$-1" and "*-1" (nil) is STRING or ARRAY. Links into the parent array as
 * hiredis's createReplyObject does. */
static redisReply *reply_new(const redisReadTask *task, int type)
{
	redisReply *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->type = type;
	if (task->parent) {
		redisReply *parent = task->parent->obj;

		if (!parent || parent->type != REDIS_REPLY_ARRAY || task->idx < 0 ||
		    (size_t)task->idx >= parent->elements) {
			free(r);
			return NULL;
		}
		parent->element[task->idx] = r;
	}
	return r;
}

static void *capped_string(const redisReadTask *task, char *str, size_t len)
{
	redisReply *r;
	char *copy;

	if (len > RESP_MAX_STRING)
		return NULL;
	copy = malloc(len + 1);
	if (!copy)
		return NULL;
	r = reply_new(task, task->type);
	if (!r) {
		free(copy);
		return NULL;
	}
	memcpy(copy, str, len);
	copy[len] = '\0';
	r->str = copy;
	r->len = len;
	return r;
}

static void *capped_array(const redisReadTask *task, int elements)
{
	redisReply *r;
	redisReply **v = NULL;

	if (elements < 0 || elements > RESP_MAX_ELEMENTS)
		return NULL;
	if (elements > 0 && !(v = calloc((size_t)elements, sizeof(*v))))
		return NULL;
	r = reply_new(task, REDIS_REPLY_ARRAY);
	if (!r) {
		free(v);
		return NULL;
	}
	r->element = v;
	r->elements = (size_t)elements;
	return r;
}

static void *capped_integer(const redisReadTask *task, long long value)
{
	redisReply *r = reply_new(task, REDIS_REPLY_INTEGER);

	if (r)
		r->integer = value;
	return r;
}

static void *capped_nil(const redisReadTask *task)
{
	return reply_new(task, REDIS_REPLY_NIL);
}

static void capped_free(void *reply)
{
	freeReplyObject(reply);
}

static redisReplyObjectFunctions capped_functions = {
	capped_string, capped_array, capped_integer, capped_nil, capped_free,
};

redisReplyObjectFunctions *resp_capped_functions(void)
{
	return &capped_functions;
}

void resp_cap_reader(redisReader *r)
{
	if (r)
		r->fn = &capped_functions;
}

const char *resp_errstr(int err, const char *errstr)
{
	if (err == REDIS_ERR_OOM)
		return RESP_OVER_CAP ", or out of memory";
	return errstr && *errstr ? errstr : "connection lost";
}

/* A bulk string's header ("$67108864\r\n") is far shorter than this. */
#define RESP_MAX_HEADER 64

int resp_reader_over_cap(const redisReader *r)
{
	size_t i, end, pending;
	unsigned long long n = 0;
	int type;

	if (!r || !r->buf || r->pos >= r->len)
		return 0;
	pending = r->len - r->pos;
	i = r->pos;
	/* hiredis consumes an item's type byte before it waits for the rest:
	 * at a pause the current task has its type and the cursor is after it. */
	if (r->ridx >= 0 && r->ridx < (int)(sizeof(r->rstack) / sizeof(r->rstack[0])) && r->rstack[r->ridx].type >= 0) {
		type = r->rstack[r->ridx].type;
	} else {
		type = r->buf[i] == '$' ? REDIS_REPLY_STRING : REDIS_REPLY_STATUS;
		i++;
	}
	/* A line (status, error, integer, or an array's header): hiredis scans
	 * all of it for its end on every read, so a long one costs time as
	 * well as memory. */
	if (type != REDIS_REPLY_STRING)
		return pending > RESP_MAX_LINE;
	for (end = i; end < r->len && r->buf[end] >= '0' && r->buf[end] <= '9'; end++) {
		n = n * 10 + (unsigned long long)(r->buf[end] - '0');
		if (n > RESP_MAX_STRING)
			return 1;
	}
	if (end >= r->len || r->buf[end] != '\r')
		return pending > RESP_MAX_HEADER; /* a header that does not end, or "$-1" to come */
	return pending > (size_t)RESP_MAX_STRING + RESP_MAX_HEADER;
}

int resp_get_reply(redisContext *c, void **reply)
{
	void *aux = NULL;
	int done = 0;

	*reply = NULL;
	if (redisGetReplyFromReader(c, &aux) == REDIS_ERR)
		return REDIS_ERR;
	if (!aux) {
		do {
			if (redisBufferWrite(c, &done) == REDIS_ERR)
				return REDIS_ERR;
		} while (!done);
		do {
			if (redisBufferRead(c) == REDIS_ERR || redisGetReplyFromReader(c, &aux) == REDIS_ERR)
				return REDIS_ERR;
			if (!aux && resp_reader_over_cap(c->reader)) {
				c->err = REDIS_ERR_PROTOCOL;
				snprintf(c->errstr, sizeof(c->errstr), "%s", RESP_OVER_CAP);
				return REDIS_ERR;
			}
		} while (!aux);
	}
	*reply = aux;
	return REDIS_OK;
}
