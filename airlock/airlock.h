/* The airlock's automatic checks of one quarantined file.
 *
 * trellis-airlock-check runs these checks in a sandboxed process, one per
 * file, and sends the master a verdict: each check adds findings (pass,
 * review or fail, with a reason a reviewer can read), and the verdict is the
 * worst finding. docs/airlock-checks.md describes every check and the rules
 * that decide its result. */
#ifndef TRELLIS_AIRLOCK_H
#define TRELLIS_AIRLOCK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum airlock_result {
	AIRLOCK_PASS = 0,
	AIRLOCK_REVIEW = 1,
	AIRLOCK_FAIL = 2,
};

const char *airlock_result_name(enum airlock_result result);

/* Statistical disclosure control parameters of the policy. */
struct airlock_sdc_rules {
	int64_t min_cell_count;
	int dominance_n;
	double dominance_k;
	double p_ratio;
	bool zeros_disclosive;
};

/* The policy's airlock rules for one direction (export or import). */
struct airlock_rules {
	uint64_t max_file_size;
	char **allowed_types; /* lower-case extensions without the dot */
	size_t allowed_types_count;
	struct airlock_sdc_rules sdc;
	bool dicom_check;
	bool malware_scan_required;
};

struct airlock_limits {
	uint64_t max_archive_entries;
	double max_expansion_ratio; /* expanded bytes per byte of archive */
	uint64_t max_expanded_bytes;
};

/* The master's IPC_WORKER_CONFIG for one file. */
struct airlock_config {
	char *file_name; /* the requester's name, used for its extension */
	uint64_t size_bytes;
	char *direction; /* "export" or "import" */
	struct airlock_rules rules;
	struct airlock_limits limits;
	int64_t clamd_timeout_ms;
};

/* Fills CFG from the JSON body of IPC_WORKER_CONFIG. Returns 0, or -1 with a
 * message naming the invalid key in ERR. */
int airlock_config_parse(const json_t *body, struct airlock_config *cfg,
			 char *err, size_t err_size);
void airlock_config_clear(struct airlock_config *cfg);
bool airlock_rules_allow_type(const struct airlock_rules *rules,
			      const char *extension);

/* The findings of one check run, built into the verdict message. */
struct airlock_report {
	json_t *findings;
	json_t *archive_entries;
	json_t *flagged_cells;
	size_t flagged_cells_total;
	size_t archive_entries_total;
	char mime[128];
	char description[256];
	enum airlock_result worst;
};

/* At most this many flagged cells and archive entries are listed, and
 * names in them are cut to AIRLOCK_NAME_SHOWN_MAX bytes. The totals are
 * always exact. A verdict that would still exceed IPC_MAX_PAYLOAD drops
 * the lists and sets "lists_dropped". */
#define AIRLOCK_LIST_MAX       1000
#define AIRLOCK_NAME_SHOWN_MAX 128

/* Copies IN to OUT as valid UTF-8 without control characters, which JSON
 * strings need: each invalid byte becomes '?'. Cuts at OUT_SIZE - 1 bytes,
 * never inside a character. */
void airlock_text_clean(char *out, size_t out_size, const char *in);

void airlock_report_init(struct airlock_report *report);
void airlock_report_clear(struct airlock_report *report);
/* Adds a finding. DETAILS is a JSON object or NULL; the report takes its
 * reference. */
void airlock_report_add(struct airlock_report *report, const char *check,
			enum airlock_result result, json_t *details,
			const char *reason_format, ...)
    __attribute__((format(printf, 5, 6)));
void airlock_report_flag_cell(struct airlock_report *report, uint64_t row,
			      uint64_t column, const char *column_name,
			      const char *value, const char *rule);
void airlock_report_add_entry(struct airlock_report *report, json_t *entry);
/* Builds the IPC_AIRLOCK_VERDICT body; the caller owns the reference. */
json_t *airlock_report_verdict(const struct airlock_report *report);

/* Content type detection with libmagic. The database is loaded when the
 * handle is opened, which must happen before the seccomp filter. */
struct airlock_magic;

struct airlock_magic *airlock_magic_open(char *err, size_t err_size);
void airlock_magic_close(struct airlock_magic *magic);
/* Writes the MIME type and the description of the bytes in DATA. */
int airlock_magic_identify(struct airlock_magic *magic, const void *data,
			   size_t len, char *mime, size_t mime_size,
			   char *description, size_t description_size);

/* Same, reading the file FD from its start. */
int airlock_magic_identify_fd(struct airlock_magic *magic, int fd, char *mime,
			      size_t mime_size, char *description,
			      size_t description_size);

/* Writes the lower-case text after the last dot of NAME (empty when there
 * is none or it is longer than OUT allows). */
void airlock_extension(const char *name, char *out, size_t out_size);
/* Decides whether a file with EXTENSION and content MIME may pass RULES.
 * Writes a reason for a reviewer into REASON. */
enum airlock_result airlock_type_judge(const struct airlock_rules *rules,
				       const char *extension, const char *mime,
				       char *reason, size_t reason_size);
bool airlock_mime_is_archive(const char *mime);
bool airlock_extension_is_archive(const char *extension);

/* One file under check. */
struct airlock_check {
	const struct airlock_config *cfg;
	int fd; /* the file, open read-only; read with pread */
	uint64_t size;
	int clamd_fd; /* connected to clamd, or -1 */
	struct airlock_magic *magic;
	char extension[16];
	struct airlock_report report;
};

void airlock_check_size(struct airlock_check *check);
void airlock_check_type(struct airlock_check *check);
void airlock_check_archive(struct airlock_check *check);
void airlock_check_table(struct airlock_check *check);
void airlock_check_dicom(struct airlock_check *check);
void airlock_check_malware(struct airlock_check *check);
/* Runs every check that applies to the file, in the order above. */
void airlock_check_run(struct airlock_check *check);

/* Loads the DICOM data dictionary; call before the seccomp filter. */
int airlock_dicom_init(char *err, size_t err_size);

/* Process limits and the seccomp filter of the checker. */
int airlock_sandbox_limit_resources(void);
int airlock_sandbox_apply(void);

#endif
