/* trellis-airlock-check: checks one quarantined file for the master.
 *
 * Started by the master with fd 0 the file, open read-only, and fd 3 a unix
 * socket carrying IPC frames. Sequence: load the libmagic database and the
 * DICOM dictionary, set resource limits, apply the seccomp filter, send
 * IPC_HELLO, receive IPC_WORKER_CONFIG (fds[0]: an optional socket to
 * clamd), run the checks, send IPC_AIRLOCK_VERDICT and exit 0. Any other
 * exit, or a crash, leaves the master without a verdict, and the request
 * fails. */
#include "airlock/airlock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/ipc.h"
#include "lib/log.h"

#define FILE_FD		   0
#define IPC_FD		   3
#define CONFIG_TIMEOUT_MS  30000
#define VERDICT_TIMEOUT_MS 30000

static int check_file_fd(void)
{
	struct stat st;
	int flags = fcntl(FILE_FD, F_GETFL);

	if (flags < 0 || fstat(FILE_FD, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error(
		    "file_invalid", "fd=%d hint=%s", FILE_FD,
		    "start the checker with the quarantined file on fd 0");
		return -1;
	}
	if ((flags & O_ACCMODE) != O_RDONLY) {
		log_error("file_writable", "fd=%d hint=%s", FILE_FD,
			  "open the quarantined file with O_RDONLY");
		return -1;
	}
	return 0;
}

static int setup(struct airlock_magic **magic)
{
	char err[256];

	if (check_file_fd() < 0)
		return -1;
	*magic = airlock_magic_open(err, sizeof(err));
	if (*magic == NULL) {
		log_error("magic_load_failed", "error=%s", err);
		return -1;
	}
	if (airlock_dicom_init(err, sizeof(err)) < 0) {
		log_error("dicom_init_failed", "error=%s", err);
		return -1;
	}
	if (airlock_sandbox_limit_resources() < 0 ||
	    airlock_sandbox_apply() < 0)
		return -1;
	return 0;
}

static int receive_config(struct ipc_channel *ipc, struct airlock_config *cfg,
			  int *clamd_fd)
{
	struct ipc_msg msg = {0};
	char err[256];
	int rc = -1;

	if (ipc_receive_blocking(ipc, &msg, CONFIG_TIMEOUT_MS) < 0) {
		log_error("config_missing", "error=%s", strerror(errno));
		return -1;
	}
	if (msg.type != IPC_WORKER_CONFIG) {
		log_error("config_unexpected", "type=%s",
			  ipc_type_name(msg.type));
	} else if (airlock_config_parse(msg.body, cfg, err, sizeof(err)) < 0) {
		log_error("config_invalid", "error=%s", err);
	} else {
		if (msg.nfds > 0) {
			*clamd_fd = msg.fds[0];
			msg.fds[0] = -1;
		}
		rc = 0;
	}
	ipc_msg_clear(&msg);
	return rc;
}

static int send_verdict(struct ipc_channel *ipc, struct airlock_check *check)
{
	json_t *verdict = airlock_report_verdict(&check->report);
	int rc = ipc_send_blocking(ipc, IPC_AIRLOCK_VERDICT, 0, verdict, NULL,
				   0, VERDICT_TIMEOUT_MS);

	log_info("file_checked", "file=%s verdict=%s findings=%zu",
		 check->cfg->file_name,
		 json_string_value(json_object_get(verdict, "verdict")),
		 json_array_size(check->report.findings));
	json_decref(verdict);
	if (rc < 0)
		log_error("verdict_send_failed", "error=%s", strerror(errno));
	return rc;
}

int main(void)
{
	struct airlock_magic *magic = NULL;
	struct airlock_config cfg = {0};
	struct airlock_check check = {0};
	int clamd_fd = -1;

	log_init("trellis-airlock-check", LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);

	if (setup(&magic) < 0)
		return 1;

	struct ipc_channel *ipc = ipc_channel_new(IPC_FD, "master");
	if (ipc == NULL) {
		log_error("ipc_failed", "fd=%d error=%s", IPC_FD,
			  "out of memory");
		return 1;
	}
	json_t *hello = json_pack("{s:s}", "worker", "airlock-check");
	int sent = ipc_send_blocking(ipc, IPC_HELLO, 0, hello, NULL, 0,
				     CONFIG_TIMEOUT_MS);
	json_decref(hello);
	if (sent < 0 || receive_config(ipc, &cfg, &clamd_fd) < 0) {
		ipc_channel_free(ipc);
		return 1;
	}

	check.cfg = &cfg;
	check.fd = FILE_FD;
	check.clamd_fd = clamd_fd;
	check.magic = magic;
	airlock_report_init(&check.report);
	airlock_check_run(&check);
	int rc = send_verdict(ipc, &check);

	airlock_report_clear(&check.report);
	airlock_config_clear(&cfg);
	airlock_magic_close(magic);
	if (clamd_fd >= 0)
		close(clamd_fd);
	ipc_channel_free(ipc);
	log_flush_repeats();
	return rc < 0 ? 1 : 0;
}
