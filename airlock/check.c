/* The size and type checks, and the order in which all checks run. */
#include "airlock/airlock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes BYTES for a reader: "512 bytes", "1.5 KiB", "100 MiB". */
static const char *size_text(uint64_t bytes, char *out, size_t size)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	double value = (double)bytes;
	int unit = -1;

	if (bytes < 1024) {
		snprintf(out, size, "%llu %s", (unsigned long long)bytes,
			 bytes == 1 ? "byte" : "bytes");
		return out;
	}
	while (value >= 1024 && unit < 3) {
		value /= 1024;
		unit++;
	}
	/* A whole number reads without a decimal, as limits usually are. */
	if (value == (double)(uint64_t)value)
		snprintf(out, size, "%.0f %s", value, units[unit]);
	else
		snprintf(out, size, "%.1f %s", value, units[unit]);
	return out;
}

void airlock_check_size(struct airlock_check *check)
{
	const struct airlock_config *cfg = check->cfg;
	struct stat st;
	json_t *details;
	char have[32], limit[32];

	if (fstat(check->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		airlock_report_add(
		    &check->report, "size", AIRLOCK_FAIL, NULL,
		    "the quarantined file is not a regular file");
		return;
	}
	check->size = (uint64_t)st.st_size;
	details =
	    json_pack("{s:I, s:I}", "size_bytes", (json_int_t)check->size,
		      "max_file_size", (json_int_t)cfg->rules.max_file_size);

	if (check->size != cfg->size_bytes)
		airlock_report_add(&check->report, "size", AIRLOCK_FAIL,
				   details,
				   "the file has %llu bytes but the request "
				   "recorded %llu; submit it again",
				   (unsigned long long)check->size,
				   (unsigned long long)cfg->size_bytes);
	else if (check->size > cfg->rules.max_file_size)
		airlock_report_add(
		    &check->report, "size", AIRLOCK_FAIL, details,
		    "the file has %s, more than the policy's maximum of %s",
		    size_text(check->size, have, sizeof(have)),
		    size_text(cfg->rules.max_file_size, limit, sizeof(limit)));
	else
		airlock_report_add(
		    &check->report, "size", AIRLOCK_PASS, details,
		    "%s, within the maximum of %s",
		    size_text(check->size, have, sizeof(have)),
		    size_text(cfg->rules.max_file_size, limit, sizeof(limit)));
}

void airlock_check_type(struct airlock_check *check)
{
	char reason[384];

	airlock_magic_identify_fd(check->magic, check->fd, check->report.mime,
				  sizeof(check->report.mime),
				  check->report.description,
				  sizeof(check->report.description));
	airlock_extension(check->cfg->file_name, check->extension,
			  sizeof(check->extension));

	enum airlock_result result =
	    airlock_type_judge(&check->cfg->rules, check->extension,
			       check->report.mime, reason, sizeof(reason));
	airlock_report_add(&check->report, "type", result,
			   json_pack("{s:s, s:s}", "extension",
				     check->extension, "mime",
				     check->report.mime),
			   "%s", reason);
}

static bool is_table(const struct airlock_check *check)
{
	const char *mime = check->report.mime;

	if (strcmp(mime, "text/csv") == 0)
		return true;
	return strncmp(mime, "text/", 5) == 0 &&
	       (strcmp(check->extension, "csv") == 0 ||
		strcmp(check->extension, "tsv") == 0);
}

void airlock_check_run(struct airlock_check *check)
{
	airlock_check_size(check);
	/* A file over the size limit is not opened further: it fails anyway,
	 * and parsing it would only cost time. */
	if (check->report.worst == AIRLOCK_FAIL)
		return;

	airlock_check_type(check);

	/* The content checks follow the content, not the name, so a zip
	 * named plot.png is still opened as an archive for the reviewer. */
	const char *mime = check->report.mime;
	if (airlock_mime_is_archive(mime))
		airlock_check_archive(check);
	else if (is_table(check) &&
		 strcmp(check->cfg->direction, "export") == 0)
		/* Disclosure control protects what leaves a workspace. A
		 * table coming in, such as a code list, has small numbers
		 * that disclose nothing. */
		airlock_check_table(check);
	else if (strcmp(mime, "application/dicom") == 0 &&
		 check->cfg->rules.dicom_check)
		airlock_check_dicom(check);

	airlock_check_malware(check);
}
