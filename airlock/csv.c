#include "airlock/csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CSV_EOF	 -1
#define CSV_FAIL -2

enum csv_state {
	FIELD_START,
	UNQUOTED,
	QUOTED,
	QUOTE_IN_QUOTED, /* a quote inside a quoted field: end or escape */
};

int airlock_csv_init(struct airlock_csv *csv, int fd, uint64_t size,
		     char delimiter, size_t max_record_bytes, size_t max_fields)
{
	memset(csv, 0, sizeof(*csv));
	csv->fd = fd;
	csv->size = size;
	csv->pushback = -1;
	csv->delimiter = delimiter;
	csv->max_fields = max_fields;
	csv->line = 1;
	buf_reader_init(&csv->in, csv->chunk, 0);
	buf_writer_init(&csv->record, max_record_bytes);
	csv->field_starts = calloc(max_fields, sizeof(size_t));
	if (csv->field_starts == NULL) {
		snprintf(csv->error, sizeof(csv->error), "out of memory");
		return -1;
	}
	return 0;
}

void airlock_csv_free(struct airlock_csv *csv)
{
	buf_writer_free(&csv->record);
	free(csv->field_starts);
	csv->field_starts = NULL;
}

static int fail(struct airlock_csv *csv, const char *problem)
{
	snprintf(csv->error, sizeof(csv->error), "line %llu: %s",
		 (unsigned long long)csv->line, problem);
	return CSV_FAIL;
}

static int refill(struct airlock_csv *csv)
{
	uint64_t left = csv->size - csv->offset;
	size_t want =
	    left < sizeof(csv->chunk) ? (size_t)left : sizeof(csv->chunk);
	ssize_t n;

	if (want == 0)
		return CSV_EOF;
	do
		n = pread(csv->fd, csv->chunk, want, (off_t)csv->offset);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fail(csv, strerror(errno));
	if (n == 0)
		return CSV_EOF; /* the file is shorter than its size */
	csv->offset += (uint64_t)n;
	buf_reader_init(&csv->in, csv->chunk, (size_t)n);
	return 0;
}

/* Returns the next byte, CSV_EOF or CSV_FAIL. */
static int next_byte(struct airlock_csv *csv)
{
	uint8_t c;

	if (csv->pushback >= 0) {
		int b = csv->pushback;
		csv->pushback = -1;
		return b;
	}
	if (buf_remaining(&csv->in) == 0) {
		int rc = refill(csv);
		if (rc < 0)
			return rc;
	}
	if (buf_get_u8(&csv->in, &c) != BUF_OK)
		return fail(csv, "reading past the end of a chunk");
	if (c == '\0')
		return fail(csv, "NUL byte: the file is not text");
	if (c == '\n')
		csv->line++;
	return c;
}

/* After a CR: true when an LF follows, which it consumes. */
static int crlf_follows(struct airlock_csv *csv)
{
	int c = next_byte(csv);

	if (c == CSV_FAIL)
		return CSV_FAIL;
	if (c == '\n')
		return 1;
	if (c != CSV_EOF)
		csv->pushback = c;
	return 0;
}

static int put(struct airlock_csv *csv, int c)
{
	if (buf_put_u8(&csv->record, (uint8_t)c) != BUF_OK)
		return fail(csv, csv->record.error == BUF_ERR_LIMIT
				     ? "record longer than the maximum"
				     : "out of memory");
	return 0;
}

static int start_field(struct airlock_csv *csv)
{
	if (csv->field_count >= csv->max_fields)
		return fail(csv, "more fields than the maximum");
	csv->field_starts[csv->field_count++] = csv->record.len;
	return 0;
}

static int end_field(struct airlock_csv *csv)
{
	return put(csv, '\0');
}

/* One step of the state machine for byte C. Returns 1 when the record
 * ended, 0 to go on, CSV_FAIL on an error. */
static int step(struct airlock_csv *csv, enum csv_state *state, int c)
{
	int crlf;

	switch (*state) {
	case FIELD_START:
		if (start_field(csv) < 0)
			return CSV_FAIL;
		if (c == '"') {
			*state = QUOTED;
			return 0;
		}
		*state = UNQUOTED;
		/* The byte belongs to an unquoted field. */
		__attribute__((fallthrough));
	case UNQUOTED:
		if (c == csv->delimiter) {
			*state = FIELD_START;
			return end_field(csv);
		}
		if (c == '\n' || c == CSV_EOF)
			return end_field(csv) < 0 ? CSV_FAIL : 1;
		if (c == '\r') {
			crlf = crlf_follows(csv);
			if (crlf != 0)
				return crlf < 0 || end_field(csv) < 0 ? CSV_FAIL
								      : 1;
		}
		return put(csv, c);
	case QUOTED:
		if (c == CSV_EOF)
			return fail(csv, "a quoted field is not closed");
		if (c == '"') {
			*state = QUOTE_IN_QUOTED;
			return 0;
		}
		return put(csv, c);
	case QUOTE_IN_QUOTED:
		if (c == '"') {
			*state = QUOTED;
			return put(csv, c);
		}
		if (c == csv->delimiter) {
			*state = FIELD_START;
			return end_field(csv);
		}
		if (c == '\n' || c == CSV_EOF)
			return end_field(csv) < 0 ? CSV_FAIL : 1;
		if (c == '\r' && crlf_follows(csv) == 1)
			return end_field(csv) < 0 ? CSV_FAIL : 1;
		return fail(csv, "text after the closing quote of a field");
	}
	return fail(csv, "invalid parser state");
}

int airlock_csv_next(struct airlock_csv *csv)
{
	enum csv_state state = FIELD_START;

	csv->record.len = 0;
	csv->field_count = 0;
	csv->record_line = csv->line;

	int c = next_byte(csv);
	if (c == CSV_EOF)
		return 0;

	for (;;) {
		if (c == CSV_FAIL)
			return -1;
		int rc = step(csv, &state, c);
		if (rc < 0)
			return -1;
		if (rc == 1)
			break;
		c = next_byte(csv);
	}

	csv->records++;
	return 1;
}

const char *airlock_csv_field(const struct airlock_csv *csv, size_t index)
{
	if (index >= csv->field_count)
		return "";
	return (const char *)csv->record.data + csv->field_starts[index];
}
