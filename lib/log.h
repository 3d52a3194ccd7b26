/* Structured logging: one event per line, key=value, to stderr.
 *
 * Each line reads
 *
 *   time=2026-12-04T20:31:02.114Z level=error event=worker_exited pid=81
 *
 * The format string contains the key=value pairs after the event name. It
 * takes the printf conversions %s %c %d %i %u %x %ld %lu %lld %llu %zu
 * %zd %jd %ju and %%. A %s value that contains a space, a quote, '=' or a
 * control character is written as a quoted string with C escapes, so an
 * untrusted value can neither split a line nor forge a key.
 *
 * Identical warning and error lines within LOG_REPEAT_WINDOW_MS are counted
 * instead of printed; the count is written as event=log_repeated once the
 * window closes or another event arrives. */
#ifndef TRELLIS_LOG_H
#define TRELLIS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

#define LOG_REPEAT_WINDOW_MS 10000

/* Names the process in every line (process=NAME); NULL leaves it out. */
void log_init(const char *process_name, enum log_level min_level);
void log_set_level(enum log_level min_level);
/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *name, enum log_level *out);

/* Redirects output to FD instead of stderr (tests read their own logs). */
void log_set_fd(int fd);

/* A destination that replaces the line on stderr, for example the systemd
 * journal. It gets the level, the event, the process name (may be NULL),
 * the key=value body and the whole formatted line without its newline. */
typedef void (*log_sink_fn)(enum log_level level, const char *process,
			    const char *event, const char *body,
			    const char *line);
void log_set_sink(log_sink_fn sink);

/* Sends every event to the systemd journal, with the event and each
 * key=value pair as its own field, when stderr is the journal stream that
 * systemd set up (JOURNAL_STREAM). Returns true when it switched. */
bool log_use_journal_if_available(void);

/* Splits a key=value body as log_event writes it. Calls FN for each pair
 * with the value unquoted; stops and returns -1 at malformed text. */
int log_parse_body(const char *body,
		   void (*fn)(const char *key, const char *value, void *arg),
		   void *arg);

void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_eventv(enum log_level level, const char *event, const char *fmt,
		va_list ap) __attribute__((format(printf, 3, 0)));

/* Writes the pending repeat counts now; called before exit. */
void log_flush_repeats(void);

#define log_debug(event, ...) log_event(LOG_LEVEL_DEBUG, event, __VA_ARGS__)
#define log_info(event, ...)  log_event(LOG_LEVEL_INFO, event, __VA_ARGS__)
#define log_warn(event, ...)  log_event(LOG_LEVEL_WARN, event, __VA_ARGS__)
#define log_error(event, ...) log_event(LOG_LEVEL_ERROR, event, __VA_ARGS__)

/* Formats like log_event's format string into BUF (quoting %s values) and
 * returns the length written, truncating at SIZE - 1 bytes. */
size_t log_format(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
