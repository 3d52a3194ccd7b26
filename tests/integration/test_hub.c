/* trellis-hub against a real Xvnc and against hostile fake backends.
 *
 * The test plays the master: it starts trellis-hub with an IPC socketpair
 * on fd 3, connects to the backend's unix socket, sends the configuration
 * and hands viewer sockets over. The viewer side is a minimal RFB client
 * written here, so the tests can send malformed messages on purpose. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/event.h"
#include "lib/ipc.h"

#define WAIT_MS 15000

struct desktop {
	char dir[256];
	char sock[300];
	char display[32];
	pid_t xvnc;
	pid_t apps[4];
	size_t napps;
};

struct hub_proc {
	pid_t pid;
	struct ipc_channel *ipc;
	char log[320];
};

static char tmp_root[64];

/* ---- processes ---- */

static void kill_wait(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static pid_t spawn(const char *display, char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		if (display)
			setenv("DISPLAY", display, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int run_shell(const char *display, const char *cmd)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		setenv("DISPLAY", display, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool have_program(const char *name)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

/* Starts Xvnc on a unix socket; Xvnc picks a free display number and
 * writes it to -displayfd. */
static int desktop_start(struct desktop *d, const char *app)
{
	int pipefd[2];
	char displayfd[16];
	char buf[32] = "";

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "%s/desk-XXXXXX", tmp_root);
	if (mkdtemp(d->dir) == NULL)
		return -1;
	snprintf(d->sock, sizeof(d->sock), "%s/vnc.sock", d->dir);
	if (pipe(pipefd) < 0)
		return -1;
	snprintf(displayfd, sizeof(displayfd), "%d", pipefd[1]);

	d->xvnc = fork();
	if (d->xvnc == 0) {
		close(pipefd[0]);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execlp("Xvnc", "Xvnc", "-displayfd", displayfd, "-rfbunixpath",
		       d->sock, "-rfbport", "-1", "-SecurityTypes", "None",
		       "-UseBlacklist=0", "-geometry", "800x600", "-depth",
		       "24", "-nolisten", "tcp", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);

	struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
	if (poll(&pfd, 1, WAIT_MS) <= 0 ||
	    read(pipefd[0], buf, sizeof(buf) - 1) <= 0) {
		close(pipefd[0]);
		return -1;
	}
	close(pipefd[0]);
	snprintf(d->display, sizeof(d->display), ":%d", atoi(buf));

	for (int i = 0; i < 200 && access(d->sock, F_OK) != 0; i++)
		usleep(25000);

	if (app) {
		char *argv[] = {"/bin/sh", "-c", (char *)app, NULL};
		d->apps[d->napps++] = spawn(d->display, argv);
	}
	return 0;
}

static void desktop_stop(struct desktop *d)
{
	for (size_t i = 0; i < d->napps; i++)
		kill_wait(d->apps[i]);
	kill_wait(d->xvnc);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	system(cmd);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Starts trellis-hub with fd 3 = IPC and waits for its IPC_HELLO. */
static int hub_start(struct hub_proc *h, rlim_t file_limit)
{
	int sv[2];
	const char *builddir = getenv("TRELLIS_BUILDDIR");
	char path[512];
	struct ipc_msg msg = {0};

	snprintf(path, sizeof(path), "%s/session/hub/trellis-hub",
		 builddir ? builddir : ".");
	snprintf(h->log, sizeof(h->log), "%s/hub-%d.log", tmp_root,
		 (int)time_monotonic_ms());
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;

	h->pid = fork();
	if (h->pid == 0) {
		int log = open(h->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(log, 2);
		dup2(sv[1], 3);
		if (file_limit) {
			struct rlimit rl = {file_limit, file_limit};
			setrlimit(RLIMIT_FSIZE, &rl);
		}
		/* TRELLIS_HUB_WRAPPER runs the hub under a tool such as
		 * "strace -f -o /tmp/hub.trace" when debugging. */
		const char *wrapper = getenv("TRELLIS_HUB_WRAPPER");
		if (wrapper) {
			char cmd[1024];
			snprintf(cmd, sizeof(cmd), "exec %s %s", wrapper, path);
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		}
		execl(path, "trellis-hub", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	h->ipc = ipc_channel_new(sv[0], "hub");
	if (ipc_receive_blocking(h->ipc, &msg, WAIT_MS) < 0)
		return -1;
	int ok = msg.type == IPC_HELLO ? 0 : -1;
	ipc_msg_clear(&msg);
	return ok;
}

static void hub_stop(struct hub_proc *h)
{
	ipc_channel_free(h->ipc);
	kill_wait(h->pid);
}

/* Sends the configuration; returns the reply type (READY or ENDED) and
 * copies an ENDED reason into REASON. */
static int hub_configure(struct hub_proc *h, json_t *cfg, int backend_fd,
			 int rec_fd, char *reason, size_t reason_size)
{
	int fds[2] = {backend_fd, rec_fd};
	struct ipc_msg msg = {0};

	ipc_send_blocking(h->ipc, IPC_WORKER_CONFIG, 0, cfg, fds,
			  rec_fd >= 0 ? 2 : 1, WAIT_MS);
	json_decref(cfg);
	close(backend_fd);
	if (rec_fd >= 0)
		close(rec_fd);
	if (ipc_receive_blocking(h->ipc, &msg, WAIT_MS) < 0)
		return -1;

	int type = msg.type;
	const char *r = json_string_value(json_object_get(msg.body, "reason"));
	snprintf(reason, reason_size, "%s", r ? r : "");
	ipc_msg_clear(&msg);
	return type;
}

static json_t *base_config(void)
{
	return json_pack("{s:s, s:i, s:i, s:{s:{s:s, s:i}, s:{s:s}}, "
			 "s:i, s:i}",
			 "session", "s-test", "max_width", 4096, "max_height",
			 2160, "clipboard", "to_session", "mode", "text",
			 "max_bytes", 16, "from_session", "mode", "off",
			 "idle_timeout_ms", 0, "backend_timeout_ms", 2000);
}

/* Waits for a message of TYPE from the hub, skipping others. */
static int hub_wait_for(struct hub_proc *h, uint16_t type, int timeout_ms,
			char *reason, size_t reason_size)
{
	int64_t deadline = time_monotonic_ms() + timeout_ms;
	struct ipc_msg msg = {0};

	while (time_monotonic_ms() < deadline) {
		int left = (int)(deadline - time_monotonic_ms());
		if (ipc_receive_blocking(h->ipc, &msg, left > 0 ? left : 1) <
		    0)
			return -1;
		bool match = msg.type == type;
		if (match && reason) {
			const char *r = json_string_value(
			    json_object_get(msg.body, "reason"));
			snprintf(reason, reason_size, "%s", r ? r : "");
		}
		ipc_msg_clear(&msg);
		if (match)
			return 0;
	}
	return -1;
}

static bool log_contains(const struct hub_proc *h, const char *needle)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "grep -q -- '%s' '%s'", needle, h->log);
	return system(cmd) == 0;
}

/* ---- a minimal RFB viewer ---- */

struct viewer {
	int fd;
	uint16_t width;
	uint16_t height;
	uint8_t *fb;
	int cut_texts; /* ServerCutText messages seen, classic or extended */
	char last_cut[256];
};

static int read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;
	int64_t deadline = time_monotonic_ms() + timeout_ms;

	while (len > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int left = (int)(deadline - time_monotonic_ms());
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return -1;
		ssize_t n = read(fd, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	return send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int viewer_send_encodings(struct viewer *v, bool extended_clipboard)
{
	struct buf_writer w;

	buf_writer_init(&w, 64);
	buf_put_u8(&w, 2);
	buf_put_u8(&w, 0);
	buf_put_u16be(&w, extended_clipboard ? 2 : 1);
	buf_put_u32be(&w, 0);
	if (extended_clipboard)
		buf_put_u32be(&w, 0xC0A1E5CE);
	int rc = write_full(v->fd, w.data, w.len);
	buf_writer_free(&w);
	return rc;
}

static int viewer_request(struct viewer *v, bool incremental)
{
	uint8_t msg[10] = {3, incremental, 0, 0, 0, 0,
			   (uint8_t)(v->width >> 8), (uint8_t)v->width,
			   (uint8_t)(v->height >> 8), (uint8_t)v->height};

	return write_full(v->fd, msg, sizeof(msg));
}

/* Adds a viewer to the hub and runs the RFB 3.8 handshake on it. */
static int viewer_open(struct hub_proc *h, struct viewer *v, const char *id,
		       const char *user, bool view_only,
		       bool extended_clipboard)
{
	int sv[2];
	uint8_t buf[64];
	struct buf_reader r;
	uint32_t name_len = 0;

	memset(v, 0, sizeof(*v));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	json_t *body = json_pack("{s:s, s:s, s:b, s:s}", "viewer_id", id,
				 "user", user, "view_only", view_only, "kind",
				 "browser");
	ipc_send_blocking(h->ipc, IPC_HUB_ADD_VIEWER, 0, body, &sv[1], 1,
			  WAIT_MS);
	json_decref(body);
	close(sv[1]);
	v->fd = sv[0];

	if (read_full(v->fd, buf, 12, WAIT_MS) < 0 ||
	    write_full(v->fd, "RFB 003.008\n", 12) < 0 ||
	    read_full(v->fd, buf, 2, WAIT_MS) < 0 || buf[0] != 1 ||
	    buf[1] != 1 || write_full(v->fd, "\1", 1) < 0 ||
	    read_full(v->fd, buf, 4, WAIT_MS) < 0 ||
	    write_full(v->fd, "\1", 1) < 0 ||
	    read_full(v->fd, buf, 24, WAIT_MS) < 0)
		return -1;

	buf_reader_init(&r, buf, 24);
	buf_get_u16be(&r, &v->width);
	buf_get_u16be(&r, &v->height);
	buf_skip(&r, 16);
	buf_get_u32be(&r, &name_len);
	if (name_len > 1024)
		return -1;
	char name[1025];
	if (read_full(v->fd, name, name_len, WAIT_MS) < 0)
		return -1;
	v->fb = calloc((size_t)v->width * v->height, 4);

	/* libvncserver's default pixel format is 32-bit true colour, which
	 * this client keeps. */
	if (viewer_send_encodings(v, extended_clipboard) < 0)
		return -1;
	return viewer_request(v, false);
}

static void viewer_close(struct viewer *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
	free(v->fb);
	v->fb = NULL;
}

/* Reads one server message. Returns its type, or -1 on EOF or timeout. */
static int viewer_read_message(struct viewer *v, int timeout_ms)
{
	uint8_t hdr[16];
	struct buf_reader r;

	if (read_full(v->fd, hdr, 1, timeout_ms) < 0)
		return -1;
	if (hdr[0] == 0) {
		uint16_t count = 0;
		if (read_full(v->fd, hdr + 1, 3, WAIT_MS) < 0)
			return -1;
		buf_reader_init(&r, hdr + 2, 2);
		buf_get_u16be(&r, &count);
		for (uint16_t i = 0; i < count; i++) {
			uint16_t x = 0, y = 0, w = 0, h = 0;
			int32_t enc = 0;
			if (read_full(v->fd, hdr, 12, WAIT_MS) < 0)
				return -1;
			buf_reader_init(&r, hdr, 12);
			buf_get_u16be(&r, &x);
			buf_get_u16be(&r, &y);
			buf_get_u16be(&r, &w);
			buf_get_u16be(&r, &h);
			buf_get_s32be(&r, &enc);
			if (enc != 0 || x + w > v->width || y + h > v->height)
				return -1;
			for (uint16_t row = 0; row < h; row++)
				if (read_full(v->fd,
					      v->fb + ((size_t)(y + row) *
							   v->width +
						       x) * 4,
					      (size_t)w * 4, WAIT_MS) < 0)
					return -1;
		}
		return 0;
	}
	if (hdr[0] == 3) {
		uint32_t len = 0;
		if (read_full(v->fd, hdr + 1, 7, WAIT_MS) < 0)
			return -1;
		buf_reader_init(&r, hdr + 4, 4);
		buf_get_u32be(&r, &len);
		if (len & 0x80000000u)
			len = (uint32_t)-(int32_t)len;
		if (len > 1u << 20)
			return -1;
		char *text = malloc(len + 1);
		if (read_full(v->fd, text, len, WAIT_MS) < 0) {
			free(text);
			return -1;
		}
		text[len] = '\0';
		snprintf(v->last_cut, sizeof(v->last_cut), "%s", text);
		free(text);
		v->cut_texts++;
		return 3;
	}
	if (hdr[0] == 2)
		return 2;
	return -1;
}

/* Reads messages for DURATION_MS, answering each update with a request.
 * Returns -1 when the connection ended. */
static int viewer_pump(struct viewer *v, int duration_ms)
{
	int64_t deadline = time_monotonic_ms() + duration_ms;

	while (time_monotonic_ms() < deadline) {
		int left = (int)(deadline - time_monotonic_ms());
		struct pollfd pfd = {.fd = v->fd, .events = POLLIN};
		if (poll(&pfd, 1, left > 0 ? left : 1) <= 0)
			continue;
		int type = viewer_read_message(v, WAIT_MS);
		if (type < 0)
			return -1;
		if (type == 0)
			viewer_request(v, true);
	}
	return 0;
}

static size_t distinct_colours(const struct viewer *v)
{
	uint32_t seen[8];
	size_t n = 0;
	const uint32_t *px = (const uint32_t *)v->fb;

	for (size_t i = 0; i < (size_t)v->width * v->height && n < 8; i++) {
		uint32_t c = px[i] & 0xffffff;
		bool known = false;
		for (size_t j = 0; j < n; j++)
			known = known || seen[j] == c;
		if (!known)
			seen[n++] = c;
	}
	return n;
}

static int viewer_key(struct viewer *v, uint32_t keysym)
{
	uint8_t msg[8] = {4, 1, 0, 0, (uint8_t)(keysym >> 24),
			  (uint8_t)(keysym >> 16), (uint8_t)(keysym >> 8),
			  (uint8_t)keysym};

	if (write_full(v->fd, msg, 8) < 0)
		return -1;
	msg[1] = 0;
	return write_full(v->fd, msg, 8);
}

static int viewer_type(struct viewer *v, const char *text)
{
	for (const char *p = text; *p; p++)
		if (viewer_key(v, *p == '\n' ? 0xff0d : (uint8_t)*p) < 0)
			return -1;
	return 0;
}

static int viewer_pointer(struct viewer *v, uint16_t x, uint16_t y)
{
	uint8_t msg[6] = {5, 0, (uint8_t)(x >> 8), (uint8_t)x,
			  (uint8_t)(y >> 8), (uint8_t)y};

	return write_full(v->fd, msg, 6);
}

static int viewer_cut_text(struct viewer *v, uint32_t len, const char *text)
{
	uint8_t hdr[8] = {6, 0, 0, 0, (uint8_t)(len >> 24),
			  (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			  (uint8_t)len};

	if (write_full(v->fd, hdr, 8) < 0)
		return -1;
	return text ? write_full(v->fd, text, strlen(text)) : 0;
}

/* Starts a desktop and a hub connected to it with CFG. */
static void session_start(struct desktop *d, struct hub_proc *h,
			  const char *app, json_t *cfg)
{
	char reason[512];

	if (!have_program("Xvnc")) {
		json_decref(cfg);
		skip();
	}
	assert_int_equal(desktop_start(d, app), 0);
	assert_int_equal(hub_start(h, 0), 0);
	int backend = connect_unix(d->sock);
	assert_true(backend >= 0);
	assert_int_equal(hub_configure(h, cfg, backend, -1, reason,
				       sizeof(reason)),
			 IPC_WORKER_READY);
}

/* ---- tests against Xvnc ---- */

static void test_hub_desktop_keys(void **state)
{
	struct desktop d;
	struct hub_proc h;
	struct viewer v;
	char marker[400];
	char cmd[600];
	(void)state;

	session_start(&d, &h, "xterm -geometry 80x24+0+0", base_config());
	assert_int_equal(viewer_open(&h, &v, "v1", "alice", false, false), 0);

	/* xterm needs a moment to map and draw its window. */
	size_t colours = 0;
	for (int i = 0; i < 40 && colours < 2; i++) {
		assert_int_equal(viewer_pump(&v, 250), 0);
		colours = distinct_colours(&v);
	}
	assert_true(colours >= 2);

	snprintf(marker, sizeof(marker), "%s/typed-by-viewer", d.dir);
	snprintf(cmd, sizeof(cmd), "touch %s\n", marker);
	assert_int_equal(viewer_pointer(&v, 100, 100), 0);
	assert_int_equal(viewer_type(&v, cmd), 0);
	for (int i = 0; i < 40 && access(marker, F_OK) != 0; i++)
		viewer_pump(&v, 250);
	assert_int_equal(access(marker, F_OK), 0);

	char status[64];
	snprintf(status, sizeof(status), "/proc/%d/status", (int)h.pid);
	snprintf(cmd, sizeof(cmd), "grep -E 'VmRSS|Threads' %s | tr -s ' \\t' ' ' | sed 's/^/# hub /'",
		 status);
	system(cmd);

	viewer_close(&v);
	hub_stop(&h);
	desktop_stop(&d);
}

static void test_hub_takeover(void **state)
{
	struct desktop d;
	struct hub_proc h;
	struct viewer first, second, watcher;
	char reason[256] = "";
	(void)state;

	session_start(&d, &h, NULL, base_config());
	assert_int_equal(viewer_open(&h, &first, "w1", "alice", false, false),
			 0);
	assert_int_equal(
	    viewer_open(&h, &watcher, "w2", "alice", true, false), 0);
	assert_int_equal(
	    viewer_open(&h, &second, "w3", "alice", false, false), 0);

	assert_int_equal(hub_wait_for(&h, IPC_HUB_VIEWER_CLOSED, WAIT_MS,
				      reason, sizeof(reason)),
			 0);
	assert_string_equal(reason, "taken over by another window");
	assert_int_equal(viewer_pump(&first, 1000), -1);
	assert_int_equal(viewer_pump(&watcher, 500), 0);
	assert_int_equal(viewer_pump(&second, 500), 0);

	viewer_close(&first);
	viewer_close(&second);
	viewer_close(&watcher);
	hub_stop(&h);
	desktop_stop(&d);
}

static bool desktop_clipboard_has(struct desktop *d, const char *text)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd),
		 "timeout 5 xclip -o -selection clipboard 2>/dev/null | "
		 "grep -q '%s'",
		 text);
	return run_shell(d->display, cmd) == 0;
}

static void test_hub_rfb1_clipboard_length(void **state)
{
	struct desktop d;
	struct hub_proc h;
	struct viewer v;
	char reason[256] = "";
	(void)state;

	if (!have_program("xclip"))
		skip();
	session_start(&d, &h, NULL, base_config());

	/* 0xFFFFFFFF: rejected from the header, before any allocation. */
	assert_int_equal(viewer_open(&h, &v, "c1", "alice", false, false), 0);
	assert_int_equal(viewer_cut_text(&v, 0xFFFFFFFFu, NULL), 0);
	assert_int_equal(hub_wait_for(&h, IPC_HUB_VIEWER_CLOSED, WAIT_MS,
				      reason, sizeof(reason)),
			 0);
	assert_string_equal(reason, "cut text length over 1 MiB");
	assert_int_equal(viewer_pump(&v, 1000), -1);
	viewer_close(&v);
	assert_true(log_contains(&h, "event=clipboard_rejected"));

	/* 0 bytes and 17 bytes (limit 16): dropped, logged, the viewer
	 * stays connected and the desktop clipboard is untouched. */
	assert_int_equal(viewer_open(&h, &v, "c2", "alice", false, false), 0);
	assert_int_equal(viewer_cut_text(&v, 0, NULL), 0);
	assert_int_equal(viewer_cut_text(&v, 17, "over-limit-text-1"), 0);
	assert_int_equal(viewer_pump(&v, 1000), 0);
	assert_true(log_contains(&h, "reason=empty"));
	assert_true(log_contains(&h, "reason=\"over the size limit\""));
	assert_false(desktop_clipboard_has(&d, "over-limit-text-1"));

	/* Within the limit the text does reach the desktop, which shows the
	 * check above can fail. */
	assert_int_equal(viewer_cut_text(&v, 12, "within-limit"), 0);
	assert_int_equal(viewer_pump(&v, 1000), 0);
	assert_true(desktop_clipboard_has(&d, "within-limit"));

	viewer_close(&v);
	assert_int_equal(hub_wait_for(&h, IPC_HUB_VIEWER_CLOSED, WAIT_MS,
				      reason, sizeof(reason)),
			 0);
	assert_string_equal(reason, "viewer disconnected");
	hub_stop(&h);
	desktop_stop(&d);
}

static int copy_out_cut_texts(const char *mode)
{
	struct desktop d;
	struct hub_proc h;
	struct viewer v;
	json_t *cfg = base_config();

	json_object_set_new(
	    json_object_get(cfg, "clipboard"), "from_session",
	    json_pack("{s:s, s:i}", "mode", mode, "max_bytes", 1024));
	session_start(&d, &h, NULL, cfg);
	assert_int_equal(viewer_open(&h, &v, "p1", "alice", false, true), 0);
	assert_int_equal(viewer_pump(&v, 500), 0);

	run_shell(d.display, "printf copied-secret | timeout 5 xclip -loops 1 "
			     "-selection clipboard & "
			     "printf primary-secret | timeout 5 xclip -loops 1 "
			     "-selection primary & sleep 2");
	assert_int_equal(viewer_pump(&v, 2000), 0);

	int seen = v.cut_texts;
	viewer_close(&v);
	hub_stop(&h);
	desktop_stop(&d);
	return seen;
}

static void test_hub_rfb2_copy_out_off(void **state)
{
	(void)state;

	if (!have_program("xclip"))
		skip();
	/* Off: no ServerCutText and no extended clipboard capability or
	 * notify, although the viewer asked for the extended clipboard. */
	assert_int_equal(copy_out_cut_texts("off"), 0);
	/* Text: the same desktop actions do reach the viewer. */
	assert_true(copy_out_cut_texts("text") > 0);
}

static void test_hub_web4_idle_with_clock(void **state)
{
	struct desktop d;
	struct hub_proc h;
	struct viewer v;
	json_t *cfg = base_config();
	(void)state;

	if (!have_program("xclock"))
		skip();
	json_object_set_new(cfg, "idle_timeout_ms", json_integer(3000));
	int64_t start = time_monotonic_ms();
	session_start(&d, &h, "xclock -update 1", cfg);
	assert_int_equal(viewer_open(&h, &v, "i1", "alice", false, false), 0);

	/* The viewer keeps requesting updates, which are not input. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(viewer_pump(&v, 500), 0);
	struct ipc_msg msg = {0};
	int64_t deadline = time_monotonic_ms() + 8000;
	bool idle = false;
	while (!idle && time_monotonic_ms() < deadline) {
		viewer_pump(&v, 200);
		if (ipc_receive_blocking(h.ipc, &msg, 50) == 0) {
			idle = msg.type == IPC_HUB_IDLE;
			ipc_msg_clear(&msg);
		}
	}
	assert_true(idle);
	assert_true(time_monotonic_ms() - start >= 3000);
	assert_true(v.width > 0);

	viewer_close(&v);
	hub_stop(&h);
	desktop_stop(&d);
}

static json_t *recording_config(const char *path)
{
	json_t *cfg = base_config();

	json_object_set_new(cfg, "recording",
			    json_pack("{s:b, s:s}", "required", 1, "path",
				      path ? path : ""));
	return cfg;
}

static void test_hub_rec1_missing_directory(void **state)
{
	struct desktop d;
	struct hub_proc h;
	char reason[512] = "";
	char path[400];
	(void)state;

	if (!have_program("Xvnc"))
		skip();
	assert_int_equal(desktop_start(&d, NULL), 0);
	assert_int_equal(hub_start(&h, 0), 0);
	snprintf(path, sizeof(path), "%s/no-such-dir/rec.trec", d.dir);
	assert_int_equal(hub_configure(&h, recording_config(path),
				       connect_unix(d.sock), -1, reason,
				       sizeof(reason)),
			 IPC_HUB_ENDED);
	assert_non_null(strstr(reason, "No such file or directory"));
	assert_true(log_contains(&h, "event=session_refused"));
	hub_stop(&h);
	desktop_stop(&d);
}

static void test_hub_rec1_disk_full(void **state)
{
	struct desktop d;
	struct hub_proc h;
	char reason[512] = "";
	(void)state;

	if (!have_program("Xvnc"))
		skip();
	assert_int_equal(desktop_start(&d, NULL), 0);
	assert_int_equal(hub_start(&h, 0), 0);
	int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
	assert_true(full >= 0);
	assert_int_equal(hub_configure(&h, recording_config(NULL),
				       connect_unix(d.sock), full, reason,
				       sizeof(reason)),
			 IPC_HUB_ENDED);
	assert_non_null(strstr(reason, "No space left on device"));
	hub_stop(&h);
	desktop_stop(&d);
}

static void test_hub_rec1_full_mid_session(void **state)
{
	struct desktop d;
	struct hub_proc h;
	struct viewer v;
	char reason[512] = "";
	char path[400];
	(void)state;

	if (!have_program("Xvnc") || !have_program("xclock"))
		skip();
	assert_int_equal(desktop_start(&d, "xclock -update 1"), 0);
	/* A file size limit of 64 KiB lets the header and first keyframe
	 * through; the clock's repaints then fill it. */
	assert_int_equal(hub_start(&h, 64 * 1024), 0);
	snprintf(path, sizeof(path), "%s/rec.trec", d.dir);
	assert_int_equal(hub_configure(&h, recording_config(path),
				       connect_unix(d.sock), -1, reason,
				       sizeof(reason)),
			 IPC_WORKER_READY);
	assert_int_equal(viewer_open(&h, &v, "r1", "alice", false, false), 0);

	int64_t deadline = time_monotonic_ms() + 60000;
	struct ipc_msg msg = {0};
	bool ended = false;
	while (!ended && time_monotonic_ms() < deadline) {
		viewer_pump(&v, 200);
		if (ipc_receive_blocking(h.ipc, &msg, 50) == 0) {
			if (msg.type == IPC_HUB_ENDED) {
				ended = true;
				snprintf(reason, sizeof(reason), "%s",
					 json_string_value(json_object_get(
					     msg.body, "reason")));
			}
			ipc_msg_clear(&msg);
		}
	}
	assert_true(ended);
	assert_non_null(strstr(reason, "recording failed"));
	assert_true(log_contains(&h, "event=recording_failed"));
	viewer_close(&v);
	hub_stop(&h);
	desktop_stop(&d);
}

/* ---- hostile backends ---- */

/* Runs a fake backend in a child that writes SCRIPT (LEN bytes) after the
 * client's version and security choice, then keeps the socket open. */
static pid_t fake_backend(int fd, const uint8_t *script, size_t len)
{
	pid_t pid = fork();

	if (pid == 0) {
		uint8_t buf[64];
		write_full(fd, "RFB 003.008\n", 12);
		read_full(fd, buf, 12, WAIT_MS);
		write_full(fd, "\1\1", 2);
		read_full(fd, buf, 1, WAIT_MS);
		write_full(fd, "\0\0\0\0", 4);
		read_full(fd, buf, 1, WAIT_MS);
		write_full(fd, script, len);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	return pid;
}

static const uint8_t server_init_800x600[] = {
    0x03, 0x20, 0x02, 0x58, 32, 24, 0, 1, 0, 255, 0, 255,
    0,	  255,	16,   8,    0,	0,  0, 0, 0, 0, 0, 0};

static void hostile_case(const uint8_t *script, size_t len,
			 int expected_reply, const char *expected_reason)
{
	struct hub_proc h;
	int sv[2];
	char reason[512] = "";

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid_t backend = fake_backend(sv[1], script, len);
	close(sv[1]);
	assert_int_equal(hub_start(&h, 0), 0);

	int reply = hub_configure(&h, base_config(), sv[0], -1, reason,
				  sizeof(reason));
	assert_int_equal(reply, expected_reply);
	if (reply == IPC_WORKER_READY)
		assert_int_equal(hub_wait_for(&h, IPC_HUB_ENDED, WAIT_MS,
					      reason, sizeof(reason)),
				 0);
	assert_non_null(strstr(reason, expected_reason));

	/* The hub exits by itself, cleanly, after reporting the end. */
	int status = -1;
	for (int i = 0; i < 100 && waitpid(h.pid, &status, WNOHANG) == 0; i++)
		usleep(50000);
	assert_true(WIFEXITED(status));
	h.pid = 0;
	ipc_channel_free(h.ipc);
	kill_wait(backend);
}

static void test_hub_hostile_huge_framebuffer(void **state)
{
	uint8_t script[sizeof(server_init_800x600)];
	(void)state;

	memcpy(script, server_init_800x600, sizeof(script));
	script[0] = script[1] = script[2] = script[3] = 0xff; /* 65535 */
	hostile_case(script, sizeof(script), IPC_HUB_ENDED,
		     "65535x65535 is outside");
}

static void test_hub_hostile_garbage(void **state)
{
	uint8_t script[sizeof(server_init_800x600) + 16];
	(void)state;

	memcpy(script, server_init_800x600, sizeof(server_init_800x600));
	memset(script + sizeof(server_init_800x600), 0x7f, 16);
	hostile_case(script, sizeof(script), IPC_WORKER_READY,
		     "message type 127");
}

static void test_hub_hostile_unrequested_encoding(void **state)
{
	/* A FramebufferUpdate with one Tight (7) rectangle. */
	uint8_t script[sizeof(server_init_800x600) + 16] = {0};
	static const uint8_t update[] = {0, 0, 0, 1, 0, 0, 0, 0,
					 0, 16, 0, 16, 0, 0, 0, 7};
	(void)state;

	memcpy(script, server_init_800x600, sizeof(server_init_800x600));
	memcpy(script + sizeof(server_init_800x600), update, sizeof(update));
	hostile_case(script, sizeof(script), IPC_WORKER_READY,
		     "encoding 7, which was not requested");
}

static void test_hub_hostile_rect_outside(void **state)
{
	uint8_t script[sizeof(server_init_800x600) + 16] = {0};
	static const uint8_t update[] = {0, 0, 0, 1, 0x03, 0x20, 0, 0,
					 0, 16, 0, 16, 0, 0, 0, 0};
	(void)state;

	memcpy(script, server_init_800x600, sizeof(server_init_800x600));
	memcpy(script + sizeof(server_init_800x600), update, sizeof(update));
	hostile_case(script, sizeof(script), IPC_WORKER_READY,
		     "outside the 800x600 framebuffer");
}

static void test_hub_hostile_silent(void **state)
{
	/* ServerInit announces a name of 10 bytes and sends none. */
	uint8_t script[sizeof(server_init_800x600)];
	(void)state;

	memcpy(script, server_init_800x600, sizeof(script));
	script[sizeof(script) - 1] = 10;
	hostile_case(script, sizeof(script), IPC_HUB_ENDED, "timed out");
}

static int setup_root(void **state)
{
	(void)state;
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/trellis-hub-test-XXXXXX");
	signal(SIGPIPE, SIG_IGN);
	return mkdtemp(tmp_root) ? 0 : -1;
}

static int teardown_root(void **state)
{
	char cmd[300];
	(void)state;
	if (getenv("TRELLIS_KEEP_TEST_DIR"))
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hub_desktop_keys),
	    cmocka_unit_test(test_hub_takeover),
	    cmocka_unit_test(test_hub_rfb1_clipboard_length),
	    cmocka_unit_test(test_hub_rfb2_copy_out_off),
	    cmocka_unit_test(test_hub_web4_idle_with_clock),
	    cmocka_unit_test(test_hub_rec1_missing_directory),
	    cmocka_unit_test(test_hub_rec1_disk_full),
	    cmocka_unit_test(test_hub_rec1_full_mid_session),
	    cmocka_unit_test(test_hub_hostile_huge_framebuffer),
	    cmocka_unit_test(test_hub_hostile_garbage),
	    cmocka_unit_test(test_hub_hostile_unrequested_encoding),
	    cmocka_unit_test(test_hub_hostile_rect_outside),
	    cmocka_unit_test(test_hub_hostile_silent),
	};

	return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
