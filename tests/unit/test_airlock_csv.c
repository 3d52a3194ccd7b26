/* RFC 4180 reader of the airlock's table check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "airlock/csv.h"

/* A file holding TEXT, as the checker gets it: a descriptor to read. */
static int file_with(const char *text, size_t len)
{
	int fd = memfd_create("csv", 0);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	return fd;
}

struct reader {
	int fd;
	struct airlock_csv csv;
};

static void open_text(struct reader *r, const char *text, size_t max_record,
		      size_t max_fields)
{
	r->fd = file_with(text, strlen(text));
	assert_int_equal(airlock_csv_init(&r->csv, r->fd, strlen(text), ',',
					  max_record, max_fields),
			 0);
}

static void close_reader(struct reader *r)
{
	airlock_csv_free(&r->csv);
	close(r->fd);
}

static void csv_plain_records(void **state)
{
	struct reader r;

	open_text(&r, "a,b,c\n1,2,3\n", 1024, 16);
	assert_int_equal(airlock_csv_next(&r.csv), 1);
	assert_int_equal(r.csv.field_count, 3);
	assert_string_equal(airlock_csv_field(&r.csv, 0), "a");
	assert_string_equal(airlock_csv_field(&r.csv, 2), "c");
	assert_int_equal(airlock_csv_next(&r.csv), 1);
	assert_string_equal(airlock_csv_field(&r.csv, 1), "2");
	assert_int_equal(airlock_csv_next(&r.csv), 0);
	close_reader(&r);
}

static void csv_quoted_fields(void **state)
{
	struct reader r;

	open_text(&r, "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\r\nx,,\n",
		  1024, 16);
	assert_int_equal(airlock_csv_next(&r.csv), 1);
	assert_int_equal(r.csv.field_count, 3);
	assert_string_equal(airlock_csv_field(&r.csv, 0), "a,b");
	assert_string_equal(airlock_csv_field(&r.csv, 1), "say \"hi\"");
	assert_string_equal(airlock_csv_field(&r.csv, 2), "two\nlines");
	assert_int_equal(airlock_csv_next(&r.csv), 1);
	assert_int_equal(r.csv.record_line, 3);
	assert_int_equal(r.csv.field_count, 3);
	assert_string_equal(airlock_csv_field(&r.csv, 1), "");
	assert_string_equal(airlock_csv_field(&r.csv, 2), "");
	assert_int_equal(airlock_csv_next(&r.csv), 0);
	close_reader(&r);
}

static void csv_crlf_and_no_final_newline(void **state)
{
	struct reader r;

	open_text(&r, "a,b\r\n1,2", 1024, 16);
	assert_int_equal(airlock_csv_next(&r.csv), 1);
	assert_string_equal(airlock_csv_field(&r.csv, 1), "b");
	assert_int_equal(airlock_csv_next(&r.csv), 1);
	assert_string_equal(airlock_csv_field(&r.csv, 1), "2");
	assert_int_equal(airlock_csv_next(&r.csv), 0);
	close_reader(&r);
}

static void csv_unterminated_quote(void **state)
{
	struct reader r;

	open_text(&r, "a,\"b\n1,2\n", 1024, 16);
	assert_int_equal(airlock_csv_next(&r.csv), -1);
	assert_non_null(strstr(r.csv.error, "not closed"));
	close_reader(&r);
}

static void csv_text_after_quote(void **state)
{
	struct reader r;

	open_text(&r, "\"a\"b,c\n", 1024, 16);
	assert_int_equal(airlock_csv_next(&r.csv), -1);
	assert_non_null(strstr(r.csv.error, "after the closing quote"));
	close_reader(&r);
}

static void csv_record_too_long(void **state)
{
	struct reader r;

	open_text(&r, "0123456789012345678901234567890123456789\n", 16, 16);
	assert_int_equal(airlock_csv_next(&r.csv), -1);
	assert_non_null(strstr(r.csv.error, "longer than the maximum"));
	close_reader(&r);
}

static void csv_too_many_fields(void **state)
{
	struct reader r;

	open_text(&r, "a,b,c,d,e\n", 1024, 4);
	assert_int_equal(airlock_csv_next(&r.csv), -1);
	assert_non_null(strstr(r.csv.error, "more fields"));
	close_reader(&r);
}

static void csv_nul_byte(void **state)
{
	static const char text[] = "a,b\n1,\0\n";
	struct reader r;

	r.fd = file_with(text, sizeof(text) - 1);
	assert_int_equal(
	    airlock_csv_init(&r.csv, r.fd, sizeof(text) - 1, ',', 1024, 16), 0);
	assert_int_equal(airlock_csv_next(&r.csv), 1);
	assert_int_equal(airlock_csv_next(&r.csv), -1);
	assert_non_null(strstr(r.csv.error, "line 2"));
	close_reader(&r);
}

/* Records that cross the reader's 64 KiB chunks come out whole. */
static void csv_records_across_chunks(void **state)
{
	size_t rows = 20000;
	char *text = malloc(rows * 16);
	size_t len = 0;
	struct reader r;

	assert_non_null(text);
	for (size_t i = 0; i < rows; i++)
		len += (size_t)sprintf(text + len, "\"r%zu\",%zu\n", i, i);
	r.fd = file_with(text, len);
	assert_int_equal(airlock_csv_init(&r.csv, r.fd, len, ',', 1024, 16), 0);
	for (size_t i = 0; i < rows; i++) {
		char expected[32];
		assert_int_equal(airlock_csv_next(&r.csv), 1);
		snprintf(expected, sizeof(expected), "%zu", i);
		assert_string_equal(airlock_csv_field(&r.csv, 1), expected);
	}
	assert_int_equal(airlock_csv_next(&r.csv), 0);
	close_reader(&r);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(csv_plain_records),
	    cmocka_unit_test(csv_quoted_fields),
	    cmocka_unit_test(csv_crlf_and_no_final_newline),
	    cmocka_unit_test(csv_unterminated_quote),
	    cmocka_unit_test(csv_text_after_quote),
	    cmocka_unit_test(csv_record_too_long),
	    cmocka_unit_test(csv_too_many_fields),
	    cmocka_unit_test(csv_nul_byte),
	    cmocka_unit_test(csv_records_across_chunks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
