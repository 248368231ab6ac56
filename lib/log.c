#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "autoshard";
static enum log_level log_level = LOG_LEVEL_INFO;
static int log_json;

void log_init(const char *prog, enum log_level level, int json)
{
	const char *slash = prog ? strrchr(prog, '/') : NULL;

	log_prog = slash ? slash + 1 : (prog ? prog : "autoshard");
	log_level = level;
	log_json = json;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}
enum log_level log_get_level(void)
{
	return log_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *names[] = {"error", "warn", "info", "debug"};

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

static void json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

static void log_emit(enum log_level level, const char *fmt, va_list ap, const char *suffix)
	__attribute__((format(printf, 2, 0)));
static void log_emit(enum log_level level, const char *fmt, va_list ap, const char *suffix)
{
	static const char *lvl[] = {"error", "warn", "info", "debug"};
	char msg[2048];
	char ts[96];
	struct timespec now;
	struct tm tm;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
	if (log_json) {
		fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"prog\":\"%s\",\"pid\":%d,\"msg\":\"", ts, lvl[level],
			log_prog, (int)getpid());
		json_escape(stderr, msg);
		if (suffix) {
			fputs(": ", stderr);
			json_escape(stderr, suffix);
		}
		fputs("\"}\n", stderr);
	} else {
		fprintf(stderr, "%s %s[%d] %s: %s%s%s\n", ts, log_prog, (int)getpid(), lvl[level], msg,
			suffix ? ": " : "", suffix ? suffix : "");
	}
	fflush(stderr);
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_WARN, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

#define LOG_FN(name, level)                     \
	void name(const char *fmt, ...)         \
	{                                       \
		va_list ap;                     \
		va_start(ap, fmt);              \
		log_emit(level, fmt, ap, NULL); \
		va_end(ap);                     \
	}
LOG_FN(log_warnx, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

void fatal(int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(code);
}

void fatalx(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(code);
}
