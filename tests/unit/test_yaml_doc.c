/* Strict YAML helper: sizes, durations, and the walk's error reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/yaml_doc.h"

static char *write_temp(const char *content)
{
	char *path = strdup("/tmp/test_yaml_doc.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(content);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	close(fd);
	return path;
}

struct sample {
	char *name;
	bool enabled;
	uint32_t count;
	double ratio;
	uint64_t size_bytes;
	int64_t timeout_ms;
	int mode;
	struct yaml_string_list tags;
	struct {
		uint32_t depth;
	} inner;
};

static const char *const mode_names[] = {"off", "text", NULL};

static const struct yaml_field inner_fields[] = {
    {.key = "depth",
     .type = YAML_FIELD_UINT32,
     .offset = 0,
     .min = 1,
     .max = 9,
     .default_uint = 3},
    {0},
};

static const struct yaml_field sample_fields[] = {
    {.key = "name",
     .type = YAML_FIELD_STRING,
     .offset = offsetof(struct sample, name),
     .required = true},
    {.key = "enabled",
     .type = YAML_FIELD_BOOL,
     .offset = offsetof(struct sample, enabled),
     .default_uint = true},
    {.key = "count",
     .type = YAML_FIELD_UINT32,
     .offset = offsetof(struct sample, count),
     .min = 1,
     .max = 100,
     .default_uint = 7},
    {.key = "ratio",
     .type = YAML_FIELD_DOUBLE,
     .offset = offsetof(struct sample, ratio),
     .min_double = 0.0,
     .max_double = 1.0,
     .default_double = 0.5},
    {.key = "size",
     .type = YAML_FIELD_SIZE,
     .offset = offsetof(struct sample, size_bytes),
     .min = 1,
     .max = 1ull << 40,
     .default_uint = 1024},
    {.key = "timeout",
     .type = YAML_FIELD_DURATION,
     .offset = offsetof(struct sample, timeout_ms),
     .min = 1000,
     .max = 86400000,
     .default_uint = 60000},
    {.key = "mode",
     .type = YAML_FIELD_ENUM,
     .offset = offsetof(struct sample, mode),
     .names = mode_names},
    {.key = "tags",
     .type = YAML_FIELD_STRING_LIST,
     .offset = offsetof(struct sample, tags),
     .max = 3},
    {.key = "inner",
     .type = YAML_FIELD_MAPPING,
     .offset = offsetof(struct sample, inner),
     .fields = inner_fields},
    {0},
};

/* Loads CONTENT, walks it into SAMPLE and returns the error count; the
 * diagnostics stay in DIAGS. */
static size_t walk_sample(const char *content, struct sample *sample,
			  struct diag_list *diags)
{
	char *path = write_temp(content);
	struct yaml_doc *doc = NULL;
	memset(sample, 0, sizeof(*sample));
	diag_list_init(diags);
	assert_int_equal(yaml_doc_load(path, &doc, diags), 0);

	struct yaml_walk walk;
	assert_int_equal(yaml_walk_init(&walk, doc, diags, NULL), 0);
	yaml_walk_mapping(&walk, yaml_doc_root(doc), "", sample_fields, sample);
	size_t errors = walk.error_count;
	yaml_walk_finish(&walk);
	yaml_doc_free(doc);
	unlink(path);
	free(path);
	return errors;
}

static const struct diag *find_diag(const struct diag_list *diags,
				    const char *key_path)
{
	for (size_t i = 0; i < diags->count; i++)
		if (strcmp(diags->items[i].key_path, key_path) == 0)
			return &diags->items[i];
	fail_msg("no diagnostic for %s", key_path);
	return NULL;
}

static void size_parse_valid(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
	    {"0", 0},
	    {"4096", 4096},
	    {"512MiB", 512ull << 20},
	    {"2GiB", 2ull << 30},
	    {"1TiB", 1ull << 40},
	    {"10KB", 10000},
	    {"3MB", 3000000},
	    {"7B", 7},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t bytes = 1;
		assert_int_equal(yaml_parse_size(cases[i].text, &bytes), 0);
		assert_int_equal(bytes, cases[i].bytes);
	}
}

static void size_parse_invalid(void **state)
{
	static const char *const cases[] = {
	    "",
	    "MiB",
	    "1.5GiB",
	    "12 MiB",
	    "5XB",
	    "-1",
	    "1mib",
	    "99999999999999TiB",
	    "18446744073709551616",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t bytes;
		assert_int_equal(yaml_parse_size(cases[i], &bytes), -1);
	}
}

static void duration_parse_valid(void **state)
{
	static const struct {
		const char *text;
		int64_t ms;
	} cases[] = {
	    {"250ms", 250},   {"10s", 10000},	 {"30m", 1800000},
	    {"8h", 28800000}, {"7d", 604800000}, {"1h30m", 5400000},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = -1;
		assert_int_equal(yaml_parse_duration(cases[i].text, &ms), 0);
		assert_int_equal(ms, cases[i].ms);
	}
}

static void duration_parse_invalid(void **state)
{
	static const char *const cases[] = {
	    "", "30", "m", "1x", "1.5h", "10 s", "-5m", "999999999999999999d",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms;
		assert_int_equal(yaml_parse_duration(cases[i], &ms), -1);
	}
}

static void format_uses_largest_unit(void **state)
{
	char text[32];
	yaml_format_size(512ull << 20, text, sizeof(text));
	assert_string_equal(text, "512MiB");
	yaml_format_size(1000, text, sizeof(text));
	assert_string_equal(text, "1000");
	yaml_format_duration(5400000, text, sizeof(text));
	assert_string_equal(text, "90m");
	yaml_format_duration(1500, text, sizeof(text));
	assert_string_equal(text, "1500ms");
	yaml_format_duration(86400000, text, sizeof(text));
	assert_string_equal(text, "1d");
}

static void walk_fills_values(void **state)
{
	struct sample s;
	struct diag_list diags;
	size_t errors = walk_sample("name: alpha\n"
				    "enabled: false\n"
				    "count: 42\n"
				    "ratio: 0.25\n"
				    "size: 2GiB\n"
				    "timeout: 1h30m\n"
				    "mode: text\n"
				    "tags: [a, b]\n"
				    "inner: {depth: 5}\n",
				    &s, &diags);
	assert_int_equal(errors, 0);
	assert_string_equal(s.name, "alpha");
	assert_false(s.enabled);
	assert_int_equal(s.count, 42);
	assert_true(s.ratio == 0.25);
	assert_int_equal(s.size_bytes, 2ull << 30);
	assert_int_equal(s.timeout_ms, 5400000);
	assert_int_equal(s.mode, 1);
	assert_int_equal(s.tags.count, 2);
	assert_string_equal(s.tags.items[1], "b");
	assert_int_equal(s.inner.depth, 5);
	yaml_fields_free(sample_fields, &s);
	diag_list_clear(&diags);
}

static void walk_fills_defaults(void **state)
{
	struct sample s;
	struct diag_list diags;
	assert_int_equal(walk_sample("name: beta\n", &s, &diags), 0);
	assert_true(s.enabled);
	assert_int_equal(s.count, 7);
	assert_true(s.ratio == 0.5);
	assert_int_equal(s.size_bytes, 1024);
	assert_int_equal(s.timeout_ms, 60000);
	assert_int_equal(s.mode, 0);
	assert_int_equal(s.tags.count, 0);
	assert_int_equal(s.inner.depth, 3);
	yaml_fields_free(sample_fields, &s);
	diag_list_clear(&diags);
}

static void walk_unknown_key(void **state)
{
	struct sample s;
	struct diag_list diags;
	assert_int_equal(walk_sample("name: x\n"
				     "inner:\n"
				     "  depht: 4\n",
				     &s, &diags),
			 1);
	const struct diag *d = find_diag(&diags, "inner.depht");
	assert_int_equal(d->line, 3);
	assert_int_equal(d->column, 3);
	assert_non_null(strstr(d->message, "unknown key"));
	assert_non_null(strstr(d->message, "depth"));
	yaml_fields_free(sample_fields, &s);
	diag_list_clear(&diags);
}

static void walk_duplicate_key(void **state)
{
	struct sample s;
	struct diag_list diags;
	assert_int_equal(walk_sample("name: x\n"
				     "count: 1\n"
				     "count: 2\n",
				     &s, &diags),
			 1);
	const struct diag *d = find_diag(&diags, "count");
	assert_int_equal(d->line, 3);
	assert_int_equal(d->column, 1);
	assert_non_null(strstr(d->message, "duplicate key"));
	assert_non_null(strstr(d->message, "line 2"));
	yaml_fields_free(sample_fields, &s);
	diag_list_clear(&diags);
}

static void walk_wrong_types(void **state)
{
	struct sample s;
	struct diag_list diags;
	assert_int_equal(walk_sample("name: [a]\n"
				     "enabled: yes\n"
				     "count: \"5\"\n"
				     "tags: a\n"
				     "inner: 3\n",
				     &s, &diags),
			 5);
	const struct diag *d = find_diag(&diags, "name");
	assert_int_equal(d->line, 1);
	assert_int_equal(d->column, 7);
	assert_non_null(strstr(d->message, "expected a string"));
	d = find_diag(&diags, "enabled");
	assert_int_equal(d->line, 2);
	assert_non_null(strstr(d->message, "true or false"));
	d = find_diag(&diags, "count");
	assert_int_equal(d->column, 8);
	assert_non_null(strstr(d->message, "quoted"));
	d = find_diag(&diags, "tags");
	assert_non_null(strstr(d->message, "expected a list"));
	d = find_diag(&diags, "inner");
	assert_int_equal(d->line, 5);
	assert_non_null(strstr(d->message, "expected a mapping"));
	yaml_fields_free(sample_fields, &s);
	diag_list_clear(&diags);
}

static void walk_out_of_range(void **state)
{
	struct sample s;
	struct diag_list diags;
	assert_int_equal(walk_sample("name: x\n"
				     "count: 101\n"
				     "ratio: 1.5\n"
				     "size: 2TiB\n"
				     "timeout: 2d\n"
				     "mode: binary\n"
				     "tags: [a, b, c, d]\n",
				     &s, &diags),
			 6);
	const struct diag *d = find_diag(&diags, "count");
	assert_int_equal(d->line, 2);
	assert_int_equal(d->column, 8);
	assert_non_null(strstr(d->message, "out of range: use 1 to 100"));
	d = find_diag(&diags, "ratio");
	assert_non_null(strstr(d->message, "out of range"));
	d = find_diag(&diags, "size");
	assert_non_null(strstr(d->message, "use 1 to 1TiB"));
	d = find_diag(&diags, "timeout");
	assert_non_null(strstr(d->message, "use 1s to 1d"));
	d = find_diag(&diags, "mode");
	assert_non_null(strstr(d->message, "off, text"));
	d = find_diag(&diags, "tags");
	assert_non_null(strstr(d->message, "maximum of 3"));
	yaml_fields_free(sample_fields, &s);
	diag_list_clear(&diags);
}

static void walk_missing_required(void **state)
{
	struct sample s;
	struct diag_list diags;
	assert_int_equal(walk_sample("count: 3\n", &s, &diags), 1);
	const struct diag *d = find_diag(&diags, "name");
	assert_int_equal(d->line, 1);
	assert_non_null(strstr(d->message, "missing required key"));
	yaml_fields_free(sample_fields, &s);
	diag_list_clear(&diags);
}

static void walk_rejects_alias(void **state)
{
	struct sample s;
	struct diag_list diags;
	assert_int_equal(walk_sample("name: &n x\n"
				     "tags: [*n]\n",
				     &s, &diags),
			 1);
	const struct diag *d = find_diag(&diags, "tags[0]");
	assert_non_null(strstr(d->message, "aliases"));
	yaml_fields_free(sample_fields, &s);
	diag_list_clear(&diags);
}

static void load_syntax_error(void **state)
{
	char *path = write_temp("name: x\n"
				"tags: [a, b\n"
				"count: 3\n");
	struct yaml_doc *doc = NULL;
	struct diag_list diags;
	diag_list_init(&diags);
	assert_int_equal(yaml_doc_load(path, &doc, &diags), -1);
	assert_null(doc);
	assert_int_equal(diags.count, 1);
	assert_int_equal(diags.items[0].line, 3);
	assert_non_null(strstr(diags.items[0].message, "invalid YAML"));
	assert_string_equal(diags.items[0].file, path);
	diag_list_clear(&diags);
	unlink(path);
	free(path);
}

static void load_second_document(void **state)
{
	char *path = write_temp("name: x\n---\nname: y\n");
	struct yaml_doc *doc = NULL;
	struct diag_list diags;
	diag_list_init(&diags);
	assert_int_equal(yaml_doc_load(path, &doc, &diags), -1);
	assert_int_equal(diags.count, 1);
	assert_int_equal(diags.items[0].line, 2);
	assert_non_null(strstr(diags.items[0].message, "second YAML"));
	diag_list_clear(&diags);
	unlink(path);
	free(path);
}

static void load_missing_file(void **state)
{
	struct yaml_doc *doc = NULL;
	struct diag_list diags;
	diag_list_init(&diags);
	assert_int_equal(
	    yaml_doc_load("/nonexistent/trellis.yaml", &doc, &diags), -1);
	assert_int_equal(diags.count, 1);
	assert_int_equal(diags.items[0].line, 0);
	assert_non_null(strstr(diags.items[0].message, "No such file"));
	diag_list_clear(&diags);
}

static void load_rejects_fifo(void **state)
{
	char dir[] = "/tmp/test_yaml_doc_fifo.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[sizeof(dir) + 16];
	snprintf(path, sizeof(path), "%s/policy.yaml", dir);
	assert_int_equal(mkfifo(path, 0600), 0);

	/* Opening a FIFO without O_NONBLOCK waits for a writer forever, so a
	 * regression ends the test with SIGALRM instead of hanging it. */
	alarm(10);
	struct yaml_doc *doc = NULL;
	struct diag_list diags;
	diag_list_init(&diags);
	assert_int_equal(yaml_doc_load(path, &doc, &diags), -1);
	alarm(0);

	assert_null(doc);
	assert_int_equal(diags.count, 1);
	assert_non_null(strstr(diags.items[0].message, "not a regular file"));
	diag_list_clear(&diags);
	unlink(path);
	rmdir(dir);
}

static void load_rejects_directory(void **state)
{
	struct yaml_doc *doc = NULL;
	struct diag_list diags;
	diag_list_init(&diags);
	assert_int_equal(yaml_doc_load("/tmp", &doc, &diags), -1);
	assert_int_equal(diags.count, 1);
	assert_non_null(strstr(diags.items[0].message, "not a regular file"));
	diag_list_clear(&diags);
}

/* Returns DEPTH nested flow lists: "[[[...]]]". */
static char *nested_lists(size_t depth)
{
	char *text = malloc(2 * depth + 1);
	assert_non_null(text);
	memset(text, '[', depth);
	memset(text + depth, ']', depth);
	text[2 * depth] = '\0';
	return text;
}

static void load_depth_at_limit(void **state)
{
	char *text = nested_lists(YAML_DOC_MAX_DEPTH);
	char *path = write_temp(text);
	struct yaml_doc *doc = NULL;
	struct diag_list diags;
	diag_list_init(&diags);
	assert_int_equal(yaml_doc_load(path, &doc, &diags), 0);
	assert_int_equal(diags.count, 0);
	yaml_doc_free(doc);
	unlink(path);
	free(path);
	free(text);
}

static void load_depth_above_limit(void **state)
{
	char *text = nested_lists(YAML_DOC_MAX_DEPTH + 1);
	char *path = write_temp(text);
	struct yaml_doc *doc = NULL;
	struct diag_list diags;
	diag_list_init(&diags);
	assert_int_equal(yaml_doc_load(path, &doc, &diags), -1);
	assert_null(doc);
	assert_int_equal(diags.count, 1);
	assert_int_equal(diags.items[0].line, 1);
	assert_int_equal(diags.items[0].column, YAML_DOC_MAX_DEPTH + 1);
	assert_non_null(strstr(diags.items[0].message, "nested more than 64"));
	diag_list_clear(&diags);
	unlink(path);
	free(path);
	free(text);
}

static void load_depth_block_style(void **state)
{
	/* "a:\n b:\n  c: ..." with one more space per level. */
	size_t levels = YAML_DOC_MAX_DEPTH + 1;
	char *text = malloc(levels * (levels + 4) + 2);
	assert_non_null(text);
	size_t used = 0;
	for (size_t i = 0; i < levels; i++) {
		memset(text + used, ' ', i);
		used += i;
		memcpy(text + used, "k:\n", 3);
		used += 3;
	}
	memset(text + used, ' ', levels);
	used += levels;
	memcpy(text + used, "1\n", 3);
	text[used + 2] = '\0';

	char *path = write_temp(text);
	struct yaml_doc *doc = NULL;
	struct diag_list diags;
	diag_list_init(&diags);
	assert_int_equal(yaml_doc_load(path, &doc, &diags), -1);
	assert_int_equal(diags.count, 1);
	assert_non_null(strstr(diags.items[0].message, "nested more than 64"));
	diag_list_clear(&diags);
	unlink(path);
	free(path);
	free(text);
}

/* A file at the size limit that is one nested list: libyaml alone would
 * take hours on it. */
static void load_depth_max_size(void **state)
{
	char *text = nested_lists(YAML_DOC_MAX_BYTES / 2);
	assert_int_equal(strlen(text), YAML_DOC_MAX_BYTES);
	char *path = write_temp(text);
	struct yaml_doc *doc = NULL;
	struct diag_list diags;
	diag_list_init(&diags);
	assert_int_equal(yaml_doc_load(path, &doc, &diags), -1);
	assert_null(doc);
	assert_int_equal(diags.count, 1);
	assert_non_null(strstr(diags.items[0].message, "nested more than 64"));
	diag_list_clear(&diags);
	unlink(path);
	free(path);
	free(text);
}

static void diag_print_format(void **state)
{
	struct diag_list diags;
	diag_list_init(&diags);
	diag_add(&diags, "p.yaml", 3, 5, "a.b", "bad %s", "value");
	diag_add(&diags, "p.yaml", 0, 0, NULL, "cannot open");

	char buf[256] = "";
	FILE *out = fmemopen(buf, sizeof(buf), "w");
	assert_non_null(out);
	diag_list_print(&diags, out);
	fclose(out);
	assert_string_equal(buf, "p.yaml:3:5: a.b: bad value\n"
				 "p.yaml: cannot open\n");
	diag_list_clear(&diags);
	assert_int_equal(diags.count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(size_parse_valid),
	    cmocka_unit_test(size_parse_invalid),
	    cmocka_unit_test(duration_parse_valid),
	    cmocka_unit_test(duration_parse_invalid),
	    cmocka_unit_test(format_uses_largest_unit),
	    cmocka_unit_test(walk_fills_values),
	    cmocka_unit_test(walk_fills_defaults),
	    cmocka_unit_test(walk_unknown_key),
	    cmocka_unit_test(walk_duplicate_key),
	    cmocka_unit_test(walk_wrong_types),
	    cmocka_unit_test(walk_out_of_range),
	    cmocka_unit_test(walk_missing_required),
	    cmocka_unit_test(walk_rejects_alias),
	    cmocka_unit_test(load_syntax_error),
	    cmocka_unit_test(load_second_document),
	    cmocka_unit_test(load_missing_file),
	    cmocka_unit_test(load_rejects_fifo),
	    cmocka_unit_test(load_rejects_directory),
	    cmocka_unit_test(load_depth_at_limit),
	    cmocka_unit_test(load_depth_above_limit),
	    cmocka_unit_test(load_depth_block_style),
	    cmocka_unit_test(load_depth_max_size),
	    cmocka_unit_test(diag_print_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
