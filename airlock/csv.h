/* RFC 4180 CSV reader for untrusted files, record by record.
 *
 * Reads the file with pread through a bounds-checked buffer, so it never
 * keeps more than one record. Quoted fields may hold delimiters, doubled
 * quotes and line breaks, and records end with LF or CRLF. A record longer than
 * max_record_bytes, more than max_fields fields, a NUL byte, an unterminated
 * quote or text after a closing quote is an error with its line number. */
#ifndef TRELLIS_AIRLOCK_CSV_H
#define TRELLIS_AIRLOCK_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define AIRLOCK_CSV_CHUNK 65536

struct airlock_csv {
	int fd;
	uint64_t size;	 /* bytes of the file to read */
	uint64_t offset; /* file offset of the next chunk */
	uint8_t chunk[AIRLOCK_CSV_CHUNK];
	struct buf_reader in;
	int pushback; /* a byte read ahead, or -1 */
	char delimiter;
	size_t max_fields;

	struct buf_writer record; /* the fields, each ending in NUL */
	size_t *field_starts;
	size_t field_count;

	uint64_t line;	      /* line of the next byte, from 1 */
	uint64_t record_line; /* line where the current record starts */
	uint64_t records;     /* records returned so far */
	char error[192];
};

int airlock_csv_init(struct airlock_csv *csv, int fd, uint64_t size,
		     char delimiter, size_t max_record_bytes,
		     size_t max_fields);
void airlock_csv_free(struct airlock_csv *csv);
/* Reads the next record. Returns 1 for a record, 0 at the end of the file
 * and -1 on an error, described in csv->error. */
int airlock_csv_next(struct airlock_csv *csv);
/* The field at INDEX of the current record, NUL-terminated. */
const char *airlock_csv_field(const struct airlock_csv *csv, size_t index);

#endif
