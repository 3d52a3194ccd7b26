/* The systemd journal as a log destination, for trellisd under systemd.
 * Kept apart from log.c so that only programs that call it link
 * libsystemd. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "lib/log.h"

#define JOURNAL_MAX_FIELDS 48
#define JOURNAL_FIELD_MAX 1024

struct journal_fields {
	struct iovec iov[JOURNAL_MAX_FIELDS];
	char text[JOURNAL_MAX_FIELDS][JOURNAL_FIELD_MAX];
	size_t count;
};

/* Adds NAME=VALUE; journal field names are upper case letters, digits and
 * underscores. */
static void add_field(struct journal_fields *f, const char *name,
		      const char *value)
{
	if (f->count == JOURNAL_MAX_FIELDS)
		return;

	char *text = f->text[f->count];
	size_t n = 0;
	for (const char *c = name; *c && n + 2 < JOURNAL_FIELD_MAX; c++)
		text[n++] = isalnum((unsigned char)*c)
				    ? (char)toupper((unsigned char)*c)
				    : '_';
	text[n++] = '=';
	int written = snprintf(text + n, JOURNAL_FIELD_MAX - n, "%s", value);
	if (written < 0)
		return;
	size_t len = n + (size_t)written;
	if (len >= JOURNAL_FIELD_MAX)
		len = JOURNAL_FIELD_MAX - 1;

	f->iov[f->count].iov_base = text;
	f->iov[f->count].iov_len = len;
	f->count++;
}

static void add_pair(const char *key, const char *value, void *arg)
{
	char name[80];

	snprintf(name, sizeof(name), "TRELLIS_%s", key);
	add_field(arg, name, value);
}

static void journal_sink(enum log_level level, const char *process,
			 const char *event, const char *body, const char *line)
{
	/* syslog priorities: 7 debug, 6 info, 4 warning, 3 error */
	static const char *const priorities[] = {"7", "6", "4", "3"};
	struct journal_fields *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return;
	add_field(f, "MESSAGE", line);
	add_field(f, "PRIORITY", priorities[level]);
	add_field(f, "TRELLIS_EVENT", event);
	if (process)
		add_field(f, "SYSLOG_IDENTIFIER", process);
	log_parse_body(body, add_pair, f);

	if (sd_journal_sendv(f->iov, (int)f->count) < 0) {
		/* The journal went away: the line still reaches stderr. */
		dprintf(STDERR_FILENO, "%s\n", line);
	}
	free(f);
}

/* NOTE: the test machines run no journald, so journal_sink itself is not
 * tested. The tests cover the field parsing and the stream check. */
bool log_use_journal_if_available(void)
{
	const char *stream = getenv("JOURNAL_STREAM");
	unsigned long long device, inode;
	struct stat st;

	if (stream == NULL ||
	    sscanf(stream, "%llu:%llu", &device, &inode) != 2 ||
	    fstat(STDERR_FILENO, &st) < 0)
		return false;
	/* A child that inherited the variable but not the stream must keep
	 * writing to stderr. */
	if ((unsigned long long)st.st_dev != device ||
	    (unsigned long long)st.st_ino != inode)
		return false;
	log_set_sink(journal_sink);
	return true;
}
