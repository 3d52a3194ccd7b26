/* trellis-admin recordings: list, show and render session recordings.
 *
 * trellisd passes the recording open read-only over the admin socket. A
 * forked child parses it: it maps the file, confines itself with a
 * seccomp allowlist (memory and writing to a pipe, nothing else), and
 * sends back PNG images and a summary, because the pixels come from the
 * researcher's desktop and a parser bug must not reach the steward's
 * account. The parent checks every length it reads from the child. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "admin/cmd_steward.h"
#include "admin/recording_render.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/seccomp_filter.h"

/* Limits on what the parent accepts from the child. */
#define MAX_PNG_BYTES	  (512u * 1024u * 1024u)
#define MAX_SUMMARY_BYTES (64u * 1024u)

enum child_message {
	CHILD_FRAME = 1,   /* u64 offset_ms, u32 length, PNG bytes */
	CHILD_SUMMARY = 2, /* u32 length, JSON text; always last */
};

enum render_mode {
	RENDER_SCAN,  /* summary only */
	RENDER_AT,    /* one frame at at_ms */
	RENDER_EVERY, /* frames at 0, step_ms, 2 step_ms ... */
};

struct render_plan {
	enum render_mode mode;
	int64_t at_ms;
	int64_t step_ms;
};

static const char *text_or(json_t *object, const char *key,
			   const char *fallback)
{
	const char *value = json_string_value(json_object_get(object, key));
	return value ? value : fallback;
}

static void format_offset(int64_t ms, char *out, size_t size)
{
	snprintf(out, size, "%02lld:%02lld:%02lld.%03lld",
		 (long long)(ms / 3600000), (long long)(ms / 60000 % 60),
		 (long long)(ms / 1000 % 60), (long long)(ms % 1000));
}

/* Child side */

static int write_full(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_frame(int out, struct recording_reader *r, int64_t at_ms)
{
	struct buf_writer png;
	uint8_t head[13];
	struct buf_writer w = {.data = head, .cap = sizeof(head)};

	buf_writer_init(&png, MAX_PNG_BYTES);
	if (recording_frame_png(r, &png) < 0) {
		buf_writer_free(&png);
		return 0; /* no keyframe yet: nothing to draw */
	}
	buf_writer_init(&w, sizeof(head));
	buf_put_u8(&w, CHILD_FRAME);
	buf_put_u64be(&w, (uint64_t)at_ms);
	buf_put_u32be(&w, (uint32_t)png.len);
	int rc = w.error ? -1
		 : (write_full(out, w.data, w.len) < 0 ||
		    write_full(out, png.data, png.len) < 0)
		     ? -1
		     : 0;
	buf_writer_free(&w);
	buf_writer_free(&png);
	return rc;
}

/* Applies the records up to and including time AT_MS, starting from the
 * last keyframe before it. */
static void advance_to(struct recording_reader *r, int64_t at_ms)
{
	uint32_t next_ms;

	recording_skip_to_keyframe(r, at_ms > UINT32_MAX ? UINT32_MAX
							 : (uint32_t)at_ms);

	while (recording_peek_time(r, &next_ms) == 1 &&
	       (int64_t)next_ms <= at_ms)
		if (recording_next(r) < 0)
			break;
}

/* Whether the recording has data for time AT_MS: a record at or after
 * it, or the end record at or after it. */
static bool covers(struct recording_reader *r, int64_t at_ms)
{
	uint32_t next_ms;
	if (recording_peek_time(r, &next_ms) == 1)
		return true;
	return at_ms <= (int64_t)r->time_ms;
}

static int send_summary(int out, struct recording_reader *r, size_t frames_sent,
			bool reached)
{
	json_t *summary = json_pack(
	    "{s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:I}", "session",
	    r->session, "start_ms", (json_int_t)r->start_wall_ms, "width",
	    (json_int_t)r->width, "height", (json_int_t)r->height,
	    "last_record_ms", (json_int_t)r->time_ms, "records",
	    (json_int_t)r->records, "ended", r->ended, "damaged", r->damaged,
	    "reached", reached, "frames", (json_int_t)frames_sent);
	if (r->damaged) {
		json_object_set_new(summary, "stop_offset",
				    json_integer((json_int_t)r->stop_offset));
		json_object_set_new(summary, "error", json_string(r->error));
	}
	char *text = json_dumps(summary, JSON_COMPACT);
	json_decref(summary);
	if (text == NULL)
		return -1;

	uint8_t head[5] = {CHILD_SUMMARY};
	uint32_t len = (uint32_t)strlen(text);
	for (int i = 0; i < 4; i++)
		head[1 + i] = (uint8_t)(len >> (24 - 8 * i));
	int rc = write_full(out, head, sizeof(head)) < 0 ||
			 write_full(out, text, len) < 0
		     ? -1
		     : 0;
	free(text);
	return rc;
}

static void run_plan(int out, struct recording_reader *r,
		     const struct render_plan *plan)
{
	size_t frames = 0;
	bool reached = true;

	switch (plan->mode) {
	case RENDER_SCAN:
		while (recording_next(r) == 1)
			;
		break;
	case RENDER_AT:
		advance_to(r, plan->at_ms);
		reached = !r->damaged && covers(r, plan->at_ms);
		if (reached && send_frame(out, r, plan->at_ms) == 0 &&
		    r->pixels)
			frames++;
		else if (r->damaged && r->pixels &&
			 send_frame(out, r, r->time_ms) == 0)
			frames++; /* the desktop just before the damage */
		break;
	case RENDER_EVERY:
		for (int64_t at = 0;; at += plan->step_ms) {
			advance_to(r, at);
			if (!covers(r, at) || (r->damaged && at > r->time_ms))
				break;
			if (r->pixels && send_frame(out, r, at) == 0)
				frames++;
		}
		reached = !r->damaged;
		break;
	}
	send_summary(out, r, frames, reached);
}

/* System calls of the parsing child once the file is mapped: memory for
 * zlib, libpng and jansson, and writing results to the pipe. */
static const char *const child_memory[] = {
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", NULL};
static const char *const child_output[] = {"write", "close", NULL};
static const char *const child_exit[] = {"exit_group", "exit", "rt_sigreturn",
					 NULL};
static const struct seccomp_group child_filter[] = {
    {"allocate memory for inflating and encoding", child_memory, 0},
    {"send PNG images and the summary to the parent", child_output, 0},
    {"finish", child_exit, 0},
};

static void child_main(int recording_fd, int out,
		       const struct render_plan *plan)
{
	struct stat sb;
	struct recording_reader r;
	const uint8_t *data = NULL;

	if (fstat(recording_fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		_exit(3);
	if (sb.st_size > 0) {
		data = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE,
			    recording_fd, 0);
		if (data == MAP_FAILED)
			_exit(3);
	}
	close(recording_fd);
	/* Log lines carry the local time: read the zone file while open(2)
	 * is still allowed. */
	tzset();
	log_set_level(LOG_LEVEL_WARN);
	if (seccomp_filter_apply(child_filter,
				 sizeof(child_filter) / sizeof(child_filter[0]),
				 SECCOMP_VIOLATION_KILL) < 0)
		_exit(4);

	if (recording_reader_init(&r, data, data ? (size_t)sb.st_size : 0) <
	    0) {
		send_summary(out, &r, 0, false);
		_exit(0);
	}
	run_plan(out, &r, plan);
	recording_reader_free(&r);
	_exit(0);
}

/* Parent side */

static int read_full(int fd, void *data, size_t len)
{
	uint8_t *p = data;

	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Destination of the frames of one render. */
struct frame_sink {
	const char *output; /* file for RENDER_AT, directory for EVERY */
	enum render_mode mode;
	json_t *written; /* [{"at_ms", "path"}] */
	bool failed;
};

static int store_frame(struct frame_sink *sink, int64_t at_ms,
		       const uint8_t *png, size_t len)
{
	char path[4096];

	if (sink->mode == RENDER_EVERY) {
		int64_t s = at_ms / 1000;
		snprintf(path, sizeof(path), "%s/frame-%02lld%02lld%02lld.png",
			 sink->output, (long long)(s / 3600),
			 (long long)(s / 60 % 60), (long long)(s % 60));
	} else {
		snprintf(path, sizeof(path), "%s", sink->output);
	}

	/* Frames show research data: readable by the steward only. */
	int fd = open(
	    path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write_full(fd, png, len) < 0 || close(fd) < 0) {
		fprintf(stderr, "trellis-admin: writing %s failed: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		sink->failed = true;
		return -1;
	}
	json_array_append_new(
	    sink->written,
	    json_pack("{s:I, s:s}", "at_ms", (json_int_t)at_ms, "path", path));
	return 0;
}

/* Reads the child's messages until its summary. Returns the summary, or
 * NULL when the child broke the protocol or died. */
static json_t *read_child(int in, struct frame_sink *sink)
{
	for (;;) {
		uint8_t kind;
		if (read_full(in, &kind, 1) < 0)
			return NULL;
		if (kind == CHILD_SUMMARY) {
			uint8_t head[4];
			struct buf_reader r;
			uint32_t len;
			if (read_full(in, head, sizeof(head)) < 0)
				return NULL;
			buf_reader_init(&r, head, sizeof(head));
			if (buf_get_u32be(&r, &len) < 0 ||
			    len > MAX_SUMMARY_BYTES)
				return NULL;
			char *text = malloc((size_t)len + 1);
			if (text == NULL || read_full(in, text, len) < 0) {
				free(text);
				return NULL;
			}
			text[len] = '\0';
			json_t *summary = json_loads(text, 0, NULL);
			free(text);
			return json_is_object(summary) ? summary : NULL;
		}
		if (kind != CHILD_FRAME)
			return NULL;

		uint8_t head[12];
		struct buf_reader r;
		uint64_t at_ms;
		uint32_t len;
		if (read_full(in, head, sizeof(head)) < 0)
			return NULL;
		buf_reader_init(&r, head, sizeof(head));
		if (buf_get_u64be(&r, &at_ms) < 0 ||
		    buf_get_u32be(&r, &len) < 0 || len > MAX_PNG_BYTES ||
		    at_ms > INT64_MAX)
			return NULL;
		uint8_t *png = malloc(len);
		if (png == NULL || read_full(in, png, len) < 0) {
			free(png);
			return NULL;
		}
		store_frame(sink, (int64_t)at_ms, png, len);
		free(png);
	}
}

/* Runs PLAN over RECORDING_FD in a confined child. Returns the child's
 * summary, or NULL after printing why there is none. */
static json_t *render_in_child(int recording_fd, const struct render_plan *plan,
			       struct frame_sink *sink)
{
	int pipe_fds[2];
	int status;

	if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
		fprintf(stderr, "trellis-admin: pipe failed: %s\n",
			strerror(errno));
		return NULL;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "trellis-admin: fork failed: %s\n",
			strerror(errno));
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		return NULL;
	}
	if (pid == 0) {
		close(pipe_fds[0]);
		child_main(recording_fd, pipe_fds[1], plan);
	}

	close(pipe_fds[1]);
	json_t *summary = read_child(pipe_fds[0], sink);
	close(pipe_fds[0]);
	if (summary == NULL)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (summary == NULL) {
		if (WIFSIGNALED(status))
			fprintf(stderr,
				"trellis-admin: the recording parser was "
				"killed by signal %d (SIGSYS means it broke "
				"its seccomp filter); the file may be "
				"hostile\n",
				WTERMSIG(status));
		else
			fprintf(stderr,
				"trellis-admin: the recording parser ended "
				"without a result (exit status %d)\n",
				WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	return summary;
}

/* Requests recording ID from trellisd, open read-only. Returns an exit
 * code. */
static int open_recording(const struct admin_options *opts, const char *id,
			  json_t **info, int *fd)
{
	json_t *args = json_pack("{s:s}", "id", id);
	int rc = admin_request_fd(opts, "recordings.open", args, info, fd);
	json_decref(args);
	return rc;
}

/* Prints where a damaged recording stopped. */
static void report_damage(json_t *summary)
{
	char last[32];

	format_offset(
	    json_integer_value(json_object_get(summary, "last_record_ms")),
	    last, sizeof(last));
	fprintf(stderr,
		"trellis-admin: the recording is damaged at byte %lld: %s; "
		"it renders up to %s\n",
		(long long)json_integer_value(
		    json_object_get(summary, "stop_offset")),
		text_or(summary, "error", "unknown damage"), last);
}

static void print_recordings_list(json_t *r)
{
	printf("%-16s %-16s %-16s %-9s %-20s %12s %s\n", "SESSION", "USER",
	       "PROJECT", "STATE", "STARTED", "BYTES", "EXPIRES");
	size_t i;
	json_t *rec;
	json_array_foreach(json_object_get(r, "recordings"), i, rec)
	{
		char started[32], expires[32], size[32];
		admin_format_utc(
		    json_integer_value(json_object_get(rec, "created_ms")),
		    started, sizeof(started));
		admin_format_utc(
		    json_integer_value(json_object_get(rec, "expires_ms")),
		    expires, sizeof(expires));
		json_t *bytes = json_object_get(rec, "size_bytes");
		if (json_is_integer(bytes))
			snprintf(size, sizeof(size), "%lld",
				 (long long)json_integer_value(bytes));
		else
			snprintf(size, sizeof(size), "missing");
		printf("%-16s %-16s %-16s %-9s %-20s %12s %s\n",
		       text_or(rec, "id", "?"), text_or(rec, "user", "?"),
		       text_or(rec, "project", "?"), text_or(rec, "state", "?"),
		       started, size, expires);
	}
}

int admin_run_recordings_list(const struct admin_options *opts, int argc,
			      char **argv)
{
	json_t *r = NULL;

	if (argc != 0) {
		fprintf(stderr, "Usage: trellis-admin recordings list\n");
		return ADMIN_EXIT_USAGE;
	}
	int rc = admin_request(opts, "recordings.list", NULL, &r);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_recordings_list);
}

int admin_run_recordings_show(const struct admin_options *opts, int argc,
			      char **argv)
{
	json_t *info = NULL;
	int fd = -1;

	if (argc != 1) {
		fprintf(stderr, "Usage: trellis-admin recordings show ID\n");
		return ADMIN_EXIT_USAGE;
	}
	int rc = open_recording(opts, argv[0], &info, &fd);
	if (rc != ADMIN_EXIT_OK)
		return rc;

	struct render_plan plan = {.mode = RENDER_SCAN};
	struct frame_sink sink = {.mode = RENDER_SCAN, .written = json_array()};
	json_t *summary = render_in_child(fd, &plan, &sink);
	close(fd);
	json_decref(sink.written);
	if (summary == NULL) {
		json_decref(info);
		return ADMIN_EXIT_FAILED;
	}

	json_object_del(summary, "reached");
	json_object_del(summary, "frames");
	json_object_set(info, "contents", summary);
	bool damaged = json_is_true(json_object_get(summary, "damaged"));
	if (opts->json) {
		admin_print_json(info);
	} else {
		char started[32], duration[32];
		admin_format_utc(
		    json_integer_value(json_object_get(info, "created_ms")),
		    started, sizeof(started));
		format_offset(json_integer_value(
				  json_object_get(summary, "last_record_ms")),
			      duration, sizeof(duration));
		printf("session     %s\n", text_or(info, "id", "?"));
		printf("user        %s\n", text_or(info, "user", "?"));
		printf("project     %s\n", text_or(info, "project", "?"));
		printf("started     %s\n", started);
		printf("file        %s (%lld bytes)\n",
		       text_or(info, "path", "?"),
		       (long long)json_integer_value(
			   json_object_get(info, "size_bytes")));
		printf("frame       %lld x %lld\n",
		       (long long)json_integer_value(
			   json_object_get(summary, "width")),
		       (long long)json_integer_value(
			   json_object_get(summary, "height")));
		printf("duration    %s\n", duration);
		printf("records     %lld\n",
		       (long long)json_integer_value(
			   json_object_get(summary, "records")));
		printf("ending      %s\n",
		       damaged ? "damaged"
		       : json_is_true(json_object_get(summary, "ended"))
			   ? "end record: the hub closed it cleanly"
			   : "no end record: the session ended abruptly");
	}
	if (damaged)
		report_damage(summary);
	json_decref(summary);
	json_decref(info);
	return damaged ? ADMIN_EXIT_FAILED : ADMIN_EXIT_OK;
}

/* Checks the options of recordings render and fills PLAN and SINK. */
static int parse_render_options(struct render_plan *plan,
				struct frame_sink *sink)
{
	const struct admin_steward_args *a = &admin_steward_args;
	struct stat sb;

	if ((a->at == NULL) == (a->every == NULL) || a->output == NULL) {
		fprintf(stderr, "Usage: trellis-admin recordings render ID "
				"--at TIME --output FILE\n"
				"       trellis-admin recordings render ID "
				"--every STEP --output DIR\n");
		return ADMIN_EXIT_USAGE;
	}
	const char *value = a->at ? a->at : a->every;
	int64_t ms;
	if (admin_parse_duration_ms(value, &ms) < 0) {
		fprintf(stderr,
			"trellis-admin recordings render: invalid time %s: "
			"write HH:MM:SS or a number with unit ms, s, m or "
			"h\n",
			value);
		return ADMIN_EXIT_USAGE;
	}
	sink->output = a->output;
	if (a->at) {
		plan->mode = sink->mode = RENDER_AT;
		plan->at_ms = ms;
		return ADMIN_EXIT_OK;
	}
	if (ms < 1000) {
		fprintf(stderr,
			"trellis-admin recordings render: --every %s: "
			"the step must be at least 1s\n",
			value);
		return ADMIN_EXIT_USAGE;
	}
	if (stat(a->output, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr,
			"trellis-admin recordings render: --output %s: not an "
			"existing directory (create it first)\n",
			a->output);
		return ADMIN_EXIT_USAGE;
	}
	plan->mode = sink->mode = RENDER_EVERY;
	plan->step_ms = ms;
	return ADMIN_EXIT_OK;
}

int admin_run_recordings_render(const struct admin_options *opts, int argc,
				char **argv)
{
	struct render_plan plan = {0};
	struct frame_sink sink = {0};
	json_t *info = NULL;
	int fd = -1;

	if (argc != 1) {
		fprintf(stderr, "Usage: trellis-admin recordings render ID "
				"--at TIME|--every STEP --output PATH\n");
		return ADMIN_EXIT_USAGE;
	}
	int rc = parse_render_options(&plan, &sink);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	rc = open_recording(opts, argv[0], &info, &fd);
	if (rc != ADMIN_EXIT_OK)
		return rc;

	sink.written = json_array();
	json_t *summary = render_in_child(fd, &plan, &sink);
	close(fd);
	json_decref(info);
	if (summary == NULL) {
		json_decref(sink.written);
		return ADMIN_EXIT_FAILED;
	}

	bool damaged = json_is_true(json_object_get(summary, "damaged"));
	bool reached = json_is_true(json_object_get(summary, "reached"));
	json_object_set(summary, "written", sink.written);
	if (opts->json) {
		admin_print_json(summary);
	} else {
		size_t i;
		json_t *frame;
		json_array_foreach(sink.written, i, frame)
		{
			char at[32];
			format_offset(
			    json_integer_value(json_object_get(frame, "at_ms")),
			    at, sizeof(at));
			printf("%s  %s\n", at, text_or(frame, "path", "?"));
		}
	}
	if (damaged)
		report_damage(summary);
	else if (!reached && plan.mode == RENDER_AT) {
		char last[32];
		format_offset(json_integer_value(
				  json_object_get(summary, "last_record_ms")),
			      last, sizeof(last));
		fprintf(stderr,
			"trellis-admin: %s is after the recording's last "
			"record at %s; nothing written\n",
			admin_steward_args.at, last);
	} else if (json_array_size(sink.written) == 0) {
		fprintf(stderr, "trellis-admin: the recording has no keyframe "
				"in that time; nothing written\n");
	}

	rc = sink.failed || damaged || !reached ||
		     json_array_size(sink.written) == 0
		 ? ADMIN_EXIT_FAILED
		 : ADMIN_EXIT_OK;
	json_decref(summary);
	json_decref(sink.written);
	return rc;
}
