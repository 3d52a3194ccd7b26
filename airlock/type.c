/* Content type by libmagic, and the table of MIME types that each file
 * extension may have. */
#include "airlock/airlock.h"

#include <ctype.h>
#include <magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct airlock_magic {
	magic_t mime;	     /* MAGIC_MIME_TYPE: "text/csv" */
	magic_t description; /* the long text: "CSV text" */
};

/* MIME types, as libmagic 5.44 names them, that the content of a file with
 * each extension may have. An extension missing here fails even when the
 * policy allows it, because nothing could confirm its content. */
static const struct {
	const char *extension;
	const char *mime_types[6];
} type_table[] = {
    {"csv", {"text/csv", "text/plain"}},
    {"tsv", {"text/tab-separated-values", "text/plain", "text/csv"}},
    {"txt", {"text/plain", "text/csv"}},
    {"md", {"text/plain", "text/markdown"}},
    {"log", {"text/plain"}},
    {"json", {"application/json", "text/plain"}},
    {"ipynb", {"application/json", "text/plain"}},
    {"py", {"text/x-script.python", "text/x-python", "text/plain"}},
    {"r", {"text/plain", "text/x-r"}},
    {"sql", {"text/plain", "text/x-sql"}},
    {"html", {"text/html"}},
    {"xml", {"text/xml", "application/xml"}},
    {"svg", {"image/svg+xml"}},
    {"png", {"image/png"}},
    {"jpg", {"image/jpeg"}},
    {"jpeg", {"image/jpeg"}},
    {"gif", {"image/gif"}},
    {"tif", {"image/tiff"}},
    {"tiff", {"image/tiff"}},
    {"pdf", {"application/pdf"}},
    {"dcm", {"application/dicom"}},
    {"zip", {"application/zip"}},
    {"tar", {"application/x-tar"}},
    {"gz", {"application/gzip", "application/x-gzip"}},
    {"tgz", {"application/gzip", "application/x-gzip"}},
    {"bz2", {"application/x-bzip2"}},
    {"xz", {"application/x-xz"}},
    {"7z", {"application/x-7z-compressed"}},
};

/* Content types that the archive check opens. */
static const char *const archive_mime_types[] = {
    "application/zip",
    "application/x-tar",
    "application/gzip",
    "application/x-gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-7z-compressed",
    "application/x-rar",
    "application/vnd.rar",
    "application/x-lzma",
    "application/zstd",
    "application/x-zstd",
    "application/x-cpio",
    "application/x-archive",
    "application/java-archive",
    "application/x-iso9660-image",
    "application/vnd.ms-cab-compressed",
    "application/x-lzip",
};

static const char *const archive_extensions[] = {
    "zip", "tar",  "gz",  "tgz", "bz2", "xz", "7z",  "rar", "lzma",
    "zst", "cpio", "jar", "iso", "cab", "lz", "war", "ar",
};

struct airlock_magic *airlock_magic_open(char *err, size_t err_size)
{
	struct airlock_magic *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		snprintf(err, err_size, "libmagic: out of memory");
		return NULL;
	}
	/* No MAGIC_COMPRESS: libmagic must not decompress or run helper
	 * programs on a hostile file. */
	m->mime = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
	m->description = magic_open(MAGIC_ERROR);
	if (m->mime == NULL || m->description == NULL ||
	    magic_load(m->mime, NULL) != 0 ||
	    magic_load(m->description, NULL) != 0) {
		snprintf(err, err_size,
			 "loading the libmagic database failed: %s (install "
			 "the Debian package libmagic-mgc)",
			 m->mime && magic_error(m->mime) ? magic_error(m->mime)
							 : "out of memory");
		airlock_magic_close(m);
		return NULL;
	}
	return m;
}

void airlock_magic_close(struct airlock_magic *magic)
{
	if (magic == NULL)
		return;
	if (magic->mime)
		magic_close(magic->mime);
	if (magic->description)
		magic_close(magic->description);
	free(magic);
}

/* libmagic descriptions quote bytes of the file, such as the name stored
 * in a gzip header, so they are cleaned before they reach JSON. */
static void copy_text(char *out, size_t out_size, const char *text)
{
	airlock_text_clean(out, out_size, text ? text : "");
}

int airlock_magic_identify(struct airlock_magic *magic, const void *data,
			   size_t len, char *mime, size_t mime_size,
			   char *description, size_t description_size)
{
	const char *m = magic_buffer(magic->mime, data, len);
	const char *d = magic_buffer(magic->description, data, len);

	if (m == NULL) {
		copy_text(mime, mime_size, "application/octet-stream");
		copy_text(description, description_size,
			  magic_error(magic->mime));
		return -1;
	}
	copy_text(mime, mime_size, m);
	copy_text(description, description_size, d);
	return 0;
}

int airlock_magic_identify_fd(struct airlock_magic *magic, int fd, char *mime,
			      size_t mime_size, char *description,
			      size_t description_size)
{
	/* libmagic reads from the current offset, and with a descriptor it
	 * also parses ELF headers, which distinguishes programs from libraries.
	 */
	if (lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	const char *m = magic_descriptor(magic->mime, fd);
	if (lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	const char *d = magic_descriptor(magic->description, fd);

	if (m == NULL) {
		copy_text(mime, mime_size, "application/octet-stream");
		copy_text(description, description_size,
			  magic_error(magic->mime));
		return -1;
	}
	copy_text(mime, mime_size, m);
	copy_text(description, description_size, d);
	return 0;
}

void airlock_extension(const char *name, char *out, size_t out_size)
{
	const char *dot = strrchr(name, '.');

	out[0] = '\0';
	if (dot == NULL || dot == name || dot[1] == '\0')
		return;
	if (strlen(dot + 1) >= out_size)
		return;
	/* Extensions are letters and digits, as in the policy. */
	for (size_t i = 0; dot[1 + i] != '\0'; i++) {
		if (!isalnum((unsigned char)dot[1 + i]) ||
		    (unsigned char)dot[1 + i] >= 0x80) {
			out[0] = '\0';
			return;
		}
		out[i] = (char)tolower((unsigned char)dot[1 + i]);
		out[i + 1] = '\0';
	}
}

static bool in_list(const char *value, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n && list[i]; i++)
		if (strcmp(list[i], value) == 0)
			return true;
	return false;
}

bool airlock_mime_is_archive(const char *mime)
{
	return in_list(mime, archive_mime_types,
		       sizeof(archive_mime_types) /
			   sizeof(archive_mime_types[0]));
}

bool airlock_extension_is_archive(const char *extension)
{
	return in_list(extension, archive_extensions,
		       sizeof(archive_extensions) /
			   sizeof(archive_extensions[0]));
}

enum airlock_result airlock_type_judge(const struct airlock_rules *rules,
				       const char *extension, const char *mime,
				       char *reason, size_t reason_size)
{
	if (strcmp(mime, "application/x-empty") == 0) {
		snprintf(reason, reason_size,
			 "the file is empty, so there is nothing to check or "
			 "release");
		return AIRLOCK_FAIL;
	}
	if (extension[0] == '\0') {
		snprintf(reason, reason_size,
			 "the file name has no extension, so its type cannot "
			 "be compared with its content (%s)",
			 mime);
		return AIRLOCK_FAIL;
	}
	if (!airlock_rules_allow_type(rules, extension)) {
		snprintf(reason, reason_size,
			 "files of type .%s are not allowed by the policy",
			 extension);
		return AIRLOCK_FAIL;
	}

	for (size_t i = 0; i < sizeof(type_table) / sizeof(type_table[0]);
	     i++) {
		if (strcmp(type_table[i].extension, extension) != 0)
			continue;
		if (in_list(mime, type_table[i].mime_types, 6)) {
			snprintf(reason, reason_size,
				 "the content (%s) matches the extension .%s",
				 mime, extension);
			return AIRLOCK_PASS;
		}
		snprintf(reason, reason_size,
			 "the extension .%s does not match the content, which "
			 "is %s",
			 extension, mime);
		return AIRLOCK_FAIL;
	}

	snprintf(reason, reason_size,
		 "the checker has no content rule for .%s files, so their "
		 "content cannot be confirmed (content is %s)",
		 extension, mime);
	return AIRLOCK_FAIL;
}
