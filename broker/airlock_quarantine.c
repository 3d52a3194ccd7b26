/* The quarantine store: one file per content, named by its SHA-256, in a
 * root-only folder outside every workspace. Reviewers read and releases
 * deliver these bytes, never the workspace copy, which its owner may change
 * at any time. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "broker/airlock_private.h"
#include "lib/hex.h"
#include "lib/cleanup.h"
#include "lib/log.h"

/* Bytes read and written per step of a copy. */
#define COPY_CHUNK (1024u * 1024u)

static int write_all(int fd, const unsigned char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int airlock_copy_and_hash(struct airlock_job *job, int idle_timeout_ms,
			  int src_fd, int dst_fd, uint64_t max_bytes,
			  unsigned char digest[32], uint64_t *size, char *error,
			  size_t error_size)
{
	autofree unsigned char *buffer = malloc(COPY_CHUNK);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t total = 0;
	int rc = -1;

	if (buffer == NULL || ctx == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		snprintf(error, error_size, "out of memory");
		goto out;
	}
	for (;;) {
		int ready = job ? airlock_job_wait_readable(job, src_fd,
							    idle_timeout_ms)
				: 1;
		if (ready == 0) {
			snprintf(error, error_size,
				 "no data arrived for %d seconds after %llu "
				 "bytes",
				 idle_timeout_ms / 1000,
				 (unsigned long long)total);
			goto out;
		}
		if (ready == -2) {
			snprintf(error, error_size, "trellisd is stopping");
			rc = -2;
			goto out;
		}
		ssize_t n = read(src_fd, buffer, COPY_CHUNK);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			snprintf(error, error_size, "reading failed: %s",
				 strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > max_bytes) {
			snprintf(error, error_size,
				 "the file is larger than the limit of %llu "
				 "bytes",
				 (unsigned long long)max_bytes);
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buffer, (size_t)n) != 1 ||
		    write_all(dst_fd, buffer, (size_t)n) < 0) {
			snprintf(error, error_size,
				 "writing the copy failed: %s",
				 strerror(errno));
			goto out;
		}
	}
	unsigned int digest_len = 0;
	if (EVP_DigestFinal_ex(ctx, digest, &digest_len) != 1 ||
	    digest_len != 32) {
		snprintf(error, error_size, "hashing failed");
		goto out;
	}
	*size = total;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* airlock_quarantine_copy, with the waits of airlock_copy_and_hash, and a
 * check that an upload brought the EXPECTED_BYTES it promised (UINT64_MAX
 * for any length). */
static int copy_into_store(struct airlock_job *job, int idle_timeout_ms,
			   int dir_fd, int src_fd, uint64_t max_bytes,
			   uint64_t expected_bytes,
			   char sha256[AIRLOCK_SHA256_HEX_LEN + 1],
			   uint64_t *size, char *error, size_t error_size)
{
	char tmp_name[32] = ".tmp-";
	unsigned char digest[32];

	if (hex_random(tmp_name + 5, 8) < 0) {
		snprintf(error, error_size, "no random bytes: %s",
			 strerror(errno));
		return -1;
	}

	autoclose int tmp_fd =
	    openat(dir_fd, tmp_name,
		   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (tmp_fd < 0) {
		snprintf(error, error_size,
			 "creating a quarantine file failed: %s",
			 strerror(errno));
		return -1;
	}
	if (airlock_copy_and_hash(job, idle_timeout_ms, src_fd, tmp_fd,
				  max_bytes, digest, size, error,
				  error_size) < 0)
		goto remove;
	if (expected_bytes != UINT64_MAX && *size != expected_bytes) {
		snprintf(error, error_size,
			 "the upload ended after %llu of %llu bytes",
			 (unsigned long long)*size,
			 (unsigned long long)expected_bytes);
		goto remove;
	}
	/* The rename must not land before the data: a crash would leave a
	 * file under a hash its bytes do not have. */
	if (fsync(tmp_fd) < 0) {
		snprintf(error, error_size,
			 "syncing the quarantine copy "
			 "failed: %s",
			 strerror(errno));
		goto remove;
	}
	hex_encode(digest, sizeof(digest), sha256);
	/* The same content may be there already; its bytes are equal. */
	if (renameat(dir_fd, tmp_name, dir_fd, sha256) < 0) {
		snprintf(error, error_size,
			 "naming the quarantine copy failed: %s",
			 strerror(errno));
		goto remove;
	}
	fsync(dir_fd);
	return 0;

remove:
	unlinkat(dir_fd, tmp_name, 0);
	return -1;
}

int airlock_quarantine_copy(int dir_fd, int src_fd, uint64_t max_bytes,
			    char sha256[AIRLOCK_SHA256_HEX_LEN + 1],
			    uint64_t *size, char *error, size_t error_size)
{
	return copy_into_store(NULL, 0, dir_fd, src_fd, max_bytes, UINT64_MAX,
			       sha256, size, error, error_size);
}

int airlock_copy_work(struct airlock_job *job)
{
	struct airlock_copy_job *copy = (struct airlock_copy_job *)job;

	for (size_t i = 0; i < copy->count; i++) {
		struct airlock_copy_source *source = &copy->sources[i];
		copy->failed = i;
		if (copy_into_store(job, copy->idle_timeout_ms,
				    copy->quarantine_fd, source->fd,
				    source->max_bytes, source->expected_bytes,
				    source->sha256, &source->size, copy->error,
				    sizeof(copy->error)) < 0)
			return -1;
	}
	return 0;
}

void airlock_copy_job_free(struct airlock_copy_job *copy)
{
	if (copy == NULL)
		return;
	for (size_t i = 0; i < copy->count; i++)
		if (copy->sources[i].fd >= 0)
			close(copy->sources[i].fd);
	free(copy->sources);
	free(copy);
}

/* Rejects names that could leave the outbox or name it: empty, absolute,
 * with "." or ".." parts, or with control characters. openat2 below
 * enforces the same, and this gives the requester a clearer message. */
static bool relative_path_valid(const char *path)
{
	size_t len = strlen(path);

	if (len == 0 || len >= AIRLOCK_PATH_MAX || path[0] == '/')
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return false;
	const char *part = path;
	while (part) {
		const char *slash = strchr(part, '/');
		size_t part_len = slash ? (size_t)(slash - part) : strlen(part);
		if (part_len == 0 || (part_len == 1 && part[0] == '.') ||
		    (part_len == 2 && part[0] == '.' && part[1] == '.'))
			return false;
		part = slash ? slash + 1 : NULL;
	}
	return true;
}

/* Opens DIR/NAME as a directory without following a symbolic link. */
static int open_dir_at(int dir_fd, const char *name)
{
	return openat(dir_fd, name,
		      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int airlock_workspace_folder(const char *root, const char *project,
			     const char *user, const char *folder)
{
	/* Each step refuses a symbolic link, so nothing in the workspace can
	 * point the master at a folder outside it. */
	autoclose int root_fd =
	    open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	autoclose int project_fd =
	    root_fd >= 0 ? open_dir_at(root_fd, project) : -1;
	autoclose int user_fd =
	    project_fd >= 0 ? open_dir_at(project_fd, user) : -1;
	return user_fd >= 0 ? open_dir_at(user_fd, folder) : -1;
}

int airlock_outbox_open(struct airlock_service *svc, const char *project,
			const char *user, const char *relative,
			uint64_t max_bytes, char *error, size_t error_size)
{
	const char *root = svc->m->config->sessions_workspace_root;

	if (!relative_path_valid(relative)) {
		snprintf(error, error_size,
			 "invalid file path %s: give a path relative to the "
			 "outbox, without '.' or '..' parts",
			 relative);
		return -1;
	}

	autoclose int outbox_fd =
	    airlock_workspace_folder(root, project, user, "outbox");
	if (outbox_fd < 0) {
		snprintf(error, error_size,
			 "the outbox of %s in project %s does not exist; "
			 "start a desktop of the project once",
			 user, project);
		return -1;
	}

	struct open_how how = {
	    .flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		       RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	autoclose int file_fd =
	    (int)syscall(SYS_openat2, outbox_fd, relative, &how, sizeof(how));
	if (file_fd < 0) {
		snprintf(error, error_size,
			 "opening %s in the outbox failed: %s%s", relative,
			 strerror(errno),
			 errno == ELOOP || errno == EXDEV
			     ? " (symbolic links are not followed)"
			     : "");
		return -1;
	}
	struct stat st;
	if (fstat(file_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(error, error_size,
			 "%s in the outbox is not a regular file", relative);
		return -1;
	}
	if ((uint64_t)st.st_size > max_bytes) {
		snprintf(error, error_size,
			 "%s has %llu bytes, above the limit of %llu bytes",
			 relative, (unsigned long long)st.st_size,
			 (unsigned long long)max_bytes);
		return -1;
	}
	/* O_NONBLOCK only kept a FIFO from stalling the open. */
	fcntl(file_fd, F_SETFL, 0);
	return steal_fd(&file_fd);
}

int airlock_quarantine_open(struct airlock_service *svc, const char *sha256)
{
	if (!airlock_sha256_valid(sha256))
		return -1;
	return openat(svc->quarantine_fd, sha256,
		      O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}
