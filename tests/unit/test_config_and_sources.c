/* Proves: the config table parses flags, --name=value, environment fallback,
 * defaults, bounds and enums with clear errors; the static instance source
 * parses lists and files strictly; addresses parse (v4, v6, names) and
 * reject junk; secrets load from files without leaking into errors. */
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "config.h"
#include "static/static_source.h"
#include "testlib.h"
#include "util.h"

static const struct cfg_option opts[] = {
	{"nodes", CFG_INT, 1, 250, NULL, NULL, NULL, "n"},
	{"replicas", CFG_INT, 0, 10, "0", "TEST_REPLICAS", NULL, "r"},
	{"mode", CFG_ENUM, 0, 0, "persistent", NULL, "ephemeral|persistent", "m"},
	{"dry-run", CFG_BOOL, 0, 0, "false", NULL, NULL, "d"},
	{"weight", CFG_LIST, 0, 0, NULL, NULL, NULL, "w"},
	{"seed", CFG_STRING, 0, 0, NULL, "TEST_SEED", NULL, "s"},
};
#define N (sizeof(opts) / sizeof(opts[0]))

static void test_config(void)
{
	struct cfg c;
	char err[256];
	char *a1[] = {"up", "--nodes", "6", "--mode=ephemeral", "--dry-run", "--weight", "a=1", "--weight=b=2"};
	char *a2[] = {"--nodes", "0"};
	char *a3[] = {"--mode", "weird"};
	char *a4[] = {"--bogus"};
	char *a5[] = {"--nodes"};
	char *a6[] = {"--dry-run=maybe"};

	setenv("TEST_REPLICAS", "2", 1);
	unsetenv("TEST_SEED");
	CHECK(cfg_parse(&c, opts, N, 8, a1, err, sizeof(err)) == 0);
	CHECK(c.nargs == 1 && strcmp(c.args[0], "up") == 0);
	CHECK(cfg_int(&c, "nodes") == 6);
	CHECK(cfg_int(&c, "replicas") == 2 && cfg_isset(&c, "replicas"));
	CHECK(strcmp(cfg_str(&c, "mode"), "ephemeral") == 0);
	CHECK(cfg_bool(&c, "dry-run") == 1);
	CHECK(cfg_get(&c, "weight")->nlist == 2 && strcmp(cfg_get(&c, "weight")->list[1], "b=2") == 0);
	CHECK(cfg_str(&c, "seed") == NULL);
	cfg_free(&c);

	CHECK(cfg_parse(&c, opts, N, 2, a2, err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "nodes") && strstr(err, "from 1 to 250"), "%s", err);
	CHECK(cfg_parse(&c, opts, N, 2, a3, err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "ephemeral|persistent"), "%s", err);
	CHECK(cfg_parse(&c, opts, N, 1, a4, err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "unknown option '--bogus'"), "%s", err);
	CHECK(cfg_parse(&c, opts, N, 1, a5, err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "needs a value"), "%s", err);
	CHECK(cfg_parse(&c, opts, N, 1, a6, err, sizeof(err)) < 0);
	setenv("TEST_REPLICAS", "eleven", 1);
	CHECK(cfg_parse(&c, opts, N, 0, a1, err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "environment TEST_REPLICAS"), "%s", err);
	unsetenv("TEST_REPLICAS");
}

static void test_hostport(void)
{
	struct hostport hp;
	char buf[300];

	CHECK(hostport_parse("127.0.0.1:6379", 1, &hp, NULL, 0) == 0 && hp.port == 6379 &&
	      !strcmp(hp.host, "127.0.0.1"));
	CHECK(hostport_parse("redis-0.redis", 6379, &hp, NULL, 0) == 0 && hp.port == 6379);
	CHECK(hostport_parse("[::1]:7000", 1, &hp, NULL, 0) == 0 && hp.port == 7000 && !strcmp(hp.host, "::1"));
	CHECK(hostport_parse("::1", 6379, &hp, NULL, 0) == 0 && hp.port == 6379);
	CHECK(strcmp(hostport_str(&hp, buf, sizeof(buf)), "[::1]:6379") == 0);
	CHECK(hostport_parse("h:0", 1, &hp, NULL, 0) < 0);
	CHECK(hostport_parse("h:65536", 1, &hp, NULL, 0) < 0);
	CHECK(hostport_parse("h:12a", 1, &hp, NULL, 0) < 0);
	CHECK(hostport_parse(":6379", 1, &hp, NULL, 0) < 0);
	CHECK(hostport_parse("[::1", 1, &hp, NULL, 0) < 0);
	CHECK(hostport_parse("a b:1", 1, &hp, NULL, 0) < 0);
	CHECK(hostport_parse("", 1, &hp, NULL, 0) < 0);
	memset(buf, 'a', 290);
	buf[290] = '\0';
	CHECK(hostport_parse(buf, 1, &hp, NULL, 0) < 0);
}

static void test_static_source(void)
{
	struct member_list l;
	char err[256];
	const char *text = "# comment\n127.0.0.1:6379 host=a\n\n  127.0.0.2:6379   # trailing\r\n127.0.0.3\n";

	CHECK(static_source_parse_list("127.0.0.1:6379, 127.0.0.2:6379 127.0.0.3", 6379, &l, err, sizeof(err)) == 0);
	CHECK(l.n == 3 && l.v[2].addr.port == 6379 && !strcmp(l.v[0].host, "127.0.0.1"));
	member_list_free(&l);
	CHECK(static_source_parse_text(text, strlen(text), 6379, &l, err, sizeof(err)) == 0);
	CHECK(l.n == 3 && !strcmp(l.v[0].host, "a") && !strcmp(l.v[1].host, "127.0.0.2"));
	member_list_free(&l);
	CHECK(static_source_parse_list("127.0.0.1:1,127.0.0.1:1", 6379, &l, err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "listed twice"), "%s", err);
	CHECK(static_source_parse_list(" , ", 6379, &l, err, sizeof(err)) < 0);
	CHECK(static_source_parse_text("a:1 junk\n", 9, 6379, &l, err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "line 1"), "%s", err);
	CHECK(static_source_parse_text("a:1\nb:x\n", 8, 6379, &l, err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "line 2") && strstr(err, "bad port"), "%s", err);
	CHECK(static_source_parse_text("# only\n", 7, 6379, &l, err, sizeof(err)) < 0);
	CHECK(static_source_read_file("/nonexistent/x", 6379, &l, err, sizeof(err)) < 0);
	CHECK_MSG(strstr(err, "/nonexistent/x"), "%s", err);
}

static void test_secrets(void)
{
	char path[] = "/tmp/autoshard-secret-XXXXXX";
	char err[256];
	char *s = NULL;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	CHECK(write(fd, "hunter2\r\n", 9) == 9);
	close(fd);
	CHECK(secret_read_file(path, &s, err, sizeof(err)) == 0 && s && !strcmp(s, "hunter2"));
	secret_free(s);
	s = NULL;
	setenv("AUTOSHARD_PASSWORD_FILE", path, 1);
	CHECK(secret_load_password(NULL, &s, err, sizeof(err)) == 0 && s && !strcmp(s, "hunter2"));
	secret_free(s);
	unsetenv("AUTOSHARD_PASSWORD_FILE");
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "\n", 1) == 1);
	close(fd);
	CHECK(secret_read_file(path, &s, err, sizeof(err)) < 0 && strstr(err, "empty"));
	CHECK(secret_read_file("/nonexistent/pw", &s, err, sizeof(err)) < 0 && !strstr(err, "hunter2"));
	unlink(path);
	CHECK(secret_load_password(NULL, &s, err, sizeof(err)) == 0 && s == NULL);
}

int main(void)
{
	test_config();
	test_hostport();
	test_static_source();
	test_secrets();
	return TEST_DONE();
}
