/* Command line and environment parsing (cfg_parse) with an option table
 * that has every type and feature the real tables in cli/ and sidecar/ use
 * (those are static). Input: NUL-separated words; a word "\x01<k><value>"
 * sets the k-th environment variable of the table instead of being an
 * argument. On success: every value is within its type's rules (numbers in
 * bounds, enums from the list, booleans 0/1, lists ending with the value),
 * defaults apply only to unset options, positional arguments are the given
 * words in order, the accessors agree, and giving the parsed values back as
 * --name=value flags parses to the same configuration. On failure: a
 * message, and the struct left zeroed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_common.h"
#include "util.h"

#define MAX_WORDS 64

static const struct cfg_option opts[] = {
	{"seed", CFG_STRING, 0, 0, NULL, "FUZZ_AUTOSHARD_SEED", NULL, "any node of the cluster (HOST:PORT)"},
	{"password-file", CFG_STRING, 0, 0, NULL, NULL, NULL, "file holding the password"},
	{"replicas", CFG_INT, -1, 100, "-1", "FUZZ_AUTOSHARD_REPLICAS", NULL, "replicas per master"},
	{"timeout-ms", CFG_INT, 50, 600000, "2000", NULL, NULL, "per connection and command"},
	{"nodes", CFG_INT, 1, 1000, NULL, NULL, NULL, "number of instances"},
	{"dry-run", CFG_BOOL, 0, 0, "false", NULL, NULL, "change nothing"},
	{"remove", CFG_BOOL, 0, 0, NULL, "FUZZ_AUTOSHARD_REMOVE", NULL, "remove drained nodes"},
	{"weight", CFG_LIST, 0, 0, NULL, NULL, NULL, "NODE=W"},
	{"drain", CFG_LIST, 0, 0, NULL, "FUZZ_AUTOSHARD_DRAIN", NULL, "master to empty"},
	{"mode", CFG_ENUM, 0, 0, "persistent", "FUZZ_AUTOSHARD_MODE", "ephemeral|persistent", "what a restart keeps"},
	{"server", CFG_ENUM, 0, 0, NULL, NULL, "valkey-server|redis-server", "server binary"},
	{"log-level", CFG_ENUM, 0, 0, "info", "FUZZ_AUTOSHARD_LOG_LEVEL", "error|warn|info|debug", "verbosity"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const char *const envs[] = {"FUZZ_AUTOSHARD_SEED",  "FUZZ_AUTOSHARD_REPLICAS", "FUZZ_AUTOSHARD_REMOVE",
				   "FUZZ_AUTOSHARD_DRAIN", "FUZZ_AUTOSHARD_MODE",     "FUZZ_AUTOSHARD_LOG_LEVEL"};
#define NENVS (sizeof(envs) / sizeof(envs[0]))

static int in_enums(const char *enums, const char *v)
{
	size_t vl = strlen(v);

	for (const char *p = enums; *p;) {
		size_t l = strcspn(p, "|");
		if (l == vl && strncmp(p, v, l) == 0)
			return 1;
		p += l + (p[l] == '|');
	}
	return 0;
}

static void check_cfg(const struct cfg *c, int argc, char **argv)
{
	int j = 0;

	FUZZ_CHECK(c->opts == opts && c->nopts == NOPTS && c->vals, "table not kept");
	FUZZ_CHECK(c->nargs >= 0 && c->nargs <= argc, "%d positional of %d words", c->nargs, argc);
	/* positional arguments are some of the words, in order, not copies */
	for (int i = 0; i < c->nargs; i++) {
		while (j < argc && argv[j] != c->args[i])
			j++;
		FUZZ_CHECK(j < argc, "positional %d is not one of the words (or out of order)", i);
		j++;
	}
	for (size_t k = 0; k < NOPTS; k++) {
		const struct cfg_option *o = &opts[k];
		const struct cfg_value *v = &c->vals[k];
		long long n;

		FUZZ_CHECK(v->set == 0 || v->set == 1, "%s: set %d", o->name, v->set);
		if (!v->set) {
			FUZZ_CHECK(o->def ? v->str && strcmp(v->str, o->def) == 0 : v->str == NULL,
				   "%s: unset but value is not the default", o->name);
		} else {
			FUZZ_CHECK(v->str != NULL, "%s: set without a value", o->name);
		}
		FUZZ_CHECK(cfg_get(c, o->name) == v, "cfg_get(%s)", o->name);
		FUZZ_CHECK(cfg_str(c, o->name) == v->str, "cfg_str(%s)", o->name);
		FUZZ_CHECK(cfg_isset(c, o->name) == v->set, "cfg_isset(%s)", o->name);
		if (!v->str)
			continue;
		switch (o->type) {
		case CFG_INT:
			FUZZ_CHECK(parse_int(v->str, o->min, o->max, &n) == 0 && n == v->num, "%s: '%s' vs %lld",
				   o->name, v->str, v->num);
			FUZZ_CHECK(cfg_int(c, o->name) == v->num, "cfg_int(%s)", o->name);
			break;
		case CFG_BOOL:
			FUZZ_CHECK(v->num == 0 || v->num == 1, "%s: bool %lld", o->name, v->num);
			FUZZ_CHECK(cfg_bool(c, o->name) == v->num, "cfg_bool(%s)", o->name);
			break;
		case CFG_ENUM:
			FUZZ_CHECK(in_enums(o->enums, v->str), "%s: '%s' not one of %s", o->name, v->str, o->enums);
			break;
		case CFG_LIST:
			FUZZ_CHECK(v->nlist >= 1 && v->list && strcmp(v->list[v->nlist - 1], v->str) == 0,
				   "%s: list does not end with the value", o->name);
			break;
		case CFG_STRING:
			break;
		}
		if (o->type != CFG_LIST)
			FUZZ_CHECK(v->nlist == 0 && v->list == NULL, "%s: list on a non-list option", o->name);
	}
}

static void check_same(const struct cfg *a, const struct cfg *b)
{
	FUZZ_CHECK(a->nargs == b->nargs && a->help == b->help && a->check_config == b->check_config,
		   "round trip: arguments or --help/--check-config differ");
	for (int i = 0; i < a->nargs; i++)
		FUZZ_CHECK(strcmp(a->args[i], b->args[i]) == 0, "round trip: positional %d differs", i);
	for (size_t k = 0; k < NOPTS; k++) {
		const struct cfg_value *x = &a->vals[k], *y = &b->vals[k];
		FUZZ_CHECK(x->set == y->set && x->num == y->num && x->nlist == y->nlist, "round trip: %s differs",
			   opts[k].name);
		FUZZ_CHECK((!x->str && !y->str) || (x->str && y->str && strcmp(x->str, y->str) == 0),
			   "round trip: %s value differs", opts[k].name);
		for (size_t i = 0; i < x->nlist; i++)
			FUZZ_CHECK(strcmp(x->list[i], y->list[i]) == 0, "round trip: %s item %zu differs", opts[k].name,
				   i);
	}
}

/* argv that gives c's values back: --name=value for everything set, then
 * "--" and the positional arguments. Strings are new (caller frees). */
static int rebuild(const struct cfg *c, char **out, int max)
{
	int n = 0;

	if (c->help && n < max)
		out[n++] = strdup("--help");
	if (c->check_config && n < max)
		out[n++] = strdup("--check-config");
	for (size_t k = 0; k < NOPTS; k++) {
		const struct cfg_value *v = &c->vals[k];
		size_t items = opts[k].type == CFG_LIST ? v->nlist : 1;
		if (!v->set)
			continue;
		for (size_t i = 0; i < items && n < max; i++) {
			const char *val = opts[k].type == CFG_LIST ? v->list[i] : v->str;
			size_t len = strlen(opts[k].name) + strlen(val) + 4;
			out[n] = malloc(len);
			FUZZ_CHECK(out[n] != NULL, "out of memory");
			snprintf(out[n++], len, "--%s=%s", opts[k].name, val);
		}
	}
	if (n < max)
		out[n++] = strdup("--");
	for (int i = 0; i < c->nargs && n < max; i++)
		out[n++] = strdup(c->args[i]);
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(out[i] != NULL, "out of memory");
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	char *copy, *words[MAX_WORDS], *again[4 * MAX_WORDS + 8], err[256];
	struct cfg c, c2;
	int argc = 0, n, rc;
	size_t pos = 0;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	copy = malloc(size + 1);
	FUZZ_CHECK(copy != NULL, "out of memory");
	memcpy(copy, data, size);
	copy[size] = '\0';
	while (pos < size && argc < MAX_WORDS) {
		char *w = copy + pos;
		size_t len = strlen(w);
		if (w[0] == '\x01' && len >= 2)
			setenv(envs[(unsigned char)w[1] % NENVS], w + 2, 1);
		else
			words[argc++] = w;
		pos += len + 1;
	}
	err[0] = '\0';
	rc = cfg_parse(&c, opts, NOPTS, argc, words, err, sizeof(err));
	if (rc != 0) {
		static const struct cfg zero;
		FUZZ_CHECK(rc == -1, "cfg_parse rc %d", rc);
		/* messages quote the offending word as given, newlines included
		 * (see README.md): one line only when the input has none */
		if (!memchr(data, '\n', size))
			fuzz_check_err(err, sizeof(err));
		else
			FUZZ_CHECK(err[0] && strnlen(err, sizeof(err)) < sizeof(err), "no error message");
		FUZZ_CHECK(memcmp(&c, &zero, sizeof(c)) == 0, "failed cfg_parse left state behind");
		goto done;
	}
	check_cfg(&c, argc, words);
	if (devnull) {
		cfg_print(devnull, &c);
		cfg_usage(devnull, "fuzz [options]", opts, NOPTS);
	}
	n = rebuild(&c, again, (int)(sizeof(again) / sizeof(again[0])));
	rc = cfg_parse(&c2, opts, NOPTS, n, again, err, sizeof(err));
	FUZZ_CHECK(rc == 0, "parsed values given back as flags do not parse: %s", err);
	check_same(&c, &c2);
	cfg_free(&c2);
	for (int i = 0; i < n; i++)
		free(again[i]);
	cfg_free(&c);
	cfg_free(&c); /* a second free is harmless (the struct is zeroed) */
done:
	for (size_t i = 0; i < NENVS; i++)
		unsetenv(envs[i]);
	free(copy);
	return 0;
}
