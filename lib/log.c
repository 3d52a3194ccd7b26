#include "lib/log.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX	 4096
#define LOG_REPEAT_SLOTS 16

/* One recently printed warning or error line, so that an identical line in
 * the repeat window is counted instead of printed. */
struct repeat_slot {
	uint64_t hash;
	int64_t first_ms;
	uint64_t suppressed;
	enum log_level level;
	char event[64];
};

static const char *process_name;
static enum log_level min_level = LOG_LEVEL_INFO;
static int output_fd = STDERR_FILENO;
static log_sink_fn sink;
static struct repeat_slot repeats[LOG_REPEAT_SLOTS];
/* The master logs from its loop and from worker threads (directory
 * logins, mail, airlock file jobs), so the table is shared. */
static pthread_mutex_t repeats_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_ERROR] = "error",
};

void log_init(const char *name, enum log_level level)
{
	process_name = name;
	min_level = level;
}

void log_set_level(enum log_level level)
{
	min_level = level;
}

void log_set_fd(int fd)
{
	output_fd = fd;
}

void log_set_sink(log_sink_fn fn)
{
	sink = fn;
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A string-building cursor that never writes past its buffer and always
 * leaves it NUL-terminated. */
struct out {
	char *buf;
	size_t size;
	size_t len;
};

static void out_char(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len++] = c;
	o->buf[o->len < o->size ? o->len : o->size - 1] = '\0';
}

static void out_str(struct out *o, const char *s)
{
	while (*s)
		out_char(o, *s++);
}

static bool needs_quotes(const char *s)
{
	if (*s == '\0')
		return true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' ||
		    *p == 0x7f)
			return true;
	}
	return false;
}

/* Writes S as a value: bare when safe, else in double quotes with C escapes
 * for quotes, backslashes and every control byte. */
static void out_value(struct out *o, const char *s)
{
	if (s == NULL) {
		out_str(o, "(null)");
		return;
	}
	if (!needs_quotes(s)) {
		out_str(o, s);
		return;
	}

	out_char(o, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		switch (*p) {
		case '"':
			out_str(o, "\\\"");
			break;
		case '\\':
			out_str(o, "\\\\");
			break;
		case '\n':
			out_str(o, "\\n");
			break;
		case '\r':
			out_str(o, "\\r");
			break;
		case '\t':
			out_str(o, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(esc, sizeof(esc), "\\x%02x", *p);
				out_str(o, esc);
			} else {
				out_char(o, (char)*p);
			}
		}
	}
	out_char(o, '"');
}

/* Copies one conversion specification from FMT into SPEC and returns its
 * length, or 0 for a conversion this formatter does not take. */
static size_t read_spec(const char *fmt, char *spec, size_t spec_size,
			char *conversion)
{
	static const char *const lengths[] = {"ll", "l", "z", "j", "h", ""};
	size_t n = 1;

	while (fmt[n] == '-' || fmt[n] == '0' || fmt[n] == ' ' || fmt[n] == '+')
		n++;
	while (isdigit((unsigned char)fmt[n]))
		n++;
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		size_t len = strlen(lengths[i]);
		if (strncmp(fmt + n, lengths[i], len) == 0) {
			n += len;
			break;
		}
	}
	if (strchr("sdiuxc%", fmt[n]) == NULL || fmt[n] == '\0')
		return 0;
	*conversion = fmt[n];
	n++;
	if (n >= spec_size)
		return 0;
	memcpy(spec, fmt, n);
	spec[n] = '\0';
	return n;
}

/* SPEC below is built only by read_spec, which admits flags, a width, a
 * length modifier and one of "diuxc", so passing it to snprintf is safe. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void format_into(struct out *o, const char *fmt, va_list ap)
{
	while (*fmt) {
		if (*fmt != '%') {
			char c = *fmt++;
			/* A newline in the format would split the event. */
			out_char(o, (c == '\n' || c == '\r') ? ' ' : c);
			continue;
		}

		char spec[16];
		char conversion = 0;
		size_t n = read_spec(fmt, spec, sizeof(spec), &conversion);
		if (n == 0) {
			out_str(o, "%?");
			fmt++;
			continue;
		}
		fmt += n;

		char number[32];
		switch (conversion) {
		case '%':
			out_char(o, '%');
			break;
		case 's':
			out_value(o, va_arg(ap, const char *));
			break;
		case 'c':
			number[0] = (char)va_arg(ap, int);
			number[1] = '\0';
			out_value(o, number);
			break;
		default:
			if (strstr(spec, "ll"))
				snprintf(number, sizeof(number), spec,
					 va_arg(ap, long long));
			else if (strchr(spec, 'l'))
				snprintf(number, sizeof(number), spec,
					 va_arg(ap, long));
			else if (strchr(spec, 'z'))
				snprintf(number, sizeof(number), spec,
					 va_arg(ap, size_t));
			else if (strchr(spec, 'j'))
				snprintf(number, sizeof(number), spec,
					 va_arg(ap, intmax_t));
			else
				snprintf(number, sizeof(number), spec,
					 va_arg(ap, int));
			out_str(o, number);
		}
	}
}

#pragma GCC diagnostic pop

size_t log_format(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {.buf = buf, .size = size, .len = 0};

	if (size == 0)
		return 0;
	buf[0] = '\0';
	format_into(&o, fmt, ap);
	return o.len;
}

static uint64_t hash_line(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ull;
	}
	return h;
}

static void write_line(const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(output_fd, line, len);
		if (n <= 0)
			return;
		line += n;
		len -= (size_t)n;
	}
}

static void emit(enum log_level level, int64_t now_ms, const char *event,
		 const char *body)
{
	char line[LOG_LINE_MAX];
	struct out o = {.buf = line, .size = sizeof(line) - 1, .len = 0};
	time_t seconds = (time_t)(now_ms / 1000);
	struct tm tm;
	char stamp[64];

	gmtime_r(&seconds, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(now_ms % 1000));

	out_str(&o, "time=");
	out_str(&o, stamp);
	out_str(&o, " level=");
	out_str(&o, level_names[level]);
	if (process_name) {
		out_str(&o, " process=");
		out_value(&o, process_name);
	}
	out_str(&o, " event=");
	out_value(&o, event);
	if (body[0]) {
		out_char(&o, ' ');
		out_str(&o, body);
	}
	if (sink) {
		sink(level, process_name, event, body, line);
		return;
	}
	line[o.len++] = '\n';
	write_line(line, o.len);
}

static void flush_slot(struct repeat_slot *slot, int64_t now_ms)
{
	char body[160];

	if (slot->suppressed > 0) {
		struct out o = {.buf = body, .size = sizeof(body), .len = 0};
		char count[64];
		snprintf(count, sizeof(count),
			 "count=%" PRIu64 " window_ms=", slot->suppressed);
		out_str(&o, "repeated_event=");
		out_value(&o, slot->event);
		out_char(&o, ' ');
		out_str(&o, count);
		snprintf(count, sizeof(count), "%" PRId64,
			 now_ms - slot->first_ms);
		out_str(&o, count);
		emit(slot->level, now_ms, "log_repeated", body);
	}
	memset(slot, 0, sizeof(*slot));
}

/* Returns true when the line was seen within the window and is now only
 * counted. */
static bool count_repeat(enum log_level level, const char *event,
			 const char *body, int64_t now_ms)
{
	char key[LOG_LINE_MAX];
	struct repeat_slot *free_slot = NULL;
	struct repeat_slot *oldest = &repeats[0];

	snprintf(key, sizeof(key), "%d %s %s", (int)level, event, body);
	uint64_t hash = hash_line(key);

	for (size_t i = 0; i < LOG_REPEAT_SLOTS; i++) {
		struct repeat_slot *slot = &repeats[i];
		if (slot->hash != 0 &&
		    now_ms - slot->first_ms >= LOG_REPEAT_WINDOW_MS)
			flush_slot(slot, now_ms);
		if (slot->hash == hash) {
			slot->suppressed++;
			return true;
		}
		if (slot->hash == 0 && free_slot == NULL)
			free_slot = slot;
		if (slot->first_ms < oldest->first_ms)
			oldest = slot;
	}

	if (free_slot == NULL) {
		flush_slot(oldest, now_ms);
		free_slot = oldest;
	}
	free_slot->hash = hash;
	free_slot->first_ms = now_ms;
	free_slot->level = level;
	snprintf(free_slot->event, sizeof(free_slot->event), "%s", event);
	return false;
}

void log_eventv(enum log_level level, const char *event, const char *fmt,
		va_list ap)
{
	char body[LOG_LINE_MAX];
	int64_t now_ms;

	if (level < min_level || level > LOG_LEVEL_ERROR)
		return;

	log_format(body, sizeof(body), fmt, ap);
	now_ms = wall_ms();
	if (level >= LOG_LEVEL_WARN) {
		pthread_mutex_lock(&repeats_lock);
		bool counted = count_repeat(level, event, body, now_ms);
		pthread_mutex_unlock(&repeats_lock);
		if (counted)
			return;
	}
	emit(level, now_ms, event, body);
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_eventv(level, event, fmt, ap);
	va_end(ap);
}

void log_flush_repeats(void)
{
	int64_t now_ms = wall_ms();
	pthread_mutex_lock(&repeats_lock);
	for (size_t i = 0; i < LOG_REPEAT_SLOTS; i++)
		if (repeats[i].hash != 0)
			flush_slot(&repeats[i], now_ms);
	pthread_mutex_unlock(&repeats_lock);
}

/* Reads one value at *P: bare up to a space, or quoted with the escapes
 * out_value writes. */
static int parse_value(const char **p, char *out, size_t size)
{
	const char *s = *p;
	size_t n = 0;

	if (*s != '"') {
		while (*s && *s != ' ' && n + 1 < size)
			out[n++] = *s++;
		out[n] = '\0';
		*p = s;
		return 0;
	}

	s++;
	while (*s && *s != '"') {
		char c = *s++;
		if (c == '\\') {
			char e = *s++;
			if (e == 'n')
				c = '\n';
			else if (e == 'r')
				c = '\r';
			else if (e == 't')
				c = '\t';
			else if (e == 'x' && isxdigit((unsigned char)s[0]) &&
				 isxdigit((unsigned char)s[1])) {
				char hex[3] = {s[0], s[1], '\0'};
				c = (char)strtol(hex, NULL, 16);
				s += 2;
			} else if (e == '"' || e == '\\')
				c = e;
			else
				return -1;
		}
		if (n + 1 < size)
			out[n++] = c;
	}
	if (*s != '"')
		return -1;
	out[n] = '\0';
	*p = s + 1;
	return 0;
}

int log_parse_body(const char *body,
		   void (*fn)(const char *key, const char *value, void *arg),
		   void *arg)
{
	const char *p = body;
	char key[64];
	char value[LOG_LINE_MAX];

	while (*p) {
		size_t n = 0;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		while (*p && *p != '=' && *p != ' ' && n + 1 < sizeof(key))
			key[n++] = *p++;
		key[n] = '\0';
		if (*p != '=' || n == 0)
			return -1;
		p++;
		if (parse_value(&p, value, sizeof(value)) < 0)
			return -1;
		fn(key, value, arg);
	}
	return 0;
}
