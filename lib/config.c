#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static int find_opt(const struct cfg_option *opts, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

static int enum_ok(const char *enums, const char *v)
{
	size_t vl = strlen(v);
	const char *p = enums;

	while (p && *p) {
		size_t l = strcspn(p, "|");
		if (l == vl && strncmp(p, v, l) == 0)
			return 1;
		p += l;
		if (*p == '|')
			p++;
	}
	return 0;
}

static int set_value(struct cfg_value *v, const struct cfg_option *o, const char *text, const char *origin, char *err,
		     size_t errlen)
{
	char *dup, shown[48];

	switch (o->type) {
	case CFG_INT:
		if (parse_int(text, o->min, o->max, &v->num) < 0)
			return seterr(err, errlen, "%s %s: '%s' is not a number from %lld to %lld", origin, o->name,
				      printable(shown, sizeof(shown), text, strlen(text)), o->min, o->max);
		break;
	case CFG_BOOL:
		if (!strcmp(text, "1") || !strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "on"))
			v->num = 1;
		else if (!strcmp(text, "0") || !strcmp(text, "false") || !strcmp(text, "no") || !strcmp(text, "off"))
			v->num = 0;
		else
			return seterr(err, errlen, "%s %s: '%s' is not true or false", origin, o->name,
				      printable(shown, sizeof(shown), text, strlen(text)));
		break;
	case CFG_ENUM:
		if (!enum_ok(o->enums, text))
			return seterr(err, errlen, "%s %s: '%s' is not one of %s", origin, o->name,
				      printable(shown, sizeof(shown), text, strlen(text)), o->enums);
		break;
	case CFG_STRING:
	case CFG_LIST:
		break;
	}
	dup = strdup(text);
	if (!dup)
		return seterr(err, errlen, "out of memory");
	if (o->type == CFG_LIST) {
		char **nl = realloc(v->list, (v->nlist + 1) * sizeof(*nl));
		if (!nl) {
			free(dup);
			return seterr(err, errlen, "out of memory");
		}
		v->list = nl;
		v->list[v->nlist++] = dup;
		dup = strdup(text);
		if (!dup)
			return seterr(err, errlen, "out of memory");
	}
	free(v->str);
	v->str = dup;
	return 0;
}

int cfg_parse(struct cfg *c, const struct cfg_option *opts, size_t nopts, int argc, char **argv, char *err,
	      size_t errlen)
{
	char origin[96], shown[48];

	memset(c, 0, sizeof(*c));
	c->opts = opts;
	c->nopts = nopts;
	c->vals = calloc(nopts ? nopts : 1, sizeof(*c->vals));
	c->args = calloc((size_t)argc + 1, sizeof(*c->args));
	if (!c->vals || !c->args)
		goto oom;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		int k;
		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				c->args[c->nargs++] = argv[i];
			break;
		}
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			if (a[0] == '-' && a[1]) {
				if (!strcmp(a, "-h")) {
					c->help = 1;
					continue;
				}
				seterr(err, errlen, "unknown option '%s' (see --help)",
				       printable(shown, sizeof(shown), a, strlen(a)));
				goto fail;
			}
			c->args[c->nargs++] = argv[i];
			continue;
		}
		a += 2;
		if (!strcmp(a, "help")) {
			c->help = 1;
			continue;
		}
		if (!strcmp(a, "check-config")) {
			c->check_config = 1;
			continue;
		}
		eq = strchr(a, '=');
		k = find_opt(opts, nopts, a, eq ? (size_t)(eq - a) : strlen(a));
		if (k < 0) {
			seterr(err, errlen, "unknown option '--%.*s' (see --help)",
			       (int)(eq ? (size_t)(eq - a) : strlen(a)), a);
			goto fail;
		}
		if (eq) {
			val = eq + 1;
		} else if (opts[k].type == CFG_BOOL) {
			val = "true";
		} else {
			if (i + 1 >= argc) {
				seterr(err, errlen, "option --%s needs a value", opts[k].name);
				goto fail;
			}
			val = argv[++i];
		}
		snprintf(origin, sizeof(origin), "option");
		if (set_value(&c->vals[k], &opts[k], val, "option --", err, errlen) < 0)
			goto fail;
		c->vals[k].set = 1;
	}
	for (size_t k = 0; k < nopts; k++) {
		const char *e;
		if (c->vals[k].set)
			continue;
		if (opts[k].env && (e = getenv(opts[k].env)) && *e) {
			snprintf(origin, sizeof(origin), "environment %s for", opts[k].env);
			if (set_value(&c->vals[k], &opts[k], e, origin, err, errlen) < 0)
				goto fail;
			c->vals[k].set = 1;
		} else if (opts[k].def) {
			if (set_value(&c->vals[k], &opts[k], opts[k].def, "default", err, errlen) < 0)
				goto fail;
		}
	}
	return 0;
oom:
	seterr(err, errlen, "out of memory");
fail:
	cfg_free(c);
	return -1;
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	for (size_t k = 0; c->vals && k < c->nopts; k++) {
		free(c->vals[k].str);
		for (size_t j = 0; j < c->vals[k].nlist; j++)
			free(c->vals[k].list[j]);
		free(c->vals[k].list);
	}
	free(c->vals);
	free(c->args);
	memset(c, 0, sizeof(*c));
}

const struct cfg_value *cfg_get(const struct cfg *c, const char *name)
{
	int k = find_opt(c->opts, c->nopts, name, strlen(name));

	return k < 0 ? NULL : &c->vals[k];
}

const char *cfg_str(const struct cfg *c, const char *name)
{
	const struct cfg_value *v = cfg_get(c, name);

	return v ? v->str : NULL;
}

long long cfg_int(const struct cfg *c, const char *name)
{
	const struct cfg_value *v = cfg_get(c, name);

	return v ? v->num : 0;
}

int cfg_bool(const struct cfg *c, const char *name)
{
	return (int)cfg_int(c, name);
}

int cfg_isset(const struct cfg *c, const char *name)
{
	const struct cfg_value *v = cfg_get(c, name);

	return v && v->set;
}

void cfg_usage(FILE *f, const char *synopsis, const struct cfg_option *opts, size_t nopts)
{
	fprintf(f, "usage: %s\n\noptions:\n", synopsis);
	for (size_t k = 0; k < nopts; k++) {
		char flag[64];
		const char *arg = opts[k].type == CFG_BOOL   ? ""
				  : opts[k].type == CFG_INT  ? " N"
				  : opts[k].type == CFG_ENUM ? " WORD"
							     : " VALUE";
		snprintf(flag, sizeof(flag), "--%s%s", opts[k].name, arg);
		fprintf(f, "  %-28s %s", flag, opts[k].help);
		if (opts[k].type == CFG_ENUM)
			fprintf(f, " (%s)", opts[k].enums);
		if (opts[k].type == CFG_INT)
			fprintf(f, " [%lld..%lld]", opts[k].min, opts[k].max);
		if (opts[k].type == CFG_LIST)
			fprintf(f, " (repeatable)");
		if (opts[k].def)
			fprintf(f, " (default %s)", opts[k].def);
		if (opts[k].env)
			fprintf(f, " [env %s]", opts[k].env);
		fputc('\n', f);
	}
	fprintf(f, "  %-28s %s\n  %-28s %s\n", "--check-config", "print the effective configuration and exit", "--help",
		"this text");
}

void cfg_print(FILE *f, const struct cfg *c)
{
	for (size_t k = 0; k < c->nopts; k++) {
		const struct cfg_value *v = &c->vals[k];
		fprintf(f, "%s = %s%s\n", c->opts[k].name, v->str ? v->str : "(unset)", v->set ? "" : " (default)");
	}
	fprintf(f, "configuration OK\n");
}

int cfg_handle_info(const struct cfg *c, const char *synopsis)
{
	if (c->help) {
		cfg_usage(stdout, synopsis, c->opts, c->nopts);
		return 1;
	}
	if (c->check_config) {
		cfg_print(stdout, c);
		return 1;
	}
	return 0;
}
