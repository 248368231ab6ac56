/* Small log API (after OpenBSD log.h). Only programs configure it; library code
 * never prints, it fills an error buffer. Messages name the object they are about.
 * Secrets are never passed to these functions. */
#ifndef AUTOSHARD_LOG_H
#define AUTOSHARD_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* prog is borrowed and must outlive the process (argv[0] basename is fine). */
void log_init(const char *prog, enum log_level level, int json);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_level_parse(const char *s, enum log_level *out);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* appends strerror(errno) */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void fatalx(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#endif
