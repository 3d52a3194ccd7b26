/* Extension and content rules, the worker configuration and the verdict of
 * the airlock checker. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "airlock/airlock.h"

static const char config_text[] =
    "{\"file_name\": \"results.CSV\", \"size_bytes\": 12, \"direction\": "
    "\"export\", \"rules\": {\"max_file_size\": 1000, \"allowed_types\": "
    "[\"csv\", \"png\", \"zip\"], \"disclosure_control\": "
    "{\"min_cell_count\": 10, \"dominance\": {\"n\": 2, \"k\": 0.9}, "
    "\"p_ratio\": 0.1, \"zeros_disclosive\": true}, \"dicom_check\": true, "
    "\"malware_scan_required\": false}, \"limits\": "
    "{\"max_archive_entries\": 5, \"max_expansion_ratio\": 50, "
    "\"max_expanded_bytes\": 1000000}, \"clamd_timeout_ms\": 2000}";

static int parse_config(const char *text, struct airlock_config *cfg, char *err,
			size_t err_size)
{
	json_t *body = json_loads(text, 0, NULL);

	assert_non_null(body);
	int rc = airlock_config_parse(body, cfg, err, err_size);
	json_decref(body);
	return rc;
}

static void extension_lowercased(void **state)
{
	char ext[16];

	airlock_extension("results.CSV", ext, sizeof(ext));
	assert_string_equal(ext, "csv");
	airlock_extension("archive.tar.gz", ext, sizeof(ext));
	assert_string_equal(ext, "gz");
	airlock_extension("README", ext, sizeof(ext));
	assert_string_equal(ext, "");
	airlock_extension(".bashrc", ext, sizeof(ext));
	assert_string_equal(ext, "");
	airlock_extension("trailing.", ext, sizeof(ext));
	assert_string_equal(ext, "");
	airlock_extension("x.averyveryverylongextension", ext, sizeof(ext));
	assert_string_equal(ext, "");
	airlock_extension("x.c\xc3\xa9v", ext, sizeof(ext));
	assert_string_equal(ext, "");
}

static void text_clean_cases(void **state)
{
	char out[16];

	airlock_text_clean(out, sizeof(out), "plain");
	assert_string_equal(out, "plain");
	airlock_text_clean(out, sizeof(out), "caf\xc3\xa9");
	assert_string_equal(out, "caf\xc3\xa9");
	airlock_text_clean(out, sizeof(out),
			   "a\xff\x01"
			   "b");
	assert_string_equal(out, "a??b");
	/* An overlong encoding of '/' and a lone surrogate are invalid. */
	airlock_text_clean(out, sizeof(out), "\xc0\xaf\xed\xa0\x80");
	assert_string_equal(out, "?????");
	/* A cut never splits a character. */
	airlock_text_clean(out, 6, "abcd\xc3\xa9");
	assert_string_equal(out, "abcd");
}

static void verdict_with_binary_text(void **state)
{
	struct airlock_report report;

	airlock_report_init(&report);
	airlock_report_add(&report, "archive", AIRLOCK_FAIL, NULL,
			   "entry \"%s\" is bad", "\x80\x81.zip");
	airlock_report_flag_cell(&report, 2, 1, "\xfe", "\xff", "zero");
	json_t *verdict = airlock_report_verdict(&report);
	json_t *finding =
	    json_array_get(json_object_get(verdict, "findings"), 0);
	assert_string_equal(
	    json_string_value(json_object_get(finding, "reason")),
	    "entry \"??.zip\" is bad");
	json_t *cell =
	    json_array_get(json_object_get(verdict, "flagged_cells"), 0);
	assert_string_equal(json_string_value(json_object_get(cell, "value")),
			    "?");
	json_decref(verdict);
	airlock_report_clear(&report);
}

static void judge_cases(void **state)
{
	struct airlock_config cfg;
	char err[256];
	char reason[384];

	assert_int_equal(parse_config(config_text, &cfg, err, sizeof(err)), 0);
	const struct airlock_rules *rules = &cfg.rules;

	assert_int_equal(airlock_type_judge(rules, "csv", "text/csv", reason,
					    sizeof(reason)),
			 AIRLOCK_PASS);
	assert_int_equal(airlock_type_judge(rules, "csv", "text/plain", reason,
					    sizeof(reason)),
			 AIRLOCK_PASS);
	assert_int_equal(airlock_type_judge(rules, "png", "application/zip",
					    reason, sizeof(reason)),
			 AIRLOCK_FAIL);
	assert_non_null(strstr(reason, "does not match"));
	assert_int_equal(airlock_type_judge(rules, "csv",
					    "application/x-pie-executable",
					    reason, sizeof(reason)),
			 AIRLOCK_FAIL);
	assert_int_equal(airlock_type_judge(rules, "pdf", "application/pdf",
					    reason, sizeof(reason)),
			 AIRLOCK_FAIL);
	assert_non_null(strstr(reason, "not allowed by the policy"));
	assert_int_equal(
	    airlock_type_judge(rules, "", "text/plain", reason, sizeof(reason)),
	    AIRLOCK_FAIL);
	airlock_config_clear(&cfg);
}

/* An extension the policy allows but the table lacks fails, because its
 * content cannot be confirmed. */
static void judge_unknown_extension(void **state)
{
	char *types[] = {"weird", NULL};
	struct airlock_rules rules = {.allowed_types = types,
				      .allowed_types_count = 1};
	char reason[384];

	assert_int_equal(airlock_type_judge(&rules, "weird", "text/plain",
					    reason, sizeof(reason)),
			 AIRLOCK_FAIL);
	assert_non_null(strstr(reason, "no content rule"));
}

static void magic_identifies_content(void **state)
{
	static const unsigned char png[] = {
	    0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0,
	    0,	  13,  'I', 'H', 'D',  'R',  0,	   0,	 0, 1,
	    0,	  0,   0,   1,	 8,    0,    0,	   0,	 0};
	static const char csv[] = "a,b,c\n1,2,3\n4,5,6\n";
	char mime[128];
	char description[256];
	char err[256];
	static unsigned char elf[1024 * 1024];

	struct airlock_magic *magic = airlock_magic_open(err, sizeof(err));
	assert_non_null(magic);

	airlock_magic_identify(magic, png, sizeof(png), mime, sizeof(mime),
			       description, sizeof(description));
	assert_string_equal(mime, "image/png");
	airlock_magic_identify(magic, csv, strlen(csv), mime, sizeof(mime),
			       description, sizeof(description));
	assert_string_equal(mime, "text/csv");

	int fd = open("/bin/true", O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, elf, sizeof(elf));
	close(fd);
	assert_true(n > 64 && (size_t)n < sizeof(elf));
	airlock_magic_identify(magic, elf, (size_t)n, mime, sizeof(mime),
			       description, sizeof(description));
	assert_non_null(strstr(description, "ELF"));

	/* From a descriptor, libmagic also reads the dynamic section, which
	 * distinguishes a PIE program from a library. */
	fd = open("/bin/true", O_RDONLY);
	assert_true(fd >= 0);
	airlock_magic_identify_fd(magic, fd, mime, sizeof(mime), description,
				  sizeof(description));
	close(fd);
	assert_string_equal(mime, "application/x-pie-executable");
	airlock_magic_close(magic);
}

static void config_valid(void **state)
{
	struct airlock_config cfg;
	char err[256];

	assert_int_equal(parse_config(config_text, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.file_name, "results.CSV");
	assert_int_equal(cfg.size_bytes, 12);
	assert_string_equal(cfg.direction, "export");
	assert_int_equal(cfg.rules.max_file_size, 1000);
	assert_int_equal(cfg.rules.allowed_types_count, 3);
	assert_true(airlock_rules_allow_type(&cfg.rules, "png"));
	assert_false(airlock_rules_allow_type(&cfg.rules, "pdf"));
	assert_int_equal(cfg.rules.sdc.min_cell_count, 10);
	assert_int_equal(cfg.rules.sdc.dominance_n, 2);
	assert_true(cfg.rules.sdc.zeros_disclosive);
	assert_int_equal(cfg.limits.max_archive_entries, 5);
	assert_int_equal(cfg.clamd_timeout_ms, 2000);
	airlock_config_clear(&cfg);
}

static void config_rejects(const char *from, const char *to, const char *key)
{
	char text[sizeof(config_text) + 64];
	char err[256];
	struct airlock_config cfg;
	const char *at = strstr(config_text, from);

	assert_non_null(at);
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - config_text),
		 config_text, to, at + strlen(from));
	assert_int_equal(parse_config(text, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, key));
}

static void config_invalid(void **state)
{
	config_rejects("\"export\"", "\"sideways\"", "direction");
	config_rejects("\"results.CSV\"", "\"../x.csv\"", "file_name");
	config_rejects("[\"csv\",", "[\"CSV\",", "allowed_types");
	config_rejects("\"k\": 0.9", "\"k\": 1.5", "k");
	config_rejects("\"min_cell_count\": 10", "\"min_cell_count\": 0",
		       "min_cell_count");
	config_rejects("\"dicom_check\": true", "\"dicom_check\": 1",
		       "dicom_check");
	config_rejects("\"max_file_size\": 1000,", "", "max_file_size");
}

static void verdict_is_worst_finding(void **state)
{
	struct airlock_report report;

	airlock_report_init(&report);
	airlock_report_add(&report, "size", AIRLOCK_PASS, NULL, "ok");
	airlock_report_add(&report, "table", AIRLOCK_REVIEW, NULL, "look");
	json_t *verdict = airlock_report_verdict(&report);
	assert_string_equal(
	    json_string_value(json_object_get(verdict, "verdict")), "review");
	assert_int_equal(json_array_size(json_object_get(verdict, "findings")),
			 2);
	json_decref(verdict);

	airlock_report_add(&report, "type", AIRLOCK_FAIL, NULL, "bad");
	airlock_report_add(&report, "malware", AIRLOCK_PASS, NULL, "ok");
	verdict = airlock_report_verdict(&report);
	assert_string_equal(
	    json_string_value(json_object_get(verdict, "verdict")), "fail");
	json_decref(verdict);
	airlock_report_clear(&report);
}

static void verdict_without_findings_fails(void **state)
{
	struct airlock_report report;

	airlock_report_init(&report);
	json_t *verdict = airlock_report_verdict(&report);
	assert_string_equal(
	    json_string_value(json_object_get(verdict, "verdict")), "fail");
	json_decref(verdict);
	airlock_report_clear(&report);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(extension_lowercased),
	    cmocka_unit_test(judge_cases),
	    cmocka_unit_test(judge_unknown_extension),
	    cmocka_unit_test(magic_identifies_content),
	    cmocka_unit_test(config_valid),
	    cmocka_unit_test(config_invalid),
	    cmocka_unit_test(verdict_is_worst_finding),
	    cmocka_unit_test(verdict_without_findings_fails),
	    cmocka_unit_test(text_clean_cases),
	    cmocka_unit_test(verdict_with_binary_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
