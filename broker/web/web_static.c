#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "broker/web/web.h"
#include "lib/cleanup.h"

#define INDEX_FILE "index.html"

/* Longest URL path looked up; longer paths are not found. */
#define STATIC_PATH_MAX 1024

static const struct {
	const char *extension;
	const char *content_type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".gif", "image/gif"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".wasm", "application/wasm"},
    {".oga", "audio/ogg"},
    {".mp3", "audio/mpeg"},
};

static const char *content_type_for(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot != NULL)
		for (size_t i = 0;
		     i < sizeof(content_types) / sizeof(content_types[0]); i++)
			if (strcmp(dot, content_types[i].extension) == 0)
				return content_types[i].content_type;
	return "application/octet-stream";
}

/* Checks the decoded URL path PATH ("/", "/a/b.js", "/dir/") and copies it
 * without the leading '/' into REL, "." for the root. Returns
 * WEB_STATIC_BAD_REQUEST for a control character or a byte above 0x7e,
 * because no served file name contains one. Returns WEB_STATIC_NOT_FOUND for
 * an empty segment other than the trailing '/', and for a segment that
 * starts with '.', so hidden files are never served. */
static enum web_static_result path_to_relative(const char *path, char *rel,
					       size_t rel_size,
					       bool *trailing_slash)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)path[i] < 0x20 ||
		    (unsigned char)path[i] > 0x7e)
			return WEB_STATIC_BAD_REQUEST;
	if (len == 0 || path[0] != '/' || len >= rel_size ||
	    len > STATIC_PATH_MAX)
		return WEB_STATIC_NOT_FOUND;
	*trailing_slash = path[len - 1] == '/';

	const char *segment = path + 1;
	while (*segment) {
		size_t segment_len = strcspn(segment, "/");
		if (segment_len == 0 || segment[0] == '.')
			return WEB_STATIC_NOT_FOUND;
		segment += segment_len;
		if (*segment == '/')
			segment++;
	}

	if (len == 1)
		strcpy(rel, ".");
	else
		memcpy(rel, path + 1, len);
	return WEB_STATIC_FILE;
}

/* Opens REL below DIR_FD with FLAGS. The kernel resolves every component,
 * symbolic links included, beneath DIR_FD and fails with EXDEV for a link
 * that leads out of the tree, so links inside the tree keep working.
 * openat2 needs Linux 5.6; on an older kernel nothing is served. */
static int open_beneath(int dir_fd, const char *rel, uint64_t flags)
{
	static bool openat2_missing_logged;
	/* openat2 rejects O_PATH combined with O_NOCTTY. */
	struct open_how how = {
	    .flags = flags | O_CLOEXEC | (flags & O_PATH ? 0 : O_NOCTTY),
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dir_fd, rel, &how, sizeof(how));

	if (fd >= 0)
		return fd;
	if (errno == ENOSYS && !openat2_missing_logged) {
		log_error("static_openat2_missing", "error=%s action=%s",
			  strerror(errno),
			  "static files are not served: run Linux 5.6 or "
			  "later");
		openat2_missing_logged = true;
	} else if (errno == EXDEV || errno == ELOOP) {
		log_warn("static_link_outside", "file=%s error=%s action=%s",
			 rel, strerror(errno),
			 "replace the symbolic link with a link inside "
			 "static_dir or a copy");
	} else if (errno != ENOENT && errno != ENOTDIR && errno != EACCES) {
		log_warn("static_open_failed", "file=%s error=%s", rel,
			 strerror(errno));
	}
	return -1;
}

/* Stats REL below DIR_FD through an O_PATH descriptor, so a device or FIFO
 * in the tree is never opened for reading. */
static int stat_beneath(int dir_fd, const char *rel, struct stat *st)
{
	autoclose int fd = open_beneath(dir_fd, rel, O_PATH);

	if (fd < 0 || fstat(fd, st) < 0)
		return -1;
	return 0;
}

static int open_regular(int dir_fd, const char *rel, uint64_t *size_out)
{
	struct stat st;

	if (stat_beneath(dir_fd, rel, &st) < 0 || !S_ISREG(st.st_mode))
		return -1;

	/* The name may have changed since the stat, so the descriptor is
	 * checked again. O_NONBLOCK keeps a FIFO put there meanwhile from
	 * blocking the loop. */
	autoclose int fd = open_beneath(dir_fd, rel, O_RDONLY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return -1;
	*size_out = (uint64_t)st.st_size;
	return steal_fd(&fd);
}

enum web_static_result web_static_open(int dir_fd, const char *path,
				       int *fd_out, uint64_t *size_out,
				       const char **content_type_out)
{
	char rel[STATIC_PATH_MAX + 1];
	char index_rel[STATIC_PATH_MAX + sizeof("/" INDEX_FILE)];
	bool trailing_slash = false;
	struct stat st;

	enum web_static_result checked =
	    path_to_relative(path, rel, sizeof(rel), &trailing_slash);
	if (checked != WEB_STATIC_FILE)
		return checked;
	if (stat_beneath(dir_fd, rel, &st) < 0)
		return WEB_STATIC_NOT_FOUND;

	if (S_ISREG(st.st_mode)) {
		if (trailing_slash)
			return WEB_STATIC_NOT_FOUND;
		*fd_out = open_regular(dir_fd, rel, size_out);
		*content_type_out = content_type_for(rel);
		return *fd_out >= 0 ? WEB_STATIC_FILE : WEB_STATIC_NOT_FOUND;
	}
	if (!S_ISDIR(st.st_mode))
		return WEB_STATIC_NOT_FOUND;

	/* The index is resolved from the top of the tree too, so a link
	 * named index.html cannot leave it either. */
	size_t rel_len = strlen(rel);
	if (trailing_slash)
		rel_len--;
	if (strcmp(rel, ".") == 0)
		snprintf(index_rel, sizeof(index_rel), "%s", INDEX_FILE);
	else
		snprintf(index_rel, sizeof(index_rel), "%.*s/%s", (int)rel_len,
			 rel, INDEX_FILE);
	int fd = open_regular(dir_fd, index_rel, size_out);
	if (fd < 0)
		return WEB_STATIC_NOT_FOUND;

	/* Relative links in the index resolve against the directory only
	 * when the URL ends in '/'. */
	if (!trailing_slash) {
		close(fd);
		return WEB_STATIC_REDIRECT;
	}
	*fd_out = fd;
	*content_type_out = content_type_for(INDEX_FILE);
	return WEB_STATIC_FILE;
}

/* RFC 3986 pchar without '%': the bytes a path may carry unencoded. */
static bool path_byte_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("-._~!$&'()*+,;=:@/", c) != NULL);
}

size_t web_path_encode(const char *path, size_t len, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t used = 0;

	if (size == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];
		if (path_byte_plain(c)) {
			if (used + 1 >= size)
				break;
			out[used++] = (char)c;
			continue;
		}
		if (used + 3 >= size)
			break;
		out[used++] = '%';
		out[used++] = hex[c >> 4];
		out[used++] = hex[c & 0x0f];
	}
	out[used] = '\0';
	return used;
}
