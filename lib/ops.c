#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int op_meet(struct node_conn *n, const char *ip, int port, char *err, size_t errlen)
{
	return node_command_ok(n, err, errlen, "CLUSTER MEET %s %d", ip, port);
}

int op_addslots(struct node_conn *n, const struct slot_range *r, size_t nr, char *err, size_t errlen)
{
	const char **argv = NULL;
	char(*nums)[8] = NULL;
	redisReply *rep = NULL;
	int rc = -1;

	if (nr == 0)
		return 0;
	argv = calloc(2 + 2 * nr, sizeof(*argv));
	nums = calloc(2 * nr, sizeof(*nums));
	if (!argv || !nums) {
		seterr(err, errlen, "out of memory");
		goto done;
	}
	argv[0] = "CLUSTER";
	argv[1] = "ADDSLOTSRANGE";
	for (size_t i = 0; i < nr; i++) {
		snprintf(nums[2 * i], sizeof(nums[0]), "%d", r[i].start);
		snprintf(nums[2 * i + 1], sizeof(nums[0]), "%d", r[i].end);
		argv[2 + 2 * i] = nums[2 * i];
		argv[3 + 2 * i] = nums[2 * i + 1];
	}
	rep = node_command_argv(n, err, errlen, (int)(2 + 2 * nr), argv, NULL);
	if (!rep)
		goto done;
	rc = 0;
done:
	if (rep)
		freeReplyObject(rep);
	free(argv);
	free(nums);
	return rc;
}

int op_replicate(struct node_conn *n, const char *master_id, char *err, size_t errlen)
{
	return node_command_ok(n, err, errlen, "CLUSTER REPLICATE %s", master_id);
}

int op_set_config_epoch(struct node_conn *n, unsigned long long epoch, char *err, size_t errlen)
{
	char e[256];

	if (node_command_ok(n, e, sizeof(e), "CLUSTER SET-CONFIG-EPOCH %llu", epoch) == 0)
		return 0;
	/* Already done, or the node met others: nothing left to do. */
	if (strstr(e, "already") || strstr(e, "any other node") || strstr(e, "non-zero"))
		return 0;
	return seterr(err, errlen, "%s", e);
}

int op_forget_everywhere(struct node_conn *const *conns, size_t n, const char *id, char *err, size_t errlen)
{
	char e[256];
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (!conns[i])
			continue;
		if (node_command_ok(conns[i], e, sizeof(e), "CLUSTER FORGET %s", id) == 0)
			continue;
		if (strstr(e, "Unknown node") || strstr(e, "forget myself"))
			continue;
		if (rc == 0)
			seterr(err, errlen, "%s", e);
		rc = -1;
	}
	return rc;
}

int op_is_master(struct node_conn *n, char *err, size_t errlen)
{
	redisReply *r = node_command(n, err, errlen, "ROLE");
	int rc = -1;

	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !r->element[0] ||
	    (r->element[0]->type != REDIS_REPLY_STRING && r->element[0]->type != REDIS_REPLY_STATUS))
		seterr(err, errlen, "%s: ROLE: unexpected reply", n->name);
	else if (!strcmp(r->element[0]->str, "master") || !strcmp(r->element[0]->str, "primary"))
		rc = 1;
	else if (!strcmp(r->element[0]->str, "slave") || !strcmp(r->element[0]->str, "replica"))
		rc = 0;
	else
		seterr(err, errlen, "%s: ROLE: unexpected role '%.32s'", n->name, r->element[0]->str);
	freeReplyObject(r);
	return rc;
}

int op_wait_role(struct node_conn *n, int master, int wait_ms, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + wait_ms;
	int m;

	for (;;) {
		if ((m = op_is_master(n, err, errlen)) < 0)
			return -1;
		if (m == master)
			return 1;
		if (now_ms() >= deadline)
			return 0;
		sleep_ms(20);
	}
}

int op_failover(struct node_conn *n, int wait_ms, char *err, size_t errlen)
{
	int m = op_is_master(n, err, errlen);

	if (m != 0)
		return m;
	if (node_command_ok(n, err, errlen, "CLUSTER FAILOVER") < 0)
		return -1;
	return op_wait_role(n, 1, wait_ms, err, errlen);
}
