#include "session/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "session/session_seccomp.h"

#define DEFAULT_BWRAP_PATH "/usr/bin/bwrap"
#define SANDBOX_HOSTNAME   "trellis"

/* The sandbox's first process: starts the desktop server, waits for its X
 * display (up to 10 s), starts the image's desktop and lives as long as the
 * server does. Its arguments are the server's command line. */
static const char session_init_script[] =
    "#!/bin/sh\n"
    "\"$@\" &\n"
    "server=$!\n"
    "tries=0\n"
    "while [ ! -S /tmp/.X11-unix/X0 ]; do\n"
    "\tkill -0 \"$server\" 2>/dev/null || exit 1\n"
    "\ttries=$((tries + 1))\n"
    "\t[ \"$tries\" -gt 200 ] && exit 1\n"
    "\tsleep 0.05\n"
    "done\n"
    "DISPLAY=:0 /etc/trellis/desktop &\n"
    "wait \"$server\"\n";

/* A growing NULL-ended array of owned strings. */
struct strv {
	char **items;
	size_t count;
	size_t capacity;
	bool failed;
};

static void strv_add(struct strv *v, const char *value)
{
	if (v->failed)
		return;
	if (v->count + 2 > v->capacity) {
		size_t capacity = v->capacity ? v->capacity * 2 : 64;
		char **grown = reallocarray(v->items, capacity, sizeof(char *));
		if (grown == NULL) {
			v->failed = true;
			return;
		}
		v->items = grown;
		v->capacity = capacity;
	}
	v->items[v->count] = strdup(value);
	if (v->items[v->count] == NULL) {
		v->failed = true;
		return;
	}
	v->items[++v->count] = NULL;
}

static void strv_addf(struct strv *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void strv_addf(struct strv *v, const char *fmt, ...)
{
	va_list ap;
	autofree char *value = NULL;

	va_start(ap, fmt);
	int rc = vasprintf(&value, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		v->failed = true;
		return;
	}
	strv_add(v, value);
}

static void strv_add_all(struct strv *v, const char *first, ...)
{
	va_list ap;

	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		strv_add(v, s);
	va_end(ap);
}

void sandbox_strv_free(char **strv)
{
	if (strv == NULL)
		return;
	for (char **p = strv; *p; p++)
		free(*p);
	free(strv);
}

static bool absolute_path_valid(const char *path)
{
	return path != NULL && path[0] == '/' && strstr(path, "/../") == NULL &&
	       strchr(path, '\n') == NULL;
}

int sandbox_config_check(const struct ns_session_config *c)
{
	const char *field = NULL;

	if (!session_id_valid(c->id))
		field = "id";
	else if (!session_id_valid(c->user))
		field = "user";
	else if (c->host_uid == 0 || c->host_gid == 0)
		field = "host_uid";
	else if (c->uid == 0)
		field = "uid";
	else if (!absolute_path_valid(c->image_root))
		field = "image_root";
	else if (!absolute_path_valid(c->desktop_path))
		field = "desktop_path";
	else if (!absolute_path_valid(c->run_dir))
		field = "run_dir";
	else if (c->workspace == NULL || c->workspace->home == NULL)
		field = "workspace";
	for (size_t i = 0; field == NULL && i < c->data_mount_count; i++)
		if (!session_id_valid(c->data_mounts[i].name) ||
		    !absolute_path_valid(c->data_mounts[i].path))
			field = "data_mounts";

	if (field != NULL) {
		log_error("session_config_invalid", "id=%s field=%s hint=%s",
			  c->id ? c->id : "", field,
			  "ids must match [a-z0-9-]{1,64}, paths must be "
			  "absolute, the sandbox never runs as uid 0");
		return -1;
	}
	return 0;
}

/* A close-on-exec memory file holding TEXT, positioned at its start, for
 * bubblewrap's --ro-bind-data. */
static int data_file(const char *name, const char *text)
{
	autoclose int fd = memfd_create(name, MFD_CLOEXEC);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len ||
	    lseek(fd, 0, SEEK_SET) < 0) {
		log_error("session_memfd_failed", "file=%s error=%s", name,
			  strerror(errno));
		return -1;
	}
	return steal_fd(&fd);
}

/* Descriptors handed to bubblewrap; all are closed by the caller. */
struct sandbox_fds {
	int fds[8];
	size_t count;
};

static void sandbox_fds_close(struct sandbox_fds *f)
{
	for (size_t i = 0; i < f->count; i++)
		close(f->fds[i]);
	f->count = 0;
}

/* Adds "--ro-bind-data FD DEST" for a generated file. */
static int add_data_file(struct strv *args, struct sandbox_fds *fds,
			 const char *dest, const char *text)
{
	int fd = data_file(dest, text);
	if (fd < 0)
		return -1;
	fds->fds[fds->count++] = fd;
	strv_add(args, "--ro-bind-data");
	strv_addf(args, "%d", fd);
	strv_add(args, dest);
	return 0;
}

static void add_image_path(struct strv *args, const char *image_root,
			   const char *path, bool required)
{
	autofree char *source = NULL;
	const char *root = strcmp(image_root, "/") == 0 ? "" : image_root;

	if (asprintf(&source, "%s%s", root, path) < 0) {
		args->failed = true;
		return;
	}
	strv_add(args, required ? "--ro-bind" : "--ro-bind-try");
	strv_add(args, source);
	strv_add(args, path);
}

static int add_etc(struct strv *args, struct sandbox_fds *fds,
		   const struct ns_session_config *c)
{
	autofree char *passwd = NULL;
	autofree char *group = NULL;

	if (asprintf(&passwd,
		     "root:x:0:0:root:/root:/usr/sbin/nologin\n"
		     "%s:x:%u:%u:%s:/home/%s:/bin/bash\n"
		     "nobody:x:65534:65534:nobody:/nonexistent:"
		     "/usr/sbin/nologin\n",
		     c->user, (unsigned)c->uid, (unsigned)c->gid, c->user,
		     c->user) < 0 ||
	    asprintf(&group, "root:x:0:\n%s:x:%u:\nnogroup:x:65534:\n", c->user,
		     (unsigned)c->gid) < 0)
		return -1;

	strv_add_all(args, "--dir", "/etc", "--dir", "/etc/trellis", NULL);
	if (add_data_file(args, fds, "/etc/passwd", passwd) < 0 ||
	    add_data_file(args, fds, "/etc/group", group) < 0 ||
	    add_data_file(args, fds, "/etc/hosts",
			  "127.0.0.1\tlocalhost " SANDBOX_HOSTNAME "\n"
			  "::1\tlocalhost\n") < 0 ||
	    add_data_file(args, fds, "/etc/hostname", SANDBOX_HOSTNAME "\n") <
		0 ||
	    add_data_file(args, fds, "/etc/nsswitch.conf",
			  "passwd: files\ngroup: files\nhosts: files\n") < 0 ||
	    add_data_file(args, fds, "/etc/trellis/session-init",
			  session_init_script) < 0)
		return -1;

	/* Read-only configuration the image's programs need: the dynamic
	 * linker's cache, fonts, X resources and Debian's alternatives. */
	static const char *const image_etc[] = {
	    "/etc/ld.so.cache", "/etc/fonts", "/etc/X11", "/etc/alternatives",
	    "/etc/localtime"};
	for (size_t i = 0; i < sizeof(image_etc) / sizeof(image_etc[0]); i++)
		add_image_path(args, c->image_root, image_etc[i], false);

	strv_add_all(args, "--ro-bind", c->desktop_path, "/etc/trellis/desktop",
		     NULL);
	return 0;
}

static void add_workspace(struct strv *args, const struct ns_session_config *c)
{
	strv_addf(args, "--bind");
	strv_add(args, c->workspace->home);
	strv_addf(args, "/home/%s", c->user);
	strv_add_all(args, "--bind", c->workspace->outbox, "/workspace/outbox",
		     "--ro-bind", c->workspace->inbox, "/workspace/inbox",
		     NULL);
	for (size_t i = 0; i < c->data_mount_count; i++) {
		strv_add(args, "--ro-bind");
		strv_add(args, c->data_mounts[i].path);
		strv_addf(args, "/data/%s", c->data_mounts[i].name);
	}
}

/* Builds bubblewrap's command line; descriptors it refers to go to FDS. */
static char **build_args(const struct ns_session_config *c,
			 const char *socket_dir, char *const command[],
			 bool die_with_parent, struct sandbox_fds *fds)
{
	struct strv args = {0};

	strv_add(&args, c->bwrap_path ? c->bwrap_path : DEFAULT_BWRAP_PATH);
	strv_add_all(&args, "--unshare-user", "--unshare-ipc", "--unshare-pid",
		     "--unshare-net", "--unshare-uts", "--unshare-cgroup",
		     "--disable-userns", "--new-session", "--hostname",
		     SANDBOX_HOSTNAME, NULL);
	strv_addf(&args, "--uid");
	strv_addf(&args, "%u", (unsigned)c->uid);
	strv_addf(&args, "--gid");
	strv_addf(&args, "%u", (unsigned)c->gid);
	if (die_with_parent)
		strv_add(&args, "--die-with-parent");

	int seccomp_fd = session_seccomp_export();
	if (seccomp_fd < 0) {
		sandbox_strv_free(args.items);
		return NULL;
	}
	fds->fds[fds->count++] = seccomp_fd;
	strv_add(&args, "--seccomp");
	strv_addf(&args, "%d", seccomp_fd);

	add_image_path(&args, c->image_root, "/usr", true);
	strv_add_all(&args, "--symlink", "usr/bin", "/bin", "--symlink",
		     "usr/sbin", "/sbin", "--symlink", "usr/lib", "/lib",
		     "--symlink", "usr/lib64", "/lib64", "--proc", "/proc",
		     "--dev", "/dev", "--tmpfs", "/tmp", "--dir",
		     "/tmp/.X11-unix", "--tmpfs", "/var/tmp", "--dir", "/run",
		     NULL);

	if (add_etc(&args, fds, c) < 0) {
		sandbox_strv_free(args.items);
		return NULL;
	}
	add_workspace(&args, c);
	if (socket_dir != NULL)
		strv_add_all(&args, "--bind", socket_dir, SANDBOX_RUN_DIR,
			     NULL);

	strv_add_all(&args, "--remount-ro", "/", "--chdir", NULL);
	strv_addf(&args, "/home/%s", c->user);
	strv_add(&args, "--");
	for (char *const *p = command; *p; p++)
		strv_add(&args, *p);

	if (args.failed) {
		log_error("session_args_failed", "id=%s error=%s", c->id,
			  "out of memory");
		sandbox_strv_free(args.items);
		return NULL;
	}
	return args.items;
}

static char **build_env(const struct ns_session_config *c)
{
	struct strv env = {0};

	strv_addf(&env, "HOME=/home/%s", c->user);
	strv_addf(&env, "USER=%s", c->user);
	strv_addf(&env, "LOGNAME=%s", c->user);
	strv_add_all(&env, "PATH=/usr/local/bin:/usr/bin:/bin",
		     "SHELL=/bin/bash", "LANG=C.UTF-8", NULL);
	if (env.failed) {
		sandbox_strv_free(env.items);
		return NULL;
	}
	return env.items;
}

char **sandbox_desktop_command(const struct ns_session_config *c)
{
	struct strv cmd = {0};
	unsigned width = c->width ? c->width : 1280;
	unsigned height = c->height ? c->height : 800;
	const char *in = c->clipboard.to_desktop ? "1" : "0";
	const char *out = c->clipboard.from_desktop ? "1" : "0";

	strv_add_all(
	    &cmd, "/bin/sh", "/etc/trellis/session-init", "/usr/bin/Xvnc", ":0",
	    "-rfbunixpath", SANDBOX_RUN_DIR "/" SANDBOX_SOCKET_NAME,
	    "-rfbunixmode", "0600", "-rfbport", "-1", "-nolisten", "tcp",
	    "-SecurityTypes", "None",
	    /* Failed handshakes (such as readiness probes) would
	     * otherwise lock every client out of the socket. */
	    "-UseBlacklist=0", "-desktop", "trellis", "-depth", "24", NULL);
	strv_add(&cmd, "-geometry");
	strv_addf(&cmd, "%ux%u", width, height);
	strv_addf(&cmd, "-AcceptCutText=%s", in);
	strv_addf(&cmd, "-SetPrimary=%s", in);
	strv_addf(&cmd, "-SendCutText=%s", out);
	strv_addf(&cmd, "-SendPrimary=%s", out);
	if (c->clipboard.max_bytes > 0)
		strv_addf(&cmd, "-MaxCutText=%zu", c->clipboard.max_bytes);

	if (cmd.failed) {
		sandbox_strv_free(cmd.items);
		return NULL;
	}
	return cmd.items;
}

/* Runs in the forked child: only async-signal-safe calls until execve.
 * Reports the errno of a failed step on REPORT_FD. */
static void __attribute__((noreturn))
child_exec(const struct ns_session_config *c,
	   const struct session_cgroup *group, const struct sandbox_fds *fds,
	   char **args, char **env, int report_fd)
{
	int step = 0;
	sigset_t all;

	sigfillset(&all);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigprocmask(SIG_UNBLOCK, &all, NULL);

	/* Own session, so the master's terminal signals miss the sandbox. */
	setsid();

	step = 1;
	if (group != NULL && session_cgroup_join_self(group) < 0)
		goto fail;

	step = 2;
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int out_fd = c->output_fd >= 0 ? c->output_fd : null_fd;
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 ||
	    dup2(out_fd, 2) < 0)
		goto fail;

	/* Nothing of the master crosses into the sandbox except the
	 * descriptors bubblewrap reads. */
	step = 3;
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		goto fail;
	for (size_t i = 0; i < fds->count; i++)
		if (fcntl(fds->fds[i], F_SETFD, 0) < 0)
			goto fail;

	step = 4;
	if (setgroups(0, NULL) < 0 || setgid(c->host_gid) < 0 ||
	    setuid(c->host_uid) < 0)
		goto fail;

	step = 5;
	execve(args[0], args, env);

fail:;
	int report[2] = {step, errno};
	ssize_t ignored = write(report_fd, report, sizeof(report));
	(void)ignored;
	_exit(127);
}

static const char *const spawn_steps[] = {"setup",
					  "joining the cgroups",
					  "redirecting output",
					  "closing descriptors",
					  "dropping to the host uid",
					  "executing bubblewrap"};

pid_t sandbox_spawn(const struct ns_session_config *c, const char *socket_dir,
		    const struct session_cgroup *group, char *const command[],
		    bool die_with_parent)
{
	struct sandbox_fds fds = {.count = 0};
	char **args = build_args(c, socket_dir, command, die_with_parent, &fds);
	char **env = build_env(c);
	int report[2] = {-1, -1};
	pid_t pid = -1;

	if (args == NULL || env == NULL)
		goto out;
	if (pipe2(report, O_CLOEXEC) < 0) {
		log_error("session_spawn_failed", "id=%s step=%s error=%s",
			  c->id, "pipe", strerror(errno));
		goto out;
	}

	pid = fork();
	if (pid < 0) {
		log_error("session_spawn_failed", "id=%s step=%s error=%s",
			  c->id, "fork", strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(c, group, &fds, args, env, report[1]);

	/* The pipe closes on a successful execve; otherwise the child wrote
	 * which step failed. */
	close(report[1]);
	report[1] = -1;
	int failure[2];
	ssize_t n;
	do
		n = read(report[0], failure, sizeof(failure));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(failure)) {
		int step = failure[0] >= 0 && failure[0] <= 5 ? failure[0] : 0;
		log_error("session_spawn_failed",
			  "id=%s step=%s path=%s error=%s hint=%s", c->id,
			  spawn_steps[step], args[0], strerror(failure[1]),
			  step == 5 ? "install bubblewrap"
				    : "check that trellisd runs as root");
		waitpid(pid, NULL, 0);
		pid = -1;
	}

out:
	if (report[0] >= 0)
		close(report[0]);
	if (report[1] >= 0)
		close(report[1]);
	sandbox_fds_close(&fds);
	sandbox_strv_free(args);
	sandbox_strv_free(env);
	return pid;
}
