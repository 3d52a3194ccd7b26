/* The recording reader against files from the hub's own writer
 * (session/hub/recording.c), every truncation and byte flip of one, and
 * hand-made damaged records. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "admin/recording_render.h"
#include "session/hub/hub.h"

#define WIDTH  32
#define HEIGHT 24

struct file {
	uint8_t *data;
	size_t len;
};

static void fill(uint8_t *fb, uint8_t red)
{
	for (size_t i = 0; i < (size_t)WIDTH * HEIGHT; i++) {
		fb[i * 4] = red;
		fb[i * 4 + 1] = (uint8_t)i;
		fb[i * 4 + 2] = 7;
		fb[i * 4 + 3] = 0;
	}
}

/* Writes a recording with the hub's writer: a keyframe, one rectangle
 * that paints (4, 5)-(9, 7) red 200, and the end record. */
static struct file hub_recording(void)
{
	char path[] = "/tmp/test-recording-XXXXXX";
	uint8_t fb[WIDTH * HEIGHT * 4];
	char err[256];
	int fd = mkstemp(path);
	struct file f = {0};

	assert_true(fd >= 0);
	fill(fb, 10);
	struct hub_recording *rec = hub_recording_start(
	    dup(fd), "test0000session1", fb, WIDTH, HEIGHT, err, sizeof(err));
	assert_non_null(rec);
	for (int y = 5; y < 8; y++)
		for (int x = 4; x < 10; x++)
			fb[(y * WIDTH + x) * 4] = 200;
	assert_int_equal(
	    hub_recording_rect(rec, fb, WIDTH, 4, 5, 6, 3, err, sizeof(err)),
	    0);
	assert_int_equal(hub_recording_finish(rec, err, sizeof(err)), 0);

	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	f.len = (size_t)sb.st_size;
	f.data = malloc(f.len);
	assert_non_null(f.data);
	assert_int_equal(pread(fd, f.data, f.len, 0), (ssize_t)f.len);
	close(fd);
	unlink(path);
	return f;
}

static void reader_reads_hub_recording(void **state)
{
	struct file f = hub_recording();
	struct recording_reader r;

	assert_int_equal(recording_reader_init(&r, f.data, f.len), 0);
	assert_string_equal(r.session, "test0000session1");
	assert_true(r.start_wall_ms > 0);

	assert_int_equal(recording_next(&r), 1);
	assert_int_equal(r.width, WIDTH);
	assert_int_equal(r.height, HEIGHT);
	assert_int_equal(r.pixels[(5 * WIDTH + 4) * 4], 10);

	assert_int_equal(recording_next(&r), 1);
	assert_int_equal(r.pixels[(5 * WIDTH + 4) * 4], 200);
	assert_int_equal(r.pixels[(7 * WIDTH + 9) * 4], 200);
	assert_int_equal(r.pixels[(8 * WIDTH + 9) * 4], 10);
	assert_int_equal(r.pixels[(5 * WIDTH + 10) * 4], 10);
	assert_int_equal(r.pixels[(5 * WIDTH + 4) * 4 + 1],
			 (uint8_t)(5 * WIDTH + 4));

	assert_int_equal(recording_next(&r), 1);
	assert_true(r.ended);
	assert_int_equal(recording_next(&r), 0);
	assert_false(r.damaged);
	assert_int_equal(r.records, 3);

	struct buf_writer png;
	buf_writer_init(&png, 1 << 20);
	assert_int_equal(recording_frame_png(&r, &png), 0);
	assert_true(png.len > 8);
	assert_memory_equal(png.data, "\x89PNG\r\n\x1a\n", 8);
	buf_writer_free(&png);
	recording_reader_free(&r);
	free(f.data);
}

/* Reads everything it can; returns the number of records applied. */
static uint64_t read_all(const uint8_t *data, size_t len,
			 struct recording_reader *r)
{
	if (recording_reader_init(r, data, len) < 0)
		return 0;
	while (recording_next(r) == 1)
		;
	return r->records;
}

static void reader_stops_at_every_truncation(void **state)
{
	struct file f = hub_recording();

	for (size_t cut = 0; cut < f.len; cut++) {
		/* A copy of exactly CUT bytes, so that ASan catches a read
		 * past the end. */
		uint8_t *copy = malloc(cut ? cut : 1);
		struct recording_reader r;
		memcpy(copy, f.data, cut);
		uint64_t records = read_all(copy, cut, &r);
		assert_false(r.ended);
		assert_true(records < 3);
		if (r.damaged)
			assert_true(r.stop_offset <= cut);
		recording_reader_free(&r);
		free(copy);
	}
	free(f.data);
}

static void reader_survives_every_byte_flip(void **state)
{
	struct file f = hub_recording();

	for (size_t i = 0; i < f.len; i++) {
		uint8_t *copy = malloc(f.len);
		struct recording_reader r;
		memcpy(copy, f.data, f.len);
		copy[i] ^= 0xff;
		read_all(copy, f.len, &r);
		if (r.damaged)
			assert_true(r.stop_offset < f.len);
		recording_reader_free(&r);
		free(copy);
	}
	free(f.data);
}

/* Hand-made files */

struct builder {
	uint8_t data[65536];
	size_t len;
};

static void put(struct builder *b, const void *bytes, size_t len)
{
	if (len == 0)
		return;
	assert_true(b->len + len <= sizeof(b->data));
	memcpy(b->data + b->len, bytes, len);
	b->len += len;
}

static void put_u16(struct builder *b, uint16_t v)
{
	uint8_t bytes[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(b, bytes, 2);
}

static void put_u32(struct builder *b, uint32_t v)
{
	uint8_t bytes[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16),
			    (uint8_t)(v >> 8), (uint8_t)v};
	put(b, bytes, 4);
}

static void header(struct builder *b, uint16_t version)
{
	b->len = 0;
	put(b, "TRLSREC1", 8);
	put_u16(b, version);
	put(b, "\0\0\0\0\0\0\0\1", 8);
	put(b, "\4\0\x08\x10", 4);
	put(b, "\2id", 3);
}

/* Appends a record whose payload is HEAD followed by PIXELS bytes of
 * value 9 compressed with zlib. */
static void record(struct builder *b, uint8_t type, uint32_t time_ms,
		   const uint8_t *head, size_t head_len, size_t pixels)
{
	uint8_t raw[8192], packed[8192];
	uLongf packed_len = sizeof(packed);

	assert_true(pixels <= sizeof(raw));
	memset(raw, 9, pixels);
	if (pixels)
		assert_int_equal(compress(packed, &packed_len, raw, pixels),
				 Z_OK);
	else
		packed_len = 0;
	put(b, &type, 1);
	put_u32(b, time_ms);
	put_u32(b, (uint32_t)(head_len + packed_len));
	put(b, head, head_len);
	put(b, packed, packed_len);
}

static void keyframe(struct builder *b, uint16_t w, uint16_t h, size_t pixels)
{
	uint8_t head[4] = {(uint8_t)(w >> 8), (uint8_t)w, (uint8_t)(h >> 8),
			   (uint8_t)h};
	record(b, RECORDING_KEYFRAME, 0, head, sizeof(head), pixels);
}

static void rect(struct builder *b, uint32_t time_ms, uint16_t x, uint16_t y,
		 uint16_t w, uint16_t h, size_t pixels)
{
	uint8_t head[8] = {
	    (uint8_t)(x >> 8), (uint8_t)x, (uint8_t)(y >> 8), (uint8_t)y,
	    (uint8_t)(w >> 8), (uint8_t)w, (uint8_t)(h >> 8), (uint8_t)h};
	record(b, RECORDING_RECTANGLE, time_ms, head, sizeof(head), pixels);
}

static const char *damage_of(struct builder *b)
{
	static struct recording_reader r;

	recording_reader_free(&r);
	read_all(b->data, b->len, &r);
	return r.damaged ? r.error : "";
}

static void reader_rejects_bad_header(void **state)
{
	struct builder b;
	struct recording_reader r;

	header(&b, 2);
	assert_int_equal(recording_reader_init(&r, b.data, b.len), -1);
	assert_non_null(strstr(r.error, "version 2"));
	header(&b, 1);
	b.data[0] = 'X';
	assert_int_equal(recording_reader_init(&r, b.data, b.len), -1);
	assert_non_null(strstr(r.error, "magic"));
	header(&b, 1);
	assert_int_equal(recording_reader_init(&r, b.data, b.len - 1), -1);
	assert_non_null(strstr(r.error, "cut short"));
}

static void reader_rejects_damaged_records(void **state)
{
	static struct builder b;

	header(&b, 1);
	keyframe(&b, 20000, 10, 0);
	assert_non_null(strstr(damage_of(&b), "above 16384"));

	header(&b, 1);
	rect(&b, 0, 0, 0, 2, 2, 16);
	assert_non_null(strstr(damage_of(&b), "before any keyframe"));

	header(&b, 1);
	keyframe(&b, 8, 8, 256);
	rect(&b, 5, 7, 7, 2, 1, 8);
	assert_non_null(strstr(damage_of(&b), "outside the frame"));

	header(&b, 1);
	keyframe(&b, 8, 8, 256);
	rect(&b, 5, 0, 0, 2, 2, 20);
	assert_non_null(strstr(damage_of(&b), "more than the rectangle"));

	header(&b, 1);
	keyframe(&b, 8, 8, 256);
	rect(&b, 5, 0, 0, 2, 2, 12);
	assert_non_null(strstr(damage_of(&b), "less than the rectangle"));

	header(&b, 1);
	keyframe(&b, 8, 8, 256);
	rect(&b, 50, 0, 0, 1, 1, 4);
	rect(&b, 40, 0, 0, 1, 1, 4);
	assert_non_null(strstr(damage_of(&b), "backwards"));

	header(&b, 1);
	keyframe(&b, 8, 8, 256);
	b.data[b.len - 3] ^= 0x55; /* inside the zlib checksum */
	assert_non_null(strstr(damage_of(&b), "invalid"));
}

static void reader_skips_unknown_records(void **state)
{
	static struct builder b;
	struct recording_reader r;
	const uint8_t future[3] = {1, 2, 3};

	header(&b, 1);
	keyframe(&b, 4, 4, 64);
	record(&b, 99, 10, future, sizeof(future), 0);
	rect(&b, 20, 1, 1, 1, 1, 4);
	record(&b, RECORDING_END, 30, NULL, 0, 0);

	assert_int_equal(read_all(b.data, b.len, &r), 4);
	assert_true(r.ended);
	assert_false(r.damaged);
	assert_int_equal(r.time_ms, 30);
	recording_reader_free(&r);
}

static void reader_skips_to_last_keyframe(void **state)
{
	static struct builder b;
	struct recording_reader r;
	uint8_t head[4] = {0, 4, 0, 4};

	header(&b, 1);
	keyframe(&b, 4, 4, 64);
	rect(&b, 10, 0, 0, 1, 1, 4);
	record(&b, RECORDING_KEYFRAME, 20, head, sizeof(head), 64);
	rect(&b, 30, 0, 0, 1, 1, 4);

	assert_int_equal(recording_reader_init(&r, b.data, b.len), 0);
	assert_true(recording_skip_to_keyframe(&r, 25));
	assert_int_equal(recording_next(&r), 1);
	assert_int_equal(r.time_ms, 20);
	assert_int_equal(r.records, 1);
	assert_false(recording_skip_to_keyframe(&r, 25));
	assert_int_equal(recording_next(&r), 1);
	assert_int_equal(r.time_ms, 30);
	recording_reader_free(&r);
}

static void png_needs_a_keyframe(void **state)
{
	static struct builder b;
	struct recording_reader r;
	struct buf_writer png;

	header(&b, 1);
	assert_int_equal(recording_reader_init(&r, b.data, b.len), 0);
	buf_writer_init(&png, 1 << 20);
	assert_int_equal(recording_frame_png(&r, &png), -1);
	assert_non_null(strstr(r.error, "no keyframe"));
	buf_writer_free(&png);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reader_reads_hub_recording),
	    cmocka_unit_test(reader_stops_at_every_truncation),
	    cmocka_unit_test(reader_survives_every_byte_flip),
	    cmocka_unit_test(reader_rejects_bad_header),
	    cmocka_unit_test(reader_rejects_damaged_records),
	    cmocka_unit_test(reader_skips_unknown_records),
	    cmocka_unit_test(reader_skips_to_last_keyframe),
	    cmocka_unit_test(png_needs_a_keyframe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
