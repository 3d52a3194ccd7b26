/* Archive check with libarchive: lists the entries for the reviewer and
 * fails nested archives, encrypted entries, links, unsafe paths, entries of
 * types the policy does not allow, and archives that expand beyond the
 * limits. Sizes come from the bytes actually decompressed, never from the
 * headers, which a zip bomb can fake. */
#include "airlock/airlock.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARCHIVE_BLOCK	  65536
#define ENTRY_HEAD_MAX	  65536 /* bytes of each entry given to libmagic */
#define RATIO_FLOOR_BYTES (1024 * 1024)
#define ENTRY_NAME_MAX	  256

struct scan {
	struct airlock_check *check;
	struct archive *a;
	uint64_t entries;
	uint64_t expanded_bytes;
	bool needs_review; /* tables or DICOM files inside */
	bool failed;
	uint8_t block[ARCHIVE_BLOCK];
	uint8_t head[ENTRY_HEAD_MAX];
};

/* Compression formats of a single file, read with libarchive's raw
 * format. Other content must be a real archive format. */
static const char *const single_file_mime_types[] = {
    "application/gzip",	  "application/x-gzip", "application/x-bzip2",
    "application/x-xz",	  "application/x-lzma", "application/zstd",
    "application/x-zstd", "application/x-lzip", "application/x-compress",
};

static bool is_compressed_single_file(const char *mime)
{
	for (size_t i = 0; i < sizeof(single_file_mime_types) /
				   sizeof(single_file_mime_types[0]);
	     i++)
		if (strcmp(mime, single_file_mime_types[i]) == 0)
			return true;
	return false;
}

/* Only filters and formats that libarchive decodes itself: others would
 * start an external program, and mtree entries name files on this host.
 * Zip files are read through their central directory, as unzip tools do,
 * so a truncated zip or one whose local headers disagree with it fails. */
static void enable_readers(struct archive *a, const char *mime)
{
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_lzma(a);
	archive_read_support_filter_lzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_lz4(a);
	archive_read_support_filter_compress(a);
	archive_read_support_format_zip_seekable(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_cpio(a);
	archive_read_support_format_7zip(a);
	archive_read_support_format_rar(a);
	archive_read_support_format_rar5(a);
	archive_read_support_format_iso9660(a);
	archive_read_support_format_cab(a);
	archive_read_support_format_ar(a);
	archive_read_support_format_lha(a);
	archive_read_support_format_xar(a);
	/* A compressed single file, such as results.csv.gz. */
	if (is_compressed_single_file(mime))
		archive_read_support_format_raw(a);
}

static void fail_scan(struct scan *s, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void fail_scan(struct scan *s, const char *format, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, format);
	vsnprintf(reason, sizeof(reason), format, ap);
	va_end(ap);
	airlock_report_add(&s->check->report, "archive", AIRLOCK_FAIL, NULL,
			   "%s", reason);
	s->failed = true;
}

static bool path_is_unsafe(const char *path)
{
	if (path[0] == '/' || path[0] == '\\' || strchr(path, ':') != NULL)
		return true;
	for (const char *p = path; *p; p++) {
		bool at_start = p == path || p[-1] == '/' || p[-1] == '\\';
		if (at_start && p[0] == '.' && p[1] == '.' &&
		    (p[2] == '\0' || p[2] == '/' || p[2] == '\\'))
			return true;
	}
	return false;
}

/* The name of a compressed single file is the archive's own name without
 * its last extension: "results.csv.gz" contains "results.csv". */
static void entry_name(struct scan *s, struct archive_entry *entry, char *out,
		       size_t out_size)
{
	const char *name = archive_entry_pathname(entry);

	if (archive_format(s->a) == ARCHIVE_FORMAT_RAW) {
		const char *outer = s->check->cfg->file_name;
		const char *dot = strrchr(outer, '.');
		size_t len = dot ? (size_t)(dot - outer) : strlen(outer);
		snprintf(out, out_size, "%.*s", (int)len, outer);
		return;
	}
	snprintf(out, out_size, "%s", name ? name : "");
}

/* Decompresses one entry, counting its bytes against the limits. Returns
 * the bytes kept for libmagic in s->head, or -1 after a failure. */
static ssize_t read_entry(struct scan *s, const char *name, size_t *head_len)
{
	const struct airlock_limits *limits = &s->check->cfg->limits;
	uint64_t entry_bytes = 0;

	*head_len = 0;
	for (;;) {
		la_ssize_t n =
		    archive_read_data(s->a, s->block, sizeof(s->block));
		if (n == 0)
			return (ssize_t)entry_bytes;
		if (n < 0) {
			fail_scan(s, "entry \"%s\" could not be read: %s", name,
				  archive_error_string(s->a)
				      ? archive_error_string(s->a)
				      : "unknown error");
			return -1;
		}

		if (*head_len < sizeof(s->head)) {
			size_t take = sizeof(s->head) - *head_len;
			if (take > (size_t)n)
				take = (size_t)n;
			memcpy(s->head + *head_len, s->block, take);
			*head_len += take;
		}
		entry_bytes += (uint64_t)n;
		s->expanded_bytes += (uint64_t)n;

		if (s->expanded_bytes > limits->max_expanded_bytes) {
			fail_scan(
			    s,
			    "the archive expands beyond the limit of %llu "
			    "bytes (at entry \"%s\")",
			    (unsigned long long)limits->max_expanded_bytes,
			    name);
			return -1;
		}
		if (s->expanded_bytes > RATIO_FLOOR_BYTES &&
		    (double)s->expanded_bytes >
			limits->max_expansion_ratio *
			    (double)(s->check->size ? s->check->size : 1)) {
			fail_scan(
			    s,
			    "the archive expands more than %.0f times its "
			    "size (at entry \"%s\"), like a zip bomb",
			    limits->max_expansion_ratio, name);
			return -1;
		}
	}
}

static void judge_entry(struct scan *s, const char *name, size_t size,
			size_t head_len)
{
	char mime[128];
	char description[256];
	char extension[16];
	char reason[384];
	char shown[AIRLOCK_NAME_SHOWN_MAX];

	airlock_magic_identify(s->check->magic, s->head, head_len, mime,
			       sizeof(mime), description, sizeof(description));
	airlock_extension(name, extension, sizeof(extension));
	airlock_text_clean(shown, sizeof(shown), name);
	airlock_report_add_entry(&s->check->report,
				 json_pack("{s:s, s:I, s:s}", "name", shown,
					   "size", (json_int_t)size, "mime",
					   mime));

	if (airlock_mime_is_archive(mime) ||
	    airlock_extension_is_archive(extension)) {
		fail_scan(s,
			  "entry \"%s\" is itself an archive (%s); nested "
			  "archives are not allowed",
			  name, mime);
		return;
	}
	if (airlock_type_judge(&s->check->cfg->rules, extension, mime, reason,
			       sizeof(reason)) != AIRLOCK_PASS) {
		fail_scan(s, "entry \"%s\": %s", name, reason);
		return;
	}
	if (strcmp(extension, "csv") == 0 || strcmp(extension, "tsv") == 0 ||
	    strcmp(mime, "text/csv") == 0 ||
	    strcmp(mime, "application/dicom") == 0)
		s->needs_review = true;
}

static void scan_entry(struct scan *s, struct archive_entry *entry)
{
	char name[ENTRY_NAME_MAX];
	size_t head_len;

	entry_name(s, entry, name, sizeof(name));
	if (archive_entry_is_encrypted(entry)) {
		fail_scan(s,
			  "entry \"%s\" is encrypted, so its content cannot be "
			  "checked",
			  name);
		return;
	}
	if (archive_entry_filetype(entry) == AE_IFDIR)
		return;
	if (archive_entry_filetype(entry) != AE_IFREG ||
	    archive_entry_hardlink(entry) != NULL) {
		fail_scan(s, "entry \"%s\" is a link or a special file", name);
		return;
	}
	if (name[0] == '\0' || path_is_unsafe(name)) {
		fail_scan(s,
			  "entry \"%s\" has an absolute or parent-directory "
			  "path",
			  name);
		return;
	}

	ssize_t size = read_entry(s, name, &head_len);
	if (size < 0)
		return;
	judge_entry(s, name, (size_t)size, head_len);
}

static void scan_archive(struct scan *s)
{
	const struct airlock_limits *limits = &s->check->cfg->limits;
	struct archive_entry *entry;

	for (;;) {
		int rc = archive_read_next_header(s->a, &entry);
		if (rc == ARCHIVE_EOF)
			return;
		if (rc < ARCHIVE_WARN) {
			fail_scan(s, "the archive could not be read: %s",
				  archive_error_string(s->a)
				      ? archive_error_string(s->a)
				      : "unknown error");
			return;
		}
		if (++s->entries > limits->max_archive_entries) {
			fail_scan(
			    s, "the archive has more than %llu entries",
			    (unsigned long long)limits->max_archive_entries);
			return;
		}
		scan_entry(s, entry);
		if (s->failed)
			return;
	}
}

void airlock_check_archive(struct airlock_check *check)
{
	struct scan *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		airlock_report_add(&check->report, "archive", AIRLOCK_FAIL,
				   NULL, "the archive check ran out of memory");
		return;
	}
	s->check = check;
	s->a = archive_read_new();
	if (s->a == NULL || lseek(check->fd, 0, SEEK_SET) != 0) {
		airlock_report_add(&check->report, "archive", AIRLOCK_FAIL,
				   NULL, "the archive could not be opened");
		goto out;
	}
	enable_readers(s->a, check->report.mime);
	if (archive_read_open_fd(s->a, check->fd, ARCHIVE_BLOCK) !=
	    ARCHIVE_OK) {
		fail_scan(s, "the archive could not be opened: %s",
			  archive_error_string(s->a)
			      ? archive_error_string(s->a)
			      : "unknown error");
		goto out;
	}

	scan_archive(s);
	if (s->failed)
		goto out;

	json_t *details =
	    json_pack("{s:I, s:I}", "entries", (json_int_t)s->entries,
		      "expanded_bytes", (json_int_t)s->expanded_bytes);
	if (s->needs_review)
		airlock_report_add(
		    &check->report, "archive", AIRLOCK_REVIEW, details,
		    "the archive's %llu entries are listed; it "
		    "holds tables or DICOM files, which were not "
		    "checked inside the archive, so review them "
		    "by hand",
		    (unsigned long long)s->entries);
	else
		airlock_report_add(&check->report, "archive", AIRLOCK_PASS,
				   details,
				   "the archive's %llu entries are listed, "
				   "none nested, encrypted or over the limits",
				   (unsigned long long)s->entries);
out:
	if (s->a)
		archive_read_free(s->a);
	free(s);
}
