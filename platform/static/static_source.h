/* Static instance source: a comma/space separated list, or a file with one
 * instance per line ("host:port [host=LABEL]", '#' comments). No I/O in the
 * parser; static_source_read_file reads then parses. */
#ifndef AUTOSHARD_STATIC_SOURCE_H
#define AUTOSHARD_STATIC_SOURCE_H

#include <stddef.h>

#include "members.h"

#define STATIC_SOURCE_MAX_BYTES (1u << 20)

int static_source_parse_list(const char *list, int default_port, struct member_list *out, char *err, size_t errlen);
int static_source_parse_text(const char *buf, size_t len, int default_port, struct member_list *out, char *err,
			     size_t errlen);
int static_source_read_file(const char *path, int default_port, struct member_list *out, char *err, size_t errlen);

#endif
