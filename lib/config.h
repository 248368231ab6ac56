/* Configuration is a table (after Valkey's standardConfig): one row per option
 * with name, type, bounds, default, environment variable and help. The same
 * table parses flags (--name value / --name=value), falls back to the
 * environment, validates, prints --help and prints --check-config.
 * There is deliberately no way to pass a secret's value: only *-file options. */
#ifndef AUTOSHARD_CONFIG_H
#define AUTOSHARD_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum cfg_type { CFG_STRING, CFG_INT, CFG_BOOL, CFG_ENUM, CFG_LIST };

struct cfg_option {
	const char *name; /* flag name without "--" */
	enum cfg_type type;
	long long min, max; /* CFG_INT bounds */
	const char *def;    /* default as text, NULL for none */
	const char *env;    /* environment variable, NULL for none */
	const char *enums;  /* CFG_ENUM: "a|b|c" */
	const char *help;
};

struct cfg_value {
	char *str; /* owned; text of the value (last one for LIST) */
	long long num;
	int set;     /* from flag or environment (not default) */
	char **list; /* CFG_LIST: every value, owned */
	size_t nlist;
};

struct cfg {
	const struct cfg_option *opts; /* borrowed table */
	size_t nopts;
	struct cfg_value *vals; /* owned, one per option */
	char **args;            /* positional arguments (borrowed from argv) */
	int nargs;
	int help, check_config;
};

/* Parse argv[0..argc-1] (argv[0] is NOT skipped: pass argv+1 for a subcommand's
 * own words). -1 with "what was wrong" in err. Caller frees with cfg_free. */
int cfg_parse(struct cfg *c, const struct cfg_option *opts, size_t nopts, int argc, char **argv, char *err,
	      size_t errlen);
void cfg_free(struct cfg *c);
const char *cfg_str(const struct cfg *c, const char *name); /* NULL if unset and no default */
long long cfg_int(const struct cfg *c, const char *name);
int cfg_bool(const struct cfg *c, const char *name);
int cfg_isset(const struct cfg *c, const char *name);
const struct cfg_value *cfg_get(const struct cfg *c, const char *name);
void cfg_usage(FILE *f, const char *synopsis, const struct cfg_option *opts, size_t nopts);
void cfg_print(FILE *f, const struct cfg *c);
/* --help prints usage, --check-config prints the configuration: 1 when one
 * of them was handled (the program then exits 0), else 0. */
int cfg_handle_info(const struct cfg *c, const char *synopsis);

#endif
