/* quarantine-copy: copies one file into a quarantine folder the way the
 * airlock does on submission (read, SHA-256, write, fsync, rename) and
 * prints the hash and size. Used by bench/quarantine_bench.sh. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "broker/airlock_private.h"

int main(int argc, char **argv)
{
	char sha256[AIRLOCK_SHA256_HEX_LEN + 1];
	char error[512];
	uint64_t size = 0;

	if (argc != 3) {
		fprintf(stderr, "Usage: quarantine-copy FILE QUARANTINE_DIR\n");
		return 2;
	}
	int src_fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	int dir_fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src_fd < 0 || dir_fd < 0) {
		perror("quarantine-copy: open");
		return 1;
	}
	if (airlock_quarantine_copy(dir_fd, src_fd, UINT64_MAX, sha256, &size,
				    error, sizeof(error)) < 0) {
		fprintf(stderr, "quarantine-copy: %s\n", error);
		return 1;
	}
	printf("%s %llu\n", sha256, (unsigned long long)size);
	return 0;
}
