#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"

static void reader_integers_both_orders(void **state)
{
	const uint8_t data[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
				0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
				0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
	struct buf_reader r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	buf_reader_init(&r, data, sizeof(data));
	assert_int_equal(buf_get_u8(&r, &u8), BUF_OK);
	assert_int_equal(u8, 0x01);
	assert_int_equal(buf_get_u16be(&r, &u16), BUF_OK);
	assert_int_equal(u16, 0x0203);
	assert_int_equal(buf_get_u16le(&r, &u16), BUF_OK);
	assert_int_equal(u16, 0x0504);
	assert_int_equal(buf_get_u32be(&r, &u32), BUF_OK);
	assert_int_equal(u32, 0x06070809);
	assert_int_equal(buf_get_u32le(&r, &u32), BUF_OK);
	assert_int_equal(u32, 0x0d0c0b0a);
	assert_int_equal(buf_get_u64be(&r, &u64), BUF_OK);
	assert_true(u64 == 0x0e0f101112131415ull);
	assert_int_equal(buf_get_u64le(&r, &u64), BUF_OK);
	assert_true(u64 == 0x1d1c1b1a19181716ull);
	assert_int_equal(buf_remaining(&r), 2);
}

/* Each getter on every input shorter than its width fails and leaves the
 * position where it was. */
static void reader_short_every_width(void **state)
{
	const uint8_t data[8] = {0};
	struct {
		const char *name;
		size_t width;
	} cases[] = {{"u8", 1},	   {"u16be", 2}, {"u16le", 2}, {"u32be", 4},
		     {"u32le", 4}, {"u64be", 8}, {"u64le", 8}};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (size_t len = 0; len < cases[c].width; len++) {
			struct buf_reader r;
			uint8_t v8;
			uint16_t v16;
			uint32_t v32;
			uint64_t v64;
			int err;

			buf_reader_init(&r, data, len);
			switch (c) {
			case 0:
				err = buf_get_u8(&r, &v8);
				break;
			case 1:
				err = buf_get_u16be(&r, &v16);
				break;
			case 2:
				err = buf_get_u16le(&r, &v16);
				break;
			case 3:
				err = buf_get_u32be(&r, &v32);
				break;
			case 4:
				err = buf_get_u32le(&r, &v32);
				break;
			case 5:
				err = buf_get_u64be(&r, &v64);
				break;
			default:
				err = buf_get_u64le(&r, &v64);
				break;
			}
			if (err != BUF_ERR_SHORT)
				fail_msg("%s on %zu bytes returned %d",
					 cases[c].name, len, err);
			assert_int_equal(r.pos, 0);
		}
	}
}

static void reader_bytes_short(void **state)
{
	const uint8_t data[3] = {1, 2, 3};
	uint8_t out[4] = {0};
	struct buf_reader r;

	buf_reader_init(&r, data, sizeof(data));
	assert_int_equal(buf_get_bytes(&r, out, 4), BUF_ERR_SHORT);
	assert_int_equal(r.pos, 0);
	assert_int_equal(out[0], 0);
	assert_int_equal(buf_skip(&r, 4), BUF_ERR_SHORT);
	assert_int_equal(buf_get_bytes(&r, out, 3), BUF_OK);
	assert_memory_equal(out, data, 3);
	assert_int_equal(buf_get_bytes(&r, out, 1), BUF_ERR_SHORT);
	assert_int_equal(buf_get_bytes(&r, out, 0), BUF_OK);
}

static void reader_huge_length_no_overflow(void **state)
{
	const uint8_t data[4] = {0};
	const uint8_t *view;
	struct buf_reader r;

	buf_reader_init(&r, data, sizeof(data));
	assert_int_equal(buf_skip(&r, 2), BUF_OK);
	assert_int_equal(buf_get_view(&r, SIZE_MAX, &view), BUF_ERR_SHORT);
	assert_int_equal(buf_get_view(&r, SIZE_MAX - 1, &view), BUF_ERR_SHORT);
	assert_int_equal(r.pos, 2);
}

static void reader_string_prefixes(void **state)
{
	const uint8_t data[] = {3,   'a', 'b', 'c', 0, 2,  'd',
				'e', 0,	  0,   0,   1, 'f'};
	const uint8_t *s;
	size_t len;
	struct buf_reader r;

	buf_reader_init(&r, data, sizeof(data));
	assert_int_equal(buf_get_string8(&r, 16, &s, &len), BUF_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(s, "abc", 3);
	assert_int_equal(buf_get_string16be(&r, 16, &s, &len), BUF_OK);
	assert_int_equal(len, 2);
	assert_memory_equal(s, "de", 2);
	assert_int_equal(buf_get_string32be(&r, 16, &s, &len), BUF_OK);
	assert_int_equal(len, 1);
	assert_memory_equal(s, "f", 1);
	assert_int_equal(buf_remaining(&r), 0);
}

static void reader_string_over_maximum(void **state)
{
	const uint8_t data[] = {0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
	const uint8_t *s = NULL;
	size_t len = 99;
	struct buf_reader r;

	buf_reader_init(&r, data, sizeof(data));
	assert_int_equal(buf_get_string32be(&r, 4, &s, &len), BUF_ERR_TOO_LONG);
	assert_int_equal(r.pos, 0);
	assert_null(s);
	assert_int_equal(len, 99);
	assert_int_equal(buf_get_string32be(&r, 5, &s, &len), BUF_OK);
	assert_int_equal(len, 5);
}

static void reader_string_truncated_body(void **state)
{
	const uint8_t body_short[] = {0, 0, 0, 5, 'h', 'e'};
	const uint8_t prefix_short[] = {0, 0, 0};
	const uint8_t max_prefix[] = {0xff, 0xff, 0xff, 0xff, 'x'};
	const uint8_t *s;
	size_t len;
	struct buf_reader r;

	buf_reader_init(&r, body_short, sizeof(body_short));
	assert_int_equal(buf_get_string32be(&r, 100, &s, &len), BUF_ERR_SHORT);
	assert_int_equal(r.pos, 0);

	buf_reader_init(&r, prefix_short, sizeof(prefix_short));
	assert_int_equal(buf_get_string32be(&r, 100, &s, &len), BUF_ERR_SHORT);
	assert_int_equal(r.pos, 0);

	buf_reader_init(&r, max_prefix, sizeof(max_prefix));
	assert_int_equal(buf_get_string32be(&r, SIZE_MAX, &s, &len),
			 BUF_ERR_SHORT);
	assert_int_equal(r.pos, 0);

	buf_reader_init(&r, body_short, 0);
	assert_int_equal(buf_get_string8(&r, 100, &s, &len), BUF_ERR_SHORT);
	assert_int_equal(buf_get_string16be(&r, 100, &s, &len), BUF_ERR_SHORT);
}

static void reader_null_data_is_empty(void **state)
{
	struct buf_reader r;
	uint8_t v;

	buf_reader_init(&r, NULL, 10);
	assert_int_equal(buf_remaining(&r), 0);
	assert_int_equal(buf_get_u8(&r, &v), BUF_ERR_SHORT);
}

static void writer_round_trip(void **state)
{
	struct buf_writer w;
	struct buf_reader r;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *s;
	size_t len;

	buf_writer_init(&w, 1024);
	assert_int_equal(buf_put_u16le(&w, 0xbeef), BUF_OK);
	assert_int_equal(buf_put_u32be(&w, 0xdeadbeef), BUF_OK);
	assert_int_equal(buf_put_u64le(&w, 0x0102030405060708ull), BUF_OK);
	assert_int_equal(buf_put_string16be(&w, "trellis", 7), BUF_OK);
	assert_int_equal(w.len, 2 + 4 + 8 + 2 + 7);

	buf_reader_init(&r, w.data, w.len);
	assert_int_equal(buf_get_u16le(&r, &u16), BUF_OK);
	assert_int_equal(u16, 0xbeef);
	assert_int_equal(buf_get_u32be(&r, &u32), BUF_OK);
	assert_int_equal(u32, 0xdeadbeef);
	assert_int_equal(buf_get_u64le(&r, &u64), BUF_OK);
	assert_true(u64 == 0x0102030405060708ull);
	assert_int_equal(buf_get_string16be(&r, 64, &s, &len), BUF_OK);
	assert_int_equal(len, 7);
	assert_memory_equal(s, "trellis", 7);
	buf_writer_free(&w);
}

static void writer_limit_sticks(void **state)
{
	struct buf_writer w;

	buf_writer_init(&w, 6);
	assert_int_equal(buf_put_u32be(&w, 1), BUF_OK);
	assert_int_equal(buf_put_u32be(&w, 2), BUF_ERR_LIMIT);
	assert_int_equal(w.len, 4);
	assert_int_equal(buf_put_u8(&w, 3), BUF_ERR_LIMIT);
	assert_int_equal(w.error, BUF_ERR_LIMIT);
	buf_writer_free(&w);
}

static void writer_prefix_too_long(void **state)
{
	struct buf_writer w;
	static uint8_t big[70000];

	buf_writer_init(&w, sizeof(big) + 16);
	assert_int_equal(buf_put_string8(&w, big, 256), BUF_ERR_TOO_LONG);
	assert_int_equal(w.len, 0);
	buf_writer_free(&w);

	buf_writer_init(&w, sizeof(big) + 16);
	assert_int_equal(buf_put_string16be(&w, big, 65536), BUF_ERR_TOO_LONG);
	buf_writer_free(&w);

	buf_writer_init(&w, sizeof(big) + 16);
	assert_int_equal(buf_put_string16be(&w, big, 65535), BUF_OK);
	assert_int_equal(w.len, 65537);
	buf_writer_free(&w);
}

static void writer_steal_empties(void **state)
{
	struct buf_writer w;
	size_t len;

	buf_writer_init(&w, 16);
	buf_put_u8(&w, 7);
	uint8_t *data = buf_writer_steal(&w, &len);
	assert_non_null(data);
	assert_int_equal(len, 1);
	assert_int_equal(data[0], 7);
	assert_null(w.data);
	assert_int_equal(w.len, 0);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reader_integers_both_orders),
	    cmocka_unit_test(reader_short_every_width),
	    cmocka_unit_test(reader_bytes_short),
	    cmocka_unit_test(reader_huge_length_no_overflow),
	    cmocka_unit_test(reader_string_prefixes),
	    cmocka_unit_test(reader_string_over_maximum),
	    cmocka_unit_test(reader_string_truncated_body),
	    cmocka_unit_test(reader_null_data_is_empty),
	    cmocka_unit_test(writer_round_trip),
	    cmocka_unit_test(writer_limit_sticks),
	    cmocka_unit_test(writer_prefix_too_long),
	    cmocka_unit_test(writer_steal_empties),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
