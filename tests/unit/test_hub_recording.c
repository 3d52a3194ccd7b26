/* The hub's recording writer, read back as docs/recording-format.md
 * describes the file. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "session/hub/hub.h"

#define WIDTH  4
#define HEIGHT 2

struct record {
	uint8_t type;
	uint32_t offset_ms;
	uint32_t len;
	const uint8_t *payload;
};

static uint8_t file_data[65536];
static size_t file_len;

static void read_back(const char *path)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, file_data, sizeof(file_data));
	assert_true(n > 0);
	file_len = (size_t)n;
	close(fd);
}

static int next_record(struct buf_reader *r, struct record *rec)
{
	if (buf_get_u8(r, &rec->type) < 0 ||
	    buf_get_u32be(r, &rec->offset_ms) < 0 ||
	    buf_get_u32be(r, &rec->len) < 0 ||
	    buf_get_view(r, rec->len, &rec->payload) < 0)
		return -1;
	return 0;
}

static void assert_pixels(const uint8_t *packed, size_t packed_len,
			  const uint8_t *expected, size_t len)
{
	uint8_t out[WIDTH * HEIGHT * 4];
	uLongf out_len = sizeof(out);

	assert_int_equal(uncompress(out, &out_len, packed, packed_len), Z_OK);
	assert_int_equal(out_len, len);
	assert_memory_equal(out, expected, len);
}

static void test_recording_round_trip(void **state)
{
	char path[] = "/tmp/test_hub_recording-XXXXXX";
	uint8_t fb[WIDTH * HEIGHT * 4];
	char err[256] = "";
	struct buf_reader r;
	struct record rec;
	(void)state;

	for (size_t i = 0; i < sizeof(fb); i++)
		fb[i] = (uint8_t)i;
	int fd = mkstemp(path);
	assert_true(fd >= 0);

	struct hub_recording *h = hub_recording_start(fd, "s-42", fb, WIDTH,
						      HEIGHT, err, sizeof(err));
	assert_non_null(h);
	/* The rect at x=1, y=1, 2x1 of the changed framebuffer. */
	fb[(1 * WIDTH + 1) * 4] = 0xee;
	assert_int_equal(
	    hub_recording_rect(h, fb, WIDTH, 1, 1, 2, 1, err, sizeof(err)), 0);
	assert_true(hub_recording_bytes(h) > 0);
	assert_int_equal(hub_recording_finish(h, err, sizeof(err)), 0);
	read_back(path);
	unlink(path);

	buf_reader_init(&r, file_data, file_len);
	const uint8_t *magic = NULL;
	uint16_t version = 0;
	uint64_t start_ms = 0;
	uint8_t bpp = 0, shift[3] = {0}, id_len = 0;
	const uint8_t *id = NULL;
	assert_int_equal(buf_get_view(&r, 8, &magic), 0);
	assert_memory_equal(magic, "TRLSREC1", 8);
	assert_int_equal(buf_get_u16be(&r, &version), 0);
	assert_int_equal(version, 1);
	assert_int_equal(buf_get_u64be(&r, &start_ms), 0);
	assert_true(start_ms > 1600000000000ull);
	assert_int_equal(buf_get_u8(&r, &bpp), 0);
	assert_int_equal(bpp, 4);
	for (int i = 0; i < 3; i++)
		assert_int_equal(buf_get_u8(&r, &shift[i]), 0);
	assert_int_equal(shift[0], 0);
	assert_int_equal(shift[1], 8);
	assert_int_equal(shift[2], 16);
	assert_int_equal(buf_get_u8(&r, &id_len), 0);
	assert_int_equal(buf_get_view(&r, id_len, &id), 0);
	assert_int_equal(id_len, 4);
	assert_memory_equal(id, "s-42", 4);

	/* Keyframe: width, height, then the pixels before the change. */
	uint8_t first[sizeof(fb)];
	memcpy(first, fb, sizeof(fb));
	first[(1 * WIDTH + 1) * 4] = (uint8_t)((1 * WIDTH + 1) * 4);
	assert_int_equal(next_record(&r, &rec), 0);
	assert_int_equal(rec.type, 1);
	assert_true(rec.len > 4);
	assert_int_equal(rec.payload[0] << 8 | rec.payload[1], WIDTH);
	assert_int_equal(rec.payload[2] << 8 | rec.payload[3], HEIGHT);
	assert_pixels(rec.payload + 4, rec.len - 4, first, sizeof(first));

	/* Rectangle: x, y, w, h, then its rows. */
	assert_int_equal(next_record(&r, &rec), 0);
	assert_int_equal(rec.type, 2);
	static const uint8_t rect_head[] = {0, 1, 0, 1, 0, 2, 0, 1};
	assert_memory_equal(rec.payload, rect_head, sizeof(rect_head));
	assert_pixels(rec.payload + 8, rec.len - 8, fb + (1 * WIDTH + 1) * 4,
		      2 * 4);

	assert_int_equal(next_record(&r, &rec), 0);
	assert_int_equal(rec.type, 3);
	assert_int_equal(rec.len, 0);
	assert_int_equal(buf_remaining(&r), 0);
}

static void test_recording_disk_full(void **state)
{
	uint8_t fb[WIDTH * HEIGHT * 4] = {0};
	char err[256] = "";
	(void)state;

	int fd = open("/dev/full", O_WRONLY);
	assert_true(fd >= 0);
	assert_null(
	    hub_recording_start(fd, "s", fb, WIDTH, HEIGHT, err, sizeof(err)));
	assert_non_null(strstr(err, "No space left on device"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recording_round_trip),
	    cmocka_unit_test(test_recording_disk_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
