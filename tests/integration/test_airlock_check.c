/* trellis-airlock-check against real files, libarchive, DCMTK and clamd,
 * with the test as the master: it starts the checker with the file on fd 0
 * and an IPC socket on fd 3, sends the configuration and reads the
 * verdict. The files come from tests/fixtures/airlock/make_files.sh, and a
 * clamd with a one-signature database runs on a socket in a temporary
 * directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/ipc.h"

#define CHECKER_TIMEOUT_MS 60000
#define CLAMD_START_S	   60

static char work_dir[] = "/tmp/trellis-airlock-XXXXXX";
static char checker_path[512];
static char clamd_socket[256];
static pid_t clamd_pid = -1;

static void path_in_work(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", work_dir, name);
}

static int write_text(const char *name, const char *text)
{
	char path[512];

	path_in_work(path, sizeof(path), name);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Starts clamd in the foreground on a socket in the work directory and
 * waits until it accepts connections. */
static int start_clamd(void)
{
	char conf[4096];
	char conf_path[512];
	char db[512];

	path_in_work(clamd_socket, sizeof(clamd_socket), "clamd.sock");
	path_in_work(db, sizeof(db), "clamdb");
	snprintf(conf, sizeof(conf),
		 "LocalSocket %s\nDatabaseDirectory %s\nForeground yes\n"
		 "LogFile %s/clamd.log\nTemporaryDirectory %s\nBytecode no\n"
		 "StreamMaxLength 100M\n",
		 clamd_socket, db, work_dir, work_dir);
	if (write_text("clamd.conf", conf) < 0)
		return -1;
	path_in_work(conf_path, sizeof(conf_path), "clamd.conf");

	clamd_pid = fork();
	if (clamd_pid < 0)
		return -1;
	if (clamd_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execlp("clamd", "clamd", "-c", conf_path, (char *)NULL);
		_exit(127);
	}

	for (int i = 0; i < CLAMD_START_S * 10; i++) {
		int fd = connect_unix(clamd_socket);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (waitpid(clamd_pid, NULL, WNOHANG) == clamd_pid) {
			clamd_pid = -1;
			return -1;
		}
		usleep(100000);
	}
	return -1;
}

static int group_setup(void **state)
{
	char command[1024];
	const char *builddir = getenv("TRELLIS_BUILDDIR");
	const char *srcdir = getenv("TRELLIS_SRCDIR");

	if (mkdtemp(work_dir) == NULL)
		return -1;
	snprintf(checker_path, sizeof(checker_path),
		 "%s/airlock/trellis-airlock-check", builddir ? builddir : ".");
	snprintf(command, sizeof(command),
		 "sh '%s/tests/fixtures/airlock/make_files.sh' '%s'",
		 srcdir ? srcdir : "..", work_dir);
	if (system(command) != 0) {
		fprintf(stderr, "# generating the test files failed: %s\n",
			command);
		return -1;
	}
	if (start_clamd() < 0) {
		fprintf(stderr,
			"# clamd did not start; see %s/clamd.log "
			"(install clamav-daemon)\n",
			work_dir);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	char command[600];

	if (clamd_pid > 0) {
		kill(clamd_pid, SIGTERM);
		waitpid(clamd_pid, NULL, 0);
	}
	snprintf(command, sizeof(command), "rm -rf '%s'", work_dir);
	return system(command) == 0 ? 0 : -1;
}

struct run {
	const char *file;      /* name in the work directory */
	const char *file_name; /* the requester's name; FILE if NULL */
	int open_flags;
	long long size_bytes;	 /* -1: the file's size */
	const char *extra_rules; /* JSON members replacing the defaults */
	const char *limits;	 /* a JSON object, or NULL for the defaults */
	const char *direction;	 /* NULL for "export" */
	int clamd_fd;		 /* passed as fds[0] when >= 0 */
	int clamd_timeout_ms;
};

static json_t *config_for(const struct run *run, long long size)
{
	char text[2048];
	const char *rules =
	    run->extra_rules
		? run->extra_rules
		: "\"max_file_size\": 104857600, \"dicom_check\": true, "
		  "\"malware_scan_required\": false";

	snprintf(text, sizeof(text),
		 "{\"file_name\": \"%s\", \"size_bytes\": %lld, \"direction\": "
		 "\"%s\", \"rules\": {\"allowed_types\": [\"csv\", "
		 "\"tsv\", \"txt\", \"png\", \"zip\", \"dcm\", \"gz\"], "
		 "\"disclosure_control\": {\"min_cell_count\": 10, "
		 "\"dominance\": {\"n\": 2, \"k\": 0.9}, \"p_ratio\": 0.1, "
		 "\"zeros_disclosive\": true}, %s}, \"limits\": %s, "
		 "\"clamd_timeout_ms\": %d}",
		 run->file_name ? run->file_name : run->file, size,
		 run->direction ? run->direction : "export", rules,
		 run->limits ? run->limits
			     : "{\"max_archive_entries\": 100, "
			       "\"max_expansion_ratio\": 100, "
			       "\"max_expanded_bytes\": 52428800}",
		 run->clamd_timeout_ms ? run->clamd_timeout_ms : 10000);
	json_t *body = json_loads(text, 0, NULL);
	assert_non_null(body);
	return body;
}

static pid_t start_checker(int file_fd, int ipc_fd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (dup2(file_fd, 0) < 0 || dup2(ipc_fd, 3) < 0)
		_exit(126);
	/* LeakSanitizer reads /proc at exit, which the seccomp filter
	 * forbids; the unit tests check the parsers for leaks instead. */
	setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
	execl(checker_path, checker_path, (char *)NULL);
	_exit(127);
}

/* Runs the checker like the master does. Returns the verdict body, or NULL
 * when the checker sent none; *STATUS is its wait status. */
static json_t *run_checker(const struct run *run, int *status)
{
	char path[512];
	struct stat st;
	int sv[2];
	struct ipc_msg msg = {0};
	json_t *verdict = NULL;

	path_in_work(path, sizeof(path), run->file);
	int file_fd = open(
	    path, (run->open_flags ? run->open_flags : O_RDONLY) | O_CLOEXEC);
	assert_true(file_fd >= 0);
	assert_int_equal(fstat(file_fd, &st), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);

	pid_t pid = start_checker(file_fd, sv[1]);
	assert_true(pid > 0);
	close(file_fd);
	close(sv[1]);
	struct ipc_channel *ipc = ipc_channel_new(sv[0], "checker");

	if (ipc_receive_blocking(ipc, &msg, CHECKER_TIMEOUT_MS) == 0) {
		assert_int_equal(msg.type, IPC_HELLO);
		assert_string_equal(
		    json_string_value(json_object_get(msg.body, "worker")),
		    "airlock-check");
		ipc_msg_clear(&msg);

		json_t *cfg = config_for(run, run->size_bytes >= 0
						  ? run->size_bytes
						  : (long long)st.st_size);
		int fds[1] = {run->clamd_fd};
		assert_int_equal(ipc_send_blocking(ipc, IPC_WORKER_CONFIG, 1,
						   cfg, fds,
						   run->clamd_fd >= 0 ? 1 : 0,
						   CHECKER_TIMEOUT_MS),
				 0);
		json_decref(cfg);
		if (ipc_receive_blocking(ipc, &msg, CHECKER_TIMEOUT_MS) == 0) {
			assert_int_equal(msg.type, IPC_AIRLOCK_VERDICT);
			verdict = json_incref(msg.body);
			ipc_msg_clear(&msg);
		}
	}

	ipc_channel_free(ipc);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return verdict;
}

/* Runs the checker, which must exit 0 with a verdict. */
static json_t *check_file(struct run run)
{
	int status;

	if (run.size_bytes == 0)
		run.size_bytes = -1;
	json_t *verdict = run_checker(&run, &status);
	assert_non_null(verdict);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return verdict;
}

static const char *verdict_of(json_t *verdict)
{
	return json_string_value(json_object_get(verdict, "verdict"));
}

/* The finding of CHECK; fails the test when there is none. */
static json_t *finding(json_t *verdict, const char *check)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(verdict, "findings"), i, f)
	{
		if (strcmp(json_string_value(json_object_get(f, "check")),
			   check) == 0)
			return f;
	}
	fail_msg("no %s finding", check);
	return NULL;
}

static const char *result_of(json_t *verdict, const char *check)
{
	return json_string_value(
	    json_object_get(finding(verdict, check), "result"));
}

static const char *reason_of(json_t *verdict, const char *check)
{
	return json_string_value(
	    json_object_get(finding(verdict, check), "reason"));
}

static bool has_finding(json_t *verdict, const char *check)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(verdict, "findings"), i, f)
	{
		if (strcmp(json_string_value(json_object_get(f, "check")),
			   check) == 0)
			return true;
	}
	return false;
}

static void upper_case_csv_passes(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "results.CSV", .clamd_fd = -1});

	assert_string_equal(verdict_of(v), "pass");
	assert_string_equal(result_of(v, "size"), "pass");
	assert_string_equal(result_of(v, "type"), "pass");
	assert_string_equal(result_of(v, "table"), "pass");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(v, "type"), "mime")),
			    "text/csv");
	/* Sizes read in units, as the policy writes them. */
	assert_non_null(strstr(reason_of(v, "size"), "maximum of 100 MiB"));
	json_decref(v);
}

static void empty_file_fails(void **state)
{
	assert_int_equal(write_text("empty.csv", ""), 0);
	json_t *v =
	    check_file((struct run){.file = "empty.csv", .clamd_fd = -1});

	assert_string_equal(verdict_of(v), "fail");
	assert_string_equal(result_of(v, "type"), "fail");
	assert_non_null(strstr(reason_of(v, "type"), "the file is empty"));
	json_decref(v);
}

static void small_cell_fails(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "small_cell.csv", .clamd_fd = -1});

	assert_string_equal(verdict_of(v), "fail");
	assert_string_equal(result_of(v, "table"), "fail");
	json_t *cell = json_array_get(json_object_get(v, "flagged_cells"), 0);
	assert_int_equal(json_integer_value(json_object_get(cell, "row")), 3);
	assert_int_equal(json_integer_value(json_object_get(cell, "column")),
			 2);
	assert_string_equal(json_string_value(json_object_get(cell, "value")),
			    "3");
	assert_string_equal(json_string_value(json_object_get(cell, "rule")),
			    "min_cell_count");
	/* Only the rules that flagged something are named. */
	assert_string_equal(reason_of(v, "table"),
			    "1 cell breaks disclosure control: 1 below the "
			    "minimum count of 10; suppress or combine it");
	json_decref(v);
}

/* Disclosure control is for exports: the same table comes in. */
static void small_cell_import_passes(void **state)
{
	json_t *v = check_file((struct run){.file = "small_cell.csv",
					    .direction = "import",
					    .clamd_fd = -1});

	assert_string_equal(verdict_of(v), "pass");
	assert_false(has_finding(v, "table"));
	json_decref(v);
}

static void dominated_cell_fails(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "dominated.csv", .clamd_fd = -1});

	assert_string_equal(verdict_of(v), "fail");
	assert_int_equal(
	    json_integer_value(json_object_get(v, "flagged_cells_total")), 2);
	json_decref(v);
}

static void png_that_is_zip_fails(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "plot.png", .clamd_fd = -1});

	assert_string_equal(verdict_of(v), "fail");
	assert_string_equal(result_of(v, "type"), "fail");
	assert_non_null(strstr(reason_of(v, "type"), "application/zip"));
	/* The content is still opened as the archive it is. */
	assert_true(has_finding(v, "archive"));
	json_decref(v);
}

static void csv_that_is_program_fails(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "table.csv", .clamd_fd = -1});

	assert_string_equal(verdict_of(v), "fail");
	assert_string_equal(result_of(v, "type"), "fail");
	assert_non_null(strstr(reason_of(v, "type"), "executable"));
	assert_false(has_finding(v, "table"));
	json_decref(v);
}

static void real_png_passes(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "plot_real.png", .clamd_fd = -1});

	assert_string_equal(verdict_of(v), "pass");
	assert_string_equal(result_of(v, "type"), "pass");
	json_decref(v);
}

static void type_not_allowed_fails(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "data.json", .clamd_fd = -1});

	assert_string_equal(result_of(v, "type"), "fail");
	assert_non_null(strstr(reason_of(v, "type"), "not allowed"));
	json_decref(v);
}

static void zip_lists_entries(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "good.zip", .clamd_fd = -1});

	assert_string_equal(verdict_of(v), "pass");
	assert_string_equal(result_of(v, "archive"), "pass");
	json_t *entry =
	    json_array_get(json_object_get(v, "archive_entries"), 0);
	assert_string_equal(json_string_value(json_object_get(entry, "name")),
			    "note.txt");
	assert_int_equal(json_integer_value(json_object_get(entry, "size")), 5);
	json_decref(v);
}

static void zip_with_table_needs_review(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "tables.zip", .clamd_fd = -1});

	assert_string_equal(verdict_of(v), "review");
	assert_int_equal(json_array_size(json_object_get(v, "archive_entries")),
			 2);
	json_decref(v);
}

static void zip_bomb_fails(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "bomb.zip", .clamd_fd = -1});

	assert_string_equal(result_of(v, "archive"), "fail");
	assert_non_null(strstr(reason_of(v, "archive"), "zip bomb"));
	json_decref(v);
}

static void zip_over_expanded_total_fails(void **state)
{
	json_t *v = check_file(
	    (struct run){.file = "bomb.zip",
			 .clamd_fd = -1,
			 .limits = "{\"max_expansion_ratio\": 100000, "
				   "\"max_expanded_bytes\": 10485760}"});

	assert_string_equal(result_of(v, "archive"), "fail");
	assert_non_null(strstr(reason_of(v, "archive"), "10485760 bytes"));
	json_decref(v);
}

static void encrypted_zip_fails(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "encrypted.zip", .clamd_fd = -1});

	assert_string_equal(result_of(v, "archive"), "fail");
	assert_non_null(strstr(reason_of(v, "archive"), "encrypted"));
	json_decref(v);
}

static void nested_zip_fails(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "nested.zip", .clamd_fd = -1});

	assert_string_equal(result_of(v, "archive"), "fail");
	assert_non_null(strstr(reason_of(v, "archive"), "nested"));
	json_decref(v);
}

static void zip_traversal_fails(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "traversal.zip", .clamd_fd = -1});

	assert_string_equal(result_of(v, "archive"), "fail");
	assert_non_null(strstr(reason_of(v, "archive"), "parent-directory"));
	json_decref(v);
}

static void zip_too_many_entries_fails(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "three.zip",
				    .clamd_fd = -1,
				    .limits = "{\"max_archive_entries\": 2}"});

	assert_string_equal(result_of(v, "archive"), "fail");
	assert_non_null(strstr(reason_of(v, "archive"), "more than 2"));
	json_decref(v);
}

static void size_over_limit_fails(void **state)
{
	json_t *v = check_file((struct run){
	    .file = "results.CSV",
	    .clamd_fd = -1,
	    .extra_rules = "\"max_file_size\": 10, \"dicom_check\": true, "
			   "\"malware_scan_required\": false"});

	assert_string_equal(verdict_of(v), "fail");
	assert_string_equal(result_of(v, "size"), "fail");
	assert_false(has_finding(v, "type"));
	json_decref(v);
}

static void size_mismatch_fails(void **state)
{
	json_t *v = check_file((struct run){
	    .file = "results.CSV", .clamd_fd = -1, .size_bytes = 7});

	assert_string_equal(result_of(v, "size"), "fail");
	assert_non_null(strstr(reason_of(v, "size"), "recorded 7"));
	json_decref(v);
}

static void dicom_patient_name_fails(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "patient.dcm", .clamd_fd = -1});

	assert_string_equal(verdict_of(v), "fail");
	assert_string_equal(result_of(v, "type"), "pass");
	assert_string_equal(result_of(v, "dicom"), "fail");
	json_t *attrs =
	    json_object_get(json_object_get(finding(v, "dicom"), "details"),
			    "identifying_attributes");
	assert_int_equal(json_array_size(attrs), 2);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(attrs, 0), "name")),
			    "Patient's Name");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(attrs, 1), "tag")),
	    "(0010,0020)");
	/* The verdict names attributes but never carries their values. */
	char *text = json_dumps(v, 0);
	assert_null(strstr(text, "Doe^Jane"));
	free(text);
	json_decref(v);
}

static void dicom_clean_passes(void **state)
{
	json_t *v =
	    check_file((struct run){.file = "clean.dcm", .clamd_fd = -1});

	assert_string_equal(result_of(v, "dicom"), "pass");
	assert_string_equal(verdict_of(v), "pass");
	json_decref(v);
}

static void dicom_check_off(void **state)
{
	json_t *v = check_file((struct run){
	    .file = "patient.dcm",
	    .clamd_fd = -1,
	    .extra_rules = "\"max_file_size\": 1000000, \"dicom_check\": "
			   "false, \"malware_scan_required\": false"});

	assert_false(has_finding(v, "dicom"));
	json_decref(v);
}

static void eicar_fails(void **state)
{
	int clamd = connect_unix(clamd_socket);

	assert_true(clamd >= 0);
	json_t *v =
	    check_file((struct run){.file = "eicar.txt", .clamd_fd = clamd});
	close(clamd);

	assert_string_equal(verdict_of(v), "fail");
	assert_string_equal(result_of(v, "malware"), "fail");
	assert_non_null(strstr(reason_of(v, "malware"), "Trellis.Test.EICAR"));
	json_decref(v);
}

static void clean_file_scanned(void **state)
{
	int clamd = connect_unix(clamd_socket);

	assert_true(clamd >= 0);
	json_t *v =
	    check_file((struct run){.file = "results.CSV", .clamd_fd = clamd});
	close(clamd);

	assert_string_equal(result_of(v, "malware"), "pass");
	assert_string_equal(verdict_of(v), "pass");
	json_decref(v);
}

/* A clamd that accepts the connection and never replies. */
static void clamd_silent_times_out(void **state)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	path_in_work(addr.sun_path, sizeof(addr.sun_path), "silent.sock");
	assert_int_equal(bind(listener, (struct sockaddr *)&addr, sizeof(addr)),
			 0);
	assert_int_equal(listen(listener, 1), 0);
	int clamd = connect_unix(addr.sun_path);
	assert_true(clamd >= 0);

	time_t start = time(NULL);
	json_t *v = check_file((struct run){
	    .file = "results.CSV",
	    .clamd_fd = clamd,
	    .clamd_timeout_ms = 1000,
	    .extra_rules = "\"max_file_size\": 1000000, \"dicom_check\": "
			   "true, \"malware_scan_required\": true"});
	close(clamd);
	close(listener);

	assert_true(time(NULL) - start < 10);
	assert_string_equal(verdict_of(v), "fail");
	assert_string_equal(result_of(v, "malware"), "fail");
	assert_string_equal(reason_of(v, "malware"),
			    "malware scan did not answer within 1 s");
	json_decref(v);
}

static void scan_required_without_scanner(void **state)
{
	json_t *v = check_file((struct run){
	    .file = "results.CSV",
	    .clamd_fd = -1,
	    .extra_rules = "\"max_file_size\": 1000000, \"dicom_check\": "
			   "true, \"malware_scan_required\": true"});

	assert_string_equal(result_of(v, "malware"), "fail");
	assert_string_equal(verdict_of(v), "fail");
	json_decref(v);
}

/* Broken files of each type get a verdict, not a crash. */
static void broken_files_get_verdicts(void **state)
{
	static const struct {
		const char *file;
		const char *name;
		const char *check;
		const char *result;
	} cases[] = {
	    {"truncated.zip", "truncated.zip", "archive", "fail"},
	    {"truncated.gz", "results.csv.gz", "archive", "fail"},
	    {"truncated.dcm", "truncated.dcm", "dicom", "fail"},
	    /* libmagic reads only the signature of a PNG. */
	    {"garbage.png", "garbage.png", "type", "pass"},
	    {"bomb.zip", "random.csv", "type", "fail"},
	    {"patient.dump", "patient.csv", "table", "pass"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *v = check_file((struct run){.file = cases[i].file,
						    .file_name = cases[i].name,
						    .clamd_fd = -1});
		assert_string_equal(result_of(v, cases[i].check),
				    cases[i].result);
		json_decref(v);
	}
}

/* The checker never works on a descriptor it could write through. */
static void writable_file_rejected(void **state)
{
	struct run run = {.file = "results.CSV",
			  .open_flags = O_RDWR,
			  .size_bytes = -1,
			  .clamd_fd = -1};
	int status;

	json_t *v = run_checker(&run, &status);
	assert_null(v);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(upper_case_csv_passes),
	    cmocka_unit_test(empty_file_fails),
	    cmocka_unit_test(small_cell_fails),
	    cmocka_unit_test(small_cell_import_passes),
	    cmocka_unit_test(dominated_cell_fails),
	    cmocka_unit_test(png_that_is_zip_fails),
	    cmocka_unit_test(csv_that_is_program_fails),
	    cmocka_unit_test(real_png_passes),
	    cmocka_unit_test(type_not_allowed_fails),
	    cmocka_unit_test(zip_lists_entries),
	    cmocka_unit_test(zip_with_table_needs_review),
	    cmocka_unit_test(zip_bomb_fails),
	    cmocka_unit_test(zip_over_expanded_total_fails),
	    cmocka_unit_test(encrypted_zip_fails),
	    cmocka_unit_test(nested_zip_fails),
	    cmocka_unit_test(zip_traversal_fails),
	    cmocka_unit_test(zip_too_many_entries_fails),
	    cmocka_unit_test(size_over_limit_fails),
	    cmocka_unit_test(size_mismatch_fails),
	    cmocka_unit_test(dicom_patient_name_fails),
	    cmocka_unit_test(dicom_clean_passes),
	    cmocka_unit_test(dicom_check_off),
	    cmocka_unit_test(eicar_fails),
	    cmocka_unit_test(clean_file_scanned),
	    cmocka_unit_test(clamd_silent_times_out),
	    cmocka_unit_test(scan_required_without_scanner),
	    cmocka_unit_test(broken_files_get_verdicts),
	    cmocka_unit_test(writable_file_rejected),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
