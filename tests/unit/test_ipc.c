#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/ipc.h"
#include "lib/log.h"

struct pair {
	int raw;		/* the sender's end, written by hand */
	struct ipc_channel *ch; /* the receiver */
};

static int setup_pair(void **state)
{
	int sv[2];
	struct pair *p = calloc(1, sizeof(*p));

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->raw = sv[0];
	p->ch = ipc_channel_new(sv[1], "test");
	assert_non_null(p->ch);
	*state = p;
	return 0;
}

static int teardown_pair(void **state)
{
	struct pair *p = *state;
	ipc_channel_free(p->ch);
	if (p->raw >= 0)
		close(p->raw);
	free(p);
	return 0;
}

/* Builds one frame's bytes by hand, so tests can send broken ones. */
static uint8_t *make_frame(uint16_t magic, uint16_t type, uint32_t id,
			   const char *payload, uint32_t declared_len,
			   uint8_t nfds, size_t *len)
{
	struct buf_writer w;

	buf_writer_init(&w, 1 << 20);
	buf_put_u16be(&w, magic);
	buf_put_u16be(&w, type);
	buf_put_u32be(&w, id);
	buf_put_u32be(&w, declared_len);
	buf_put_u8(&w, nfds);
	buf_put_bytes(&w, "\0\0\0", 3);
	if (payload)
		buf_put_bytes(&w, payload, strlen(payload));
	assert_int_equal(w.error, 0);
	return buf_writer_steal(&w, len);
}

static void send_with_fds(int sock, const void *data, size_t len,
			  const int *fds, size_t nfds)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} control;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfds > 0) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
}

static void channel_round_trip(void **state)
{
	struct pair *p = *state;
	struct ipc_channel *sender = ipc_channel_new(dup(p->raw), "sender");
	struct ipc_msg msg;
	json_t *body = json_pack("{s:s, s:i}", "worker", "web", "pid", 42);

	assert_int_equal(ipc_send(sender, IPC_HELLO, 7, body, NULL, 0), 0);
	assert_int_equal(ipc_flush(sender), 1);
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_MESSAGE);
	assert_int_equal(msg.type, IPC_HELLO);
	assert_int_equal(msg.request_id, 7);
	assert_string_equal(
	    json_string_value(json_object_get(msg.body, "worker")), "web");
	assert_int_equal(msg.nfds, 0);
	ipc_msg_clear(&msg);
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_AGAIN);

	json_decref(body);
	ipc_channel_free(sender);
}

static void frame_split_byte_by_byte(void **state)
{
	struct pair *p = *state;
	struct ipc_msg msg;
	size_t len;
	const char *payload = "{\"a\":1}";
	uint8_t *frame = make_frame(IPC_MAGIC, IPC_PING, 3, payload,
				    (uint32_t)strlen(payload), 0, &len);

	for (size_t i = 0; i + 1 < len; i++) {
		assert_int_equal(write(p->raw, frame + i, 1), 1);
		assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_AGAIN);
	}
	assert_int_equal(write(p->raw, frame + len - 1, 1), 1);
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_MESSAGE);
	assert_int_equal(msg.type, IPC_PING);
	assert_int_equal(json_integer_value(json_object_get(msg.body, "a")), 1);
	ipc_msg_clear(&msg);
	free(frame);
}

static void frames_merged_in_one_write(void **state)
{
	struct pair *p = *state;
	struct ipc_msg msg;
	uint8_t all[4096];
	size_t total = 0;

	for (uint32_t id = 1; id <= 5; id++) {
		char payload[32];
		size_t len;
		snprintf(payload, sizeof(payload), "{\"n\":%u}", id);
		uint8_t *frame = make_frame(IPC_MAGIC, IPC_PING, id, payload,
					    (uint32_t)strlen(payload), 0, &len);
		memcpy(all + total, frame, len);
		total += len;
		free(frame);
	}
	assert_int_equal(write(p->raw, all, total), (ssize_t)total);

	for (uint32_t id = 1; id <= 5; id++) {
		assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_MESSAGE);
		assert_int_equal(msg.request_id, id);
		assert_int_equal(
		    json_integer_value(json_object_get(msg.body, "n")), id);
		ipc_msg_clear(&msg);
	}
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_AGAIN);
}

static void oversized_payload_breaks(void **state)
{
	struct pair *p = *state;
	struct ipc_msg msg;
	size_t len;
	uint8_t *frame = make_frame(IPC_MAGIC, IPC_PING, 1, NULL,
				    IPC_MAX_PAYLOAD + 1, 0, &len);

	assert_int_equal(write(p->raw, frame, len), (ssize_t)len);
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_BROKEN);
	assert_non_null(ipc_channel_error(p->ch));
	assert_non_null(strstr(ipc_channel_error(p->ch), "maximum"));
	/* A broken channel stays broken and sends nothing more. */
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_BROKEN);
	assert_int_equal(ipc_send(p->ch, IPC_PING, 1, NULL, NULL, 0), -1);
	free(frame);
}

static void oversized_send_rejected(void **state)
{
	struct pair *p = *state;
	char *big = malloc(IPC_MAX_PAYLOAD + 10);
	memset(big, 'x', IPC_MAX_PAYLOAD + 9);
	big[IPC_MAX_PAYLOAD + 9] = '\0';
	json_t *body = json_pack("{s:s}", "blob", big);

	assert_int_equal(ipc_send(p->ch, IPC_PING, 1, body, NULL, 0), -1);
	assert_false(ipc_has_pending_output(p->ch));
	json_decref(body);
	free(big);
}

static void bad_magic_breaks(void **state)
{
	struct pair *p = *state;
	struct ipc_msg msg;
	size_t len;
	uint8_t *frame = make_frame(0x4745, IPC_PING, 1, "{}", 2, 0, &len);

	assert_int_equal(write(p->raw, frame, len), (ssize_t)len);
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_BROKEN);
	assert_non_null(strstr(ipc_channel_error(p->ch), "magic"));
	free(frame);
}

static void payload_not_object_breaks(void **state)
{
	const char *payloads[] = {"[1,2]", "\"text\"",
				  "{\"a\":", "{\"a\":1,\"a\":2}", "\xff\xfe"};

	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		int sv[2];
		struct ipc_msg msg;
		size_t len;

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		struct ipc_channel *ch = ipc_channel_new(sv[1], "test");
		uint8_t *frame =
		    make_frame(IPC_MAGIC, IPC_PING, 1, payloads[i],
			       (uint32_t)strlen(payloads[i]), 0, &len);
		assert_int_equal(write(sv[0], frame, len), (ssize_t)len);
		if (ipc_receive(ch, &msg) != IPC_STATUS_BROKEN)
			fail_msg("payload %zu was accepted", i);
		free(frame);
		ipc_channel_free(ch);
		close(sv[0]);
	}
}

static void peer_closed_mid_frame(void **state)
{
	struct pair *p = *state;
	struct ipc_msg msg;
	size_t len;
	uint8_t *frame = make_frame(IPC_MAGIC, IPC_PING, 1, "{}", 2, 0, &len);

	assert_int_equal(write(p->raw, frame, len - 1), (ssize_t)len - 1);
	close(p->raw);
	p->raw = -1;
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_BROKEN);
	free(frame);
}

static void peer_closed_cleanly(void **state)
{
	struct pair *p = *state;
	struct ipc_msg msg;

	close(p->raw);
	p->raw = -1;
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_CLOSED);
}

static void fds_pass_with_frame(void **state)
{
	struct pair *p = *state;
	struct ipc_channel *sender = ipc_channel_new(dup(p->raw), "sender");
	struct ipc_msg msg;
	int pipe_fds[2];
	struct stat a, b;

	assert_int_equal(pipe(pipe_fds), 0);
	assert_int_equal(
	    ipc_send(sender, IPC_WORKER_CONFIG, 9, NULL, pipe_fds, 2), 0);
	assert_int_equal(ipc_flush(sender), 1);
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_MESSAGE);
	assert_int_equal(msg.nfds, 2);
	assert_int_equal(fstat(msg.fds[0], &a), 0);
	assert_int_equal(fstat(pipe_fds[0], &b), 0);
	assert_true(a.st_ino == b.st_ino);
	assert_int_equal(fcntl(msg.fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

	/* The received write end reaches the original pipe. */
	assert_int_equal(write(msg.fds[1], "x", 1), 1);
	char c = 0;
	assert_int_equal(read(pipe_fds[0], &c, 1), 1);
	assert_int_equal(c, 'x');

	ipc_msg_clear(&msg);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	ipc_channel_free(sender);
}

static int open_fd_count(void)
{
	int count = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			count++;
	return count;
}

static void fds_missing_breaks(void **state)
{
	struct pair *p = *state;
	struct ipc_msg msg;
	size_t len;
	uint8_t *frame = make_frame(IPC_MAGIC, IPC_PING, 1, "{}", 2, 2, &len);

	assert_int_equal(write(p->raw, frame, len), (ssize_t)len);
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_BROKEN);
	assert_non_null(strstr(ipc_channel_error(p->ch), "descriptors"));
	free(frame);
}

static void fds_unannounced_closed(void **state)
{
	struct pair *p = *state;
	struct ipc_msg msg;
	size_t len;
	int devnull = open("/dev/null", O_RDONLY);
	int before = open_fd_count();
	uint8_t *frame = make_frame(IPC_MAGIC, IPC_PING, 1, "{}", 2, 0, &len);

	send_with_fds(p->raw, frame, len, &devnull, 1);
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_BROKEN);
	ipc_channel_free(p->ch);
	p->ch = NULL;
	/* The channel's own socket closed too, so one fewer than before. */
	assert_int_equal(open_fd_count(), before - 1);
	close(devnull);
	free(frame);
	p->ch = ipc_channel_new(dup(p->raw), "test");
}

static void fds_too_many_announced(void **state)
{
	struct pair *p = *state;
	struct ipc_msg msg;
	size_t len;
	uint8_t *frame =
	    make_frame(IPC_MAGIC, IPC_PING, 1, "{}", 2, IPC_MAX_FDS + 1, &len);

	assert_int_equal(write(p->raw, frame, len), (ssize_t)len);
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_BROKEN);
	free(frame);
}

static void fds_flood_closed(void **state)
{
	struct pair *p = *state;
	struct ipc_msg msg;
	size_t len;
	int fds[8];
	uint8_t *frame = make_frame(IPC_MAGIC, IPC_PING, 1, "{}", 2, 2, &len);

	for (int i = 0; i < 8; i++)
		fds[i] = open("/dev/null", O_RDONLY);
	int before = open_fd_count();
	send_with_fds(p->raw, frame, len, fds, 8);
	assert_int_equal(ipc_receive(p->ch, &msg), IPC_STATUS_BROKEN);
	ipc_channel_free(p->ch);
	p->ch = NULL;
	assert_int_equal(open_fd_count(), before - 1);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	free(frame);
	p->ch = ipc_channel_new(dup(p->raw), "test");
}

static void call_matches_request_id(void **state)
{
	struct pair *p = *state;
	struct ipc_channel *server = ipc_channel_new(dup(p->raw), "server");
	struct ipc_msg request, reply;
	json_t *body = json_object();

	/* The server answers before the call starts waiting: an unrelated
	 * frame first, then the reply with the request's id. */
	assert_int_equal(ipc_send(p->ch, IPC_ADMIN_REQUEST, 99, body, NULL, 0),
			 0);
	assert_int_equal(ipc_flush(p->ch), 1);
	assert_int_equal(ipc_receive_blocking(server, &request, 1000), 0);
	ipc_msg_clear(&request);

	json_t *unrelated = json_pack("{s:b}", "unrelated", 1);
	json_t *answer = json_pack("{s:b}", "ok", 1);
	assert_int_equal(
	    ipc_send(server, IPC_ADMIN_REPLY, 500, unrelated, NULL, 0), 0);
	assert_int_equal(ipc_send(server, IPC_ADMIN_REPLY, 1, answer, NULL, 0),
			 0);
	assert_int_equal(ipc_flush(server), 1);

	assert_int_equal(ipc_call(p->ch, IPC_ADMIN_REQUEST, body, &reply, 1000),
			 0);
	assert_int_equal(reply.request_id, 1);
	assert_true(json_is_true(json_object_get(reply.body, "ok")));
	ipc_msg_clear(&reply);

	json_decref(unrelated);
	json_decref(answer);
	json_decref(body);
	ipc_channel_free(server);
}

static void call_times_out(void **state)
{
	struct pair *p = *state;
	struct ipc_msg reply;
	json_t *body = json_object();

	assert_int_equal(ipc_call(p->ch, IPC_PING, body, &reply, 50), -1);
	assert_int_equal(errno, ETIMEDOUT);
	json_decref(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(channel_round_trip, setup_pair,
					    teardown_pair),
	    cmocka_unit_test_setup_teardown(frame_split_byte_by_byte,
					    setup_pair, teardown_pair),
	    cmocka_unit_test_setup_teardown(frames_merged_in_one_write,
					    setup_pair, teardown_pair),
	    cmocka_unit_test_setup_teardown(oversized_payload_breaks,
					    setup_pair, teardown_pair),
	    cmocka_unit_test_setup_teardown(oversized_send_rejected, setup_pair,
					    teardown_pair),
	    cmocka_unit_test_setup_teardown(bad_magic_breaks, setup_pair,
					    teardown_pair),
	    cmocka_unit_test(payload_not_object_breaks),
	    cmocka_unit_test_setup_teardown(peer_closed_mid_frame, setup_pair,
					    teardown_pair),
	    cmocka_unit_test_setup_teardown(peer_closed_cleanly, setup_pair,
					    teardown_pair),
	    cmocka_unit_test_setup_teardown(fds_pass_with_frame, setup_pair,
					    teardown_pair),
	    cmocka_unit_test_setup_teardown(fds_missing_breaks, setup_pair,
					    teardown_pair),
	    cmocka_unit_test_setup_teardown(fds_unannounced_closed, setup_pair,
					    teardown_pair),
	    cmocka_unit_test_setup_teardown(fds_too_many_announced, setup_pair,
					    teardown_pair),
	    cmocka_unit_test_setup_teardown(fds_flood_closed, setup_pair,
					    teardown_pair),
	    cmocka_unit_test_setup_teardown(call_matches_request_id, setup_pair,
					    teardown_pair),
	    cmocka_unit_test_setup_teardown(call_times_out, setup_pair,
					    teardown_pair),
	};
	log_init("test_ipc", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
