#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
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

static bool segment_char_allowed(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~' ||
	       c == '+' || c == '-';
}

/* Checks PATH ("/", "/a/b.js", "/dir/") and copies it without the leading
 * '/' into REL, "." for the root. An empty segment is allowed only as the
 * trailing '/'. */
static bool path_to_relative(const char *path, char *rel, size_t rel_size,
			     bool *trailing_slash)
{
	size_t len = strlen(path);

	if (len == 0 || path[0] != '/' || len >= rel_size ||
	    len > STATIC_PATH_MAX)
		return false;
	*trailing_slash = path[len - 1] == '/';

	const char *segment = path + 1;
	while (*segment) {
		size_t seg_len = strcspn(segment, "/");
		if (seg_len == 0 || segment[0] == '.')
			return false;
		for (size_t i = 0; i < seg_len; i++)
			if (!segment_char_allowed(segment[i]))
				return false;
		segment += seg_len;
		if (*segment == '/')
			segment++;
	}

	if (len == 1)
		strcpy(rel, ".");
	else
		memcpy(rel, path + 1, len);
	return true;
}

static int open_regular(int dir_fd, const char *rel, uint64_t *size_out)
{
	struct stat st;
	/* O_NONBLOCK keeps a FIFO placed in the tree from blocking the
	 * loop. Only regular files are served. */
	autoclose int fd =
	    openat(dir_fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

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
	bool trailing_slash;
	struct stat st;

	if (!path_to_relative(path, rel, sizeof(rel), &trailing_slash))
		return WEB_STATIC_NOT_FOUND;
	if (fstatat(dir_fd, rel, &st, 0) < 0)
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

	autoclose int sub_fd =
	    openat(dir_fd, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sub_fd < 0)
		return WEB_STATIC_NOT_FOUND;
	int fd = open_regular(sub_fd, INDEX_FILE, size_out);
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
