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
#include <grp.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/event.h"
#include "lib/ipc.h"

/* Generous, because other builds share the machine's two cores. */
#define WAIT_MS 30000

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

/* Every child the test starts stays listed here until it is reaped, so a
 * failed assertion cannot leave an Xvnc, xterm or hub running: the
 * teardown of each test stops what is still listed, by pid. */
static pid_t children[64];

static void child_track(pid_t pid)
{
	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++) {
		if (children[i] == 0) {
			children[i] = pid;
			return;
		}
	}
	fail_msg("more than %zu child processes",
		 sizeof(children) / sizeof(children[0]));
}

static void child_untrack(pid_t pid)
{
	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
		if (children[i] == pid)
			children[i] = 0;
}

/* Sends SIGTERM, waits up to 2 s, then sends SIGKILL, and reaps PID. */
static void kill_wait(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			child_untrack(pid);
			return;
		}
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	child_untrack(pid);
}

static int teardown_children(void **state)
{
	(void)state;
	/* Stops the newest first: apps and hubs before their Xvnc. */
	for (size_t i = sizeof(children) / sizeof(children[0]); i > 0; i--)
		kill_wait(children[i - 1]);
	return 0;
}

/* Starts ARGV with DISPLAY set and stdout and stderr to LOG (or
 * /dev/null). */
static pid_t spawn(const char *display, const char *log, char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int out = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)
			      : open("/dev/null", O_RDWR);
		dup2(out, 1);
		dup2(out, 2);
		if (display)
			setenv("DISPLAY", display, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid > 0)
		child_track(pid);
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

static int connect_unix(const char *path);

/* Waits until the RFB server on PATH accepts a connection and sends its
 * version, so a test never races Xvnc's start. */
static int wait_rfb_ready(const char *path, int timeout_ms)
{
	int64_t deadline = time_monotonic_ms() + timeout_ms;

	while (time_monotonic_ms() < deadline) {
		char version[12];
		int fd = connect_unix(path);
		if (fd >= 0) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			bool ok = poll(&pfd, 1, 2000) == 1 &&
				  recv(fd, version, sizeof(version),
				       MSG_WAITALL) == sizeof(version) &&
				  memcmp(version, "RFB 003.", 8) == 0;
			close(fd);
			if (ok)
				return 0;
		}
		usleep(50000);
	}
	return -1;
}

/* Starts Xvnc of GEOMETRY (WxH) on a unix socket and APP in it. Xvnc picks a
 * free display number and writes it to -displayfd. */
static int desktop_start(struct desktop *d, const char *geometry,
			 const char *app)
{
	int pipefd[2];
	char displayfd[16];
	char buf[32] = "";
	char log[320];

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "%s/desk-XXXXXX", tmp_root);
	if (mkdtemp(d->dir) == NULL)
		return -1;
	snprintf(d->sock, sizeof(d->sock), "%s/vnc.sock", d->dir);
	snprintf(log, sizeof(log), "%s/xvnc.log", d->dir);
	if (pipe(pipefd) < 0)
		return -1;
	snprintf(displayfd, sizeof(displayfd), "%d", pipefd[1]);

	char *argv[] = {"Xvnc",	     "-displayfd",
			displayfd,   "-rfbunixpath",
			d->sock,     "-rfbport",
			"-1",	     "-SecurityTypes",
			"None",	     "-UseBlacklist=0",
			"-geometry", (char *)geometry,
			"-depth",    "24",
			"-nolisten", "tcp",
			NULL};
	d->xvnc = spawn(NULL, log, argv);
	close(pipefd[1]);

	struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
	ssize_t n = -1;
	if (poll(&pfd, 1, WAIT_MS) == 1)
		n = read(pipefd[0], buf, sizeof(buf) - 1);
	close(pipefd[0]);
	if (n <= 0) {
		print_message("Xvnc wrote no display number; see %s\n", log);
		return -1;
	}
	snprintf(d->display, sizeof(d->display), ":%d", atoi(buf));

	if (wait_rfb_ready(d->sock, WAIT_MS) < 0) {
		print_message("Xvnc on %s is not ready; see %s\n", d->sock,
			      log);
		return -1;
	}

	if (app) {
		/* exec, so that the tracked pid is the app's own. */
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "exec %s", app);
		char *app_argv[] = {"/bin/sh", "-c", cmd, NULL};
		d->apps[d->napps++] = spawn(d->display, NULL, app_argv);
	}
	return 0;
}

static void desktop_stop(struct desktop *d)
{
	for (size_t i = 0; i < d->napps; i++)
		kill_wait(d->apps[i]);
	kill_wait(d->xvnc);
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

/* Starts trellis-hub with fd 3 = IPC and waits for its IPC_HELLO. With
 * AS_NOBODY and the test running as root, the hub runs as user nobody, so
 * that file permissions apply to it. */
static int hub_start(struct hub_proc *h, bool as_nobody)
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
		if (as_nobody && geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(65534) < 0 ||
		     setuid(65534) < 0))
			_exit(126);
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
	child_track(h->pid);
	close(sv[1]);
	h->ipc = ipc_channel_new(sv[0], "hub");
	if (ipc_receive_blocking(h->ipc, &msg, WAIT_MS) < 0)
		return -1;
	int ok = msg.type == IPC_HELLO ? 0 : -1;
	ipc_msg_clear(&msg);
	return ok;
}

static bool log_contains(const struct hub_proc *h, const char *needle);

/* Stops the hub, then checks its log for sanitizer reports, which a
 * --enable-sanitizers build writes to stderr. */
static void hub_stop(struct hub_proc *h)
{
	ipc_channel_free(h->ipc);
	kill_wait(h->pid);
	assert_false(log_contains(h, "Sanitizer"));
	assert_false(log_contains(h, "runtime error"));
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
		if (ipc_receive_blocking(h->ipc, &msg, left > 0 ? left : 1) < 0)
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
	uint8_t msg[10] = {3,
			   incremental,
			   0,
			   0,
			   0,
			   0,
			   (uint8_t)(v->width >> 8),
			   (uint8_t)v->width,
			   (uint8_t)(v->height >> 8),
			   (uint8_t)v->height};

	return write_full(v->fd, msg, sizeof(msg));
}

static int viewer_read_message(struct viewer *v, int timeout_ms);

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
	json_t *body =
	    json_pack("{s:s, s:s, s:b, s:s}", "viewer_id", id, "user", user,
		      "view_only", view_only, "kind", "browser");
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
	if (viewer_send_encodings(v, extended_clipboard) < 0 ||
	    viewer_request(v, false) < 0)
		return -1;

	/* Reads the first, full update now: a viewer that leaves 1.9 MB
	 * unread is rightly dropped by the hub as too slow. */
	int type;
	while ((type = viewer_read_message(v, WAIT_MS)) > 0)
		;
	if (type < 0)
		return -1;
	return viewer_request(v, true);
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
				if (read_full(
					v->fd,
					v->fb +
					    ((size_t)(y + row) * v->width + x) *
						4,
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
			len = (uint32_t) - (int32_t)len;
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

/* Reads messages for DURATION_MS and sends an update request after each
 * update. Returns -1 when the connection ended. */
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
	uint8_t msg[8] = {4,
			  1,
			  0,
			  0,
			  (uint8_t)(keysym >> 24),
			  (uint8_t)(keysym >> 16),
			  (uint8_t)(keysym >> 8),
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
	uint8_t msg[6] = {
	    5, 0, (uint8_t)(x >> 8), (uint8_t)x, (uint8_t)(y >> 8), (uint8_t)y};

	return write_full(v->fd, msg, 6);
}

static int viewer_cut_text(struct viewer *v, uint32_t len, const char *text)
{
	uint8_t hdr[8] = {6,
			  0,
			  0,
			  0,
			  (uint8_t)(len >> 24),
			  (uint8_t)(len >> 16),
			  (uint8_t)(len >> 8),
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
	assert_int_equal(desktop_start(d, "800x600", app), 0);
	assert_int_equal(hub_start(h, false), 0);
	int backend = connect_unix(d->sock);
	assert_true(backend >= 0);
	assert_int_equal(
	    hub_configure(h, cfg, backend, -1, reason, sizeof(reason)),
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

	if (!have_program("xterm"))
		skip();
	session_start(&d, &h, "xterm -geometry 80x24+0+0", base_config());
	assert_int_equal(viewer_open(&h, &v, "v1", "alice", false, false), 0);

	/* xterm needs a moment to map and draw its window. */
	size_t colours = 0;
	for (int i = 0; i < 40 && colours < 2; i++) {
		assert_int_equal(viewer_pump(&v, 250), 0);
		colours = distinct_colours(&v);
	}
	assert_true(colours >= 2);

	/* A view-only viewer types first; none of its keys may arrive. */
	struct viewer watcher;
	char ignored[400];
	assert_int_equal(viewer_open(&h, &watcher, "v2", "bob", true, false),
			 0);
	snprintf(ignored, sizeof(ignored), "%s/typed-by-watcher", d.dir);
	snprintf(cmd, sizeof(cmd), "touch %s\n", ignored);
	assert_int_equal(viewer_pointer(&watcher, 100, 100), 0);
	assert_int_equal(viewer_type(&watcher, cmd), 0);
	assert_int_equal(viewer_pump(&watcher, 1000), 0);

	snprintf(marker, sizeof(marker), "%s/typed-by-viewer", d.dir);
	snprintf(cmd, sizeof(cmd), "touch %s\n", marker);
	assert_int_equal(viewer_pointer(&v, 100, 100), 0);
	assert_int_equal(viewer_type(&v, cmd), 0);
	for (int i = 0; i < 40 && access(marker, F_OK) != 0; i++)
		viewer_pump(&v, 250);
	assert_int_equal(access(marker, F_OK), 0);
	assert_int_equal(access(ignored, F_OK), -1);
	viewer_close(&watcher);

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
	assert_int_equal(viewer_open(&h, &watcher, "w2", "alice", true, false),
			 0);
	assert_int_equal(viewer_open(&h, &second, "w3", "alice", false, false),
			 0);

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

/* The peak resident set size of PID in KiB, or -1. */
static long peak_rss_kb(pid_t pid)
{
	char path[64];
	char line[128];
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
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

	/* 0xFFFFFFFF: rejected from the header, before any allocation, so
	 * the hub's peak memory stays where it was. */
	assert_int_equal(viewer_open(&h, &v, "c1", "alice", false, false), 0);
	long peak_kb = peak_rss_kb(h.pid);
	assert_true(peak_kb > 0);
	assert_int_equal(viewer_cut_text(&v, 0xFFFFFFFFu, NULL), 0);
	assert_int_equal(hub_wait_for(&h, IPC_HUB_VIEWER_CLOSED, WAIT_MS,
				      reason, sizeof(reason)),
			 0);
	assert_string_equal(reason, "cut text length over 1 MiB");
	assert_int_equal(viewer_pump(&v, 1000), -1);
	viewer_close(&v);
	assert_true(log_contains(&h, "event=clipboard_rejected"));
	assert_true(peak_rss_kb(h.pid) - peak_kb < 1024);

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

static json_t *recording_config(const char *path)
{
	json_t *cfg = base_config();

	json_object_set_new(
	    cfg, "recording",
	    json_pack("{s:b, s:s}", "required", 1, "path", path ? path : ""));
	return cfg;
}

/* Checks that a recording contains only the header and keyframe, rect and
 * end records, so no clipboard text can be in it, and that SECRET does not
 * occur in its bytes. Returns the number of records, or -1, and the type
 * of the last record in *LAST_TYPE when it is not NULL. */
static int recording_records(const char *path, const char *secret,
			     uint8_t *last_type)
{
	static uint8_t data[16u << 20];
	struct buf_reader r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t len = fd >= 0 ? read(fd, data, sizeof(data)) : -1;
	uint8_t id_len = 0;
	int records = 0;

	if (fd >= 0)
		close(fd);
	if (len < 23 || memcmp(data, "TRLSREC1", 8) != 0)
		return -1;
	if (memmem(data, (size_t)len, secret, strlen(secret)) != NULL)
		return -1;

	buf_reader_init(&r, data, (size_t)len);
	if (buf_skip(&r, 22) < 0 || buf_get_u8(&r, &id_len) < 0 ||
	    buf_skip(&r, id_len) < 0)
		return -1;
	while (buf_remaining(&r) > 0) {
		uint8_t type = 0;
		uint32_t offset_ms = 0, payload = 0;
		if (buf_get_u8(&r, &type) < 0 ||
		    buf_get_u32be(&r, &offset_ms) < 0 ||
		    buf_get_u32be(&r, &payload) < 0 ||
		    buf_skip(&r, payload) < 0 || type < 1 || type > 3)
			return -1;
		records++;
		if (last_type)
			*last_type = type;
	}
	return records;
}

/* Puts TEXT on SELECTION inside the desktop with xclip, which serves it
 * until the test stops it. */
static void desktop_set_selection(struct desktop *d, const char *selection,
				  const char *text)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.txt", d->dir, selection);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);

	char *argv[] = {"xclip",	   "-quiet", "-selection",
			(char *)selection, path,     NULL};
	assert_true(d->napps < sizeof(d->apps) / sizeof(d->apps[0]));
	d->apps[d->napps++] = spawn(d->display, NULL, argv);
}

/* Runs a session with copy-out MODE and a recording, sets CLIPBOARD and
 * PRIMARY inside the desktop, and returns the ServerCutText messages a
 * viewer that asked for the extended clipboard received. */
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

	desktop_set_selection(&d, "clipboard", "copied-secret");
	desktop_set_selection(&d, "primary", "primary-secret");
	for (int i = 0; i < 20 && v.cut_texts < 2; i++)
		assert_int_equal(viewer_pump(&v, 250), 0);
	/* After the expected texts, wait once more for stragglers. */
	assert_int_equal(viewer_pump(&v, 1000), 0);

	/* Either way the desktop's text reached the hub. */
	if (strcmp(mode, "off") == 0)
		assert_true(log_contains(&h, "reason=\"copy-out is off\""));
	else
		assert_true(log_contains(&h, "event=clipboard_sent"));

	int seen = v.cut_texts;
	viewer_close(&v);
	hub_stop(&h);
	desktop_stop(&d);
	return seen;
}

/* Copy-out off: no ServerCutText and no extended clipboard capability or
 * notify, although the viewer asked for the extended clipboard. */
static void test_hub_rfb2_copy_out_off(void **state)
{
	(void)state;

	if (!have_program("xclip"))
		skip();
	assert_int_equal(copy_out_cut_texts("off"), 0);
}

/* The control run: copy-out text lets the same desktop actions reach the
 * viewer, which shows the check above can fail. */
static void test_hub_rfb2_copy_out_on(void **state)
{
	(void)state;

	if (!have_program("xclip"))
		skip();
	assert_true(copy_out_cut_texts("text") > 0);
}

/* No clipboard text reaches a recording, in either mode. */
static void test_hub_rfb2_not_recorded(void **state)
{
	struct desktop d;
	struct hub_proc h;
	struct viewer v;
	char path[400];
	char reason[256];
	(void)state;

	if (!have_program("xclip"))
		skip();
	assert_int_equal(desktop_start(&d, "800x600", NULL), 0);
	assert_int_equal(hub_start(&h, false), 0);
	snprintf(path, sizeof(path), "%s/rec.trec", d.dir);
	json_t *cfg = recording_config(path);
	json_object_set_new(
	    json_object_get(cfg, "clipboard"), "from_session",
	    json_pack("{s:s, s:i}", "mode", "text", "max_bytes", 1024));
	assert_int_equal(hub_configure(&h, cfg, connect_unix(d.sock), -1,
				       reason, sizeof(reason)),
			 IPC_WORKER_READY);
	assert_int_equal(viewer_open(&h, &v, "p2", "alice", false, true), 0);

	desktop_set_selection(&d, "clipboard", "recorded-secret");
	for (int i = 0; i < 20 && v.cut_texts < 1; i++)
		assert_int_equal(viewer_pump(&v, 250), 0);
	assert_true(v.cut_texts > 0);
	assert_string_equal(v.last_cut, "recorded-secret");

	viewer_close(&v);
	hub_stop(&h);
	assert_true(recording_records(path, "recorded-secret", NULL) >= 1);
	desktop_stop(&d);
}

/* trellisd stops a session with SIGTERM: the hub ends it like any other
 * reason, and the recording closes with its end record. */
static void test_hub_rec1_sigterm_ends_recording(void **state)
{
	struct desktop d;
	struct hub_proc h;
	struct viewer v;
	char path[400];
	char reason[256];
	int status = 0;
	uint8_t last_type = 0;
	(void)state;

	assert_int_equal(desktop_start(&d, "800x600", NULL), 0);
	assert_int_equal(hub_start(&h, false), 0);
	snprintf(path, sizeof(path), "%s/rec.trec", d.dir);
	assert_int_equal(hub_configure(&h, recording_config(path),
				       connect_unix(d.sock), -1, reason,
				       sizeof(reason)),
			 IPC_WORKER_READY);
	assert_int_equal(viewer_open(&h, &v, "p3", "alice", false, true), 0);
	assert_int_equal(viewer_pump(&v, 500), 0);

	assert_int_equal(kill(h.pid, SIGTERM), 0);
	assert_int_equal(waitpid(h.pid, &status, 0), h.pid);
	child_untrack(h.pid);
	h.pid = -1;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(recording_records(path, "no-such-text", &last_type) >= 2);
	assert_int_equal(last_type, 3);

	viewer_close(&v);
	hub_stop(&h);
	desktop_stop(&d);
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

/* Pointer input keeps the session active: no HUB_IDLE while a viewer moves
 * the pointer for longer than the idle limit, then HUB_IDLE once it
 * stops. */
static void test_hub_web4_input_resets_idle(void **state)
{
	struct desktop d;
	struct hub_proc h;
	struct viewer v;
	struct ipc_msg msg = {0};
	json_t *cfg = base_config();
	(void)state;

	json_object_set_new(cfg, "idle_timeout_ms", json_integer(3000));
	session_start(&d, &h, NULL, cfg);
	assert_int_equal(viewer_open(&h, &v, "i2", "alice", false, false), 0);

	bool idle = false;
	int64_t until = time_monotonic_ms() + 6000;
	for (uint16_t x = 10; time_monotonic_ms() < until; x++) {
		assert_int_equal(viewer_pointer(&v, x, 10), 0);
		viewer_pump(&v, 250);
		if (ipc_receive_blocking(h.ipc, &msg, 250) == 0) {
			idle = idle || msg.type == IPC_HUB_IDLE;
			ipc_msg_clear(&msg);
		}
	}
	assert_false(idle);

	int64_t deadline = time_monotonic_ms() + WAIT_MS;
	while (!idle && time_monotonic_ms() < deadline) {
		viewer_pump(&v, 200);
		if (ipc_receive_blocking(h.ipc, &msg, 50) == 0) {
			idle = msg.type == IPC_HUB_IDLE;
			ipc_msg_clear(&msg);
		}
	}
	assert_true(idle);

	viewer_close(&v);
	hub_stop(&h);
	desktop_stop(&d);
}

/* Prints the resident memory of an idle hub serving a 1920x1080 desktop
 * to one viewer, and checks it stays within a bound. The framebuffer
 * alone is 8.3 MB. */
static void test_hub_idle_memory_1080p(void **state)
{
	struct desktop d;
	struct hub_proc h;
	struct viewer v;
	char reason[256];
	char path[64];
	char line[128];
	long rss_kb = -1;
	(void)state;

	if (!have_program("Xvnc"))
		skip();
	assert_int_equal(desktop_start(&d, "1920x1080", NULL), 0);
	assert_int_equal(hub_start(&h, false), 0);
	assert_int_equal(hub_configure(&h, base_config(), connect_unix(d.sock),
				       -1, reason, sizeof(reason)),
			 IPC_WORKER_READY);
	assert_int_equal(viewer_open(&h, &v, "m1", "alice", false, false), 0);
	assert_int_equal(v.width, 1920);
	assert_int_equal(viewer_pump(&v, 3000), 0);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)h.pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &rss_kb) == 1)
			break;
	fclose(f);
	print_message("hub idle at 1920x1080 with one viewer: VmRSS %ld kB\n",
		      rss_kb);
	assert_true(rss_kb > 0);
	assert_true(rss_kb < 64 * 1024);

	viewer_close(&v);
	hub_stop(&h);
	desktop_stop(&d);
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
	assert_int_equal(desktop_start(&d, "800x600", NULL), 0);
	assert_int_equal(hub_start(&h, false), 0);
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
	assert_int_equal(desktop_start(&d, "800x600", NULL), 0);
	assert_int_equal(hub_start(&h, false), 0);
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

static void test_hub_rec1_read_only_directory(void **state)
{
	struct desktop d;
	struct hub_proc h;
	char reason[512] = "";
	char dir[400];
	char path[450];
	(void)state;

	if (!have_program("Xvnc"))
		skip();
	assert_int_equal(desktop_start(&d, "800x600", NULL), 0);
	snprintf(dir, sizeof(dir), "%s/read-only", d.dir);
	assert_int_equal(mkdir(dir, 0555), 0);
	/* The hub runs as nobody, so it must be able to reach the dir. */
	assert_int_equal(chmod(d.dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/rec.trec", dir);

	assert_int_equal(hub_start(&h, true), 0);
	assert_int_equal(hub_configure(&h, recording_config(path),
				       connect_unix(d.sock), -1, reason,
				       sizeof(reason)),
			 IPC_HUB_ENDED);
	assert_non_null(strstr(reason, "Permission denied"));
	assert_true(log_contains(&h, "event=session_refused"));
	assert_int_equal(access(path, F_OK), -1);
	hub_stop(&h);
	desktop_stop(&d);
}

/* The disk fills mid-session. Once the header and first keyframe are
 * written and a viewer is connected, the test sets a file size limit on
 * the hub (RLIMIT_FSIZE, so writes fail with EFBIG) 2 KiB above the file's
 * size, and the clock's repaints fill those 2 KiB. */
static void test_hub_rec1_full_mid_session(void **state)
{
	struct desktop d;
	struct hub_proc h;
	struct viewer v;
	struct stat st;
	char reason[512] = "";
	char path[400];
	(void)state;

	if (!have_program("Xvnc") || !have_program("xclock"))
		skip();
	assert_int_equal(desktop_start(&d, "800x600", "xclock -update 1"), 0);
	assert_int_equal(hub_start(&h, false), 0);
	snprintf(path, sizeof(path), "%s/rec.trec", d.dir);
	assert_int_equal(hub_configure(&h, recording_config(path),
				       connect_unix(d.sock), -1, reason,
				       sizeof(reason)),
			 IPC_WORKER_READY);
	assert_int_equal(viewer_open(&h, &v, "r1", "alice", false, false), 0);
	assert_int_equal(stat(path, &st), 0);
	struct rlimit limit = {(rlim_t)st.st_size + 2048,
			       (rlim_t)st.st_size + 2048};
	assert_int_equal(prlimit(h.pid, RLIMIT_FSIZE, &limit, NULL), 0);

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
	/* The viewer is closed when the session ends. */
	assert_int_equal(viewer_pump(&v, 5000), -1);
	viewer_close(&v);
	hub_stop(&h);
	desktop_stop(&d);
}

/* ---- hostile backends ---- */

/* Runs a fake backend in a child that writes SCRIPT (LEN bytes) after the
 * client's version and security choice, then keeps the socket open until
 * the hub closes it, or closes it at once with CLOSE_AFTER. */
static pid_t fake_backend(int fd, const uint8_t *script, size_t len,
			  bool close_after)
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
		if (close_after)
			_exit(0);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	if (pid > 0)
		child_track(pid);
	return pid;
}

static const uint8_t server_init_800x600[] = {
    0x03, 0x20, 0x02, 0x58, 32, 24, 0, 1, 0, 255, 0, 255,
    0,	  255,	16,   8,    0,	0,  0, 0, 0, 0,	  0, 0};

/* Expected reply of a hostile case that may end before or after
 * IPC_WORKER_READY, depending on when the hub notices. */
#define REPLY_READY_OR_ENDED (-2)

static void hostile_case(const uint8_t *script, size_t len, bool close_after,
			 int expected_reply, const char *expected_reason)
{
	struct hub_proc h;
	int sv[2];
	char reason[512] = "";

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid_t backend = fake_backend(sv[1], script, len, close_after);
	close(sv[1]);
	assert_int_equal(hub_start(&h, false), 0);

	int reply =
	    hub_configure(&h, base_config(), sv[0], -1, reason, sizeof(reason));
	if (expected_reply == REPLY_READY_OR_ENDED)
		assert_true(reply == IPC_WORKER_READY ||
			    reply == IPC_HUB_ENDED);
	else
		assert_int_equal(reply, expected_reply);
	if (reply == IPC_WORKER_READY)
		assert_int_equal(hub_wait_for(&h, IPC_HUB_ENDED, WAIT_MS,
					      reason, sizeof(reason)),
				 0);
	assert_non_null(strstr(reason, expected_reason));

	/* The hub exits by itself, cleanly, after reporting the end. */
	int status = -1;
	for (int i = 0;
	     i < WAIT_MS / 50 && waitpid(h.pid, &status, WNOHANG) == 0; i++)
		usleep(50000);
	assert_true(WIFEXITED(status));
	child_untrack(h.pid);
	h.pid = 0;
	ipc_channel_free(h.ipc);
	assert_false(log_contains(&h, "Sanitizer"));
	assert_false(log_contains(&h, "runtime error"));
	kill_wait(backend);
}

static void test_hub_hostile_huge_framebuffer(void **state)
{
	uint8_t script[sizeof(server_init_800x600)];
	(void)state;

	memcpy(script, server_init_800x600, sizeof(script));
	script[0] = script[1] = script[2] = script[3] = 0xff; /* 65535 */
	hostile_case(script, sizeof(script), false, IPC_HUB_ENDED,
		     "65535x65535 is outside");
}

static void test_hub_hostile_garbage(void **state)
{
	uint8_t script[sizeof(server_init_800x600) + 16];
	(void)state;

	memcpy(script, server_init_800x600, sizeof(server_init_800x600));
	memset(script + sizeof(server_init_800x600), 0x7f, 16);
	hostile_case(script, sizeof(script), false, IPC_WORKER_READY,
		     "message type 127");
}

static void test_hub_hostile_unrequested_encoding(void **state)
{
	/* A FramebufferUpdate with one Tight (7) rectangle. */
	uint8_t script[sizeof(server_init_800x600) + 16] = {0};
	static const uint8_t update[] = {0, 0,	0, 1,  0, 0, 0, 0,
					 0, 16, 0, 16, 0, 0, 0, 7};
	(void)state;

	memcpy(script, server_init_800x600, sizeof(server_init_800x600));
	memcpy(script + sizeof(server_init_800x600), update, sizeof(update));
	hostile_case(script, sizeof(script), false, IPC_WORKER_READY,
		     "encoding 7, which was not requested");
}

static void test_hub_hostile_rect_outside(void **state)
{
	uint8_t script[sizeof(server_init_800x600) + 16] = {0};
	static const uint8_t update[] = {0, 0,	0, 1,  0x03, 0x20, 0, 0,
					 0, 16, 0, 16, 0,    0,	   0, 0};
	(void)state;

	memcpy(script, server_init_800x600, sizeof(server_init_800x600));
	memcpy(script + sizeof(server_init_800x600), update, sizeof(update));
	hostile_case(script, sizeof(script), false, IPC_WORKER_READY,
		     "outside the 800x600 framebuffer");
}

static void test_hub_hostile_silent(void **state)
{
	/* ServerInit announces a name of 10 bytes and sends none. */
	uint8_t script[sizeof(server_init_800x600)];
	(void)state;

	memcpy(script, server_init_800x600, sizeof(script));
	script[sizeof(script) - 1] = 10;
	hostile_case(script, sizeof(script), false, IPC_HUB_ENDED, "timed out");
}

static void test_hub_hostile_huge_cursor(void **state)
{
	/* A 65535x65535 cursor (pseudo-encoding -239), never requested: the
	 * session ends before anything is allocated for it. */
	uint8_t script[sizeof(server_init_800x600) + 16] = {0};
	static const uint8_t update[] = {0,    0,    0,	   1,	 0,    0,
					 0,    0,    0xff, 0xff, 0xff, 0xff,
					 0xff, 0xff, 0xff, 0x11};
	(void)state;

	memcpy(script, server_init_800x600, sizeof(server_init_800x600));
	memcpy(script + sizeof(server_init_800x600), update, sizeof(update));
	hostile_case(script, sizeof(script), false, IPC_WORKER_READY,
		     "encoding -239, which was not requested");
}

static void test_hub_hostile_closes(void **state)
{
	/* The backend closes right after ServerInit, while the hub writes
	 * its settings: no SIGPIPE, a clean end. */
	(void)state;

	hostile_case(server_init_800x600, sizeof(server_init_800x600), true,
		     REPLY_READY_OR_ENDED, "connection closed");
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
	    cmocka_unit_test_teardown(test_hub_desktop_keys, teardown_children),
	    cmocka_unit_test_teardown(test_hub_takeover, teardown_children),
	    cmocka_unit_test_teardown(test_hub_rfb1_clipboard_length,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_rfb2_copy_out_off,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_rfb2_copy_out_on,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_rfb2_not_recorded,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_rec1_sigterm_ends_recording,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_web4_idle_with_clock,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_web4_input_resets_idle,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_idle_memory_1080p,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_rec1_missing_directory,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_rec1_disk_full,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_rec1_read_only_directory,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_rec1_full_mid_session,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_hostile_huge_framebuffer,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_hostile_garbage,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_hostile_unrequested_encoding,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_hostile_rect_outside,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_hostile_silent,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_hostile_huge_cursor,
				      teardown_children),
	    cmocka_unit_test_teardown(test_hub_hostile_closes,
				      teardown_children),
	};

	/* TRELLIS_TEST_FILTER runs only the tests whose names match a glob,
	 * such as "*rfb1*". */
	const char *filter = getenv("TRELLIS_TEST_FILTER");
	if (filter)
		cmocka_set_test_filter(filter);
	return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
