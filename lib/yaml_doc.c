/* Strict YAML loading: libyaml's document tree walked against key tables. */
#include "lib/yaml_doc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"

static int read_file(const char *path, unsigned char **bytes, size_t *size,
		     struct diag_list *diags)
{
	/* O_NONBLOCK makes opening a FIFO return at once instead of waiting
	 * for a writer, so the type check below can reject it. Linux ignores
	 * O_NONBLOCK when reading a regular file. */
	autoclose int fd =
	    open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		diag_add(diags, path, 0, 0, NULL, "cannot open file: %s",
			 strerror(errno));
		return -1;
	}

	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		diag_add(diags, path, 0, 0, NULL,
			 "not a regular file: give the path of a YAML file");
		return -1;
	}
	if ((uint64_t)st.st_size > YAML_DOC_MAX_BYTES) {
		diag_add(diags, path, 0, 0, NULL,
			 "file is %jd bytes, above the maximum of %u bytes",
			 (intmax_t)st.st_size, YAML_DOC_MAX_BYTES);
		return -1;
	}

	/* Reading one byte past the limit detects a file that grew meanwhile.
	 */
	autofree unsigned char *data = malloc(YAML_DOC_MAX_BYTES + 1);
	if (!data) {
		diag_add(diags, path, 0, 0, NULL, "out of memory");
		return -1;
	}
	size_t used = 0;
	while (used <= YAML_DOC_MAX_BYTES) {
		ssize_t n =
		    read(fd, data + used, YAML_DOC_MAX_BYTES + 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			diag_add(diags, path, 0, 0, NULL,
				 "reading file failed: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (used > YAML_DOC_MAX_BYTES) {
		diag_add(diags, path, 0, 0, NULL,
			 "file is above the maximum of %u bytes",
			 YAML_DOC_MAX_BYTES);
		return -1;
	}

	*size = used;
	*bytes = steal_pointer(&data);
	return 0;
}

static void add_parser_error(const yaml_parser_t *parser, const char *path,
			     struct diag_list *diags)
{
	const char *problem = parser->problem ? parser->problem : "unknown";
	if (parser->error == YAML_MEMORY_ERROR) {
		diag_add(diags, path, 0, 0, NULL, "out of memory");
		return;
	}
	if (parser->context)
		diag_add(diags, path, (unsigned)parser->problem_mark.line + 1,
			 (unsigned)parser->problem_mark.column + 1, NULL,
			 "invalid YAML: %s %s", problem, parser->context);
	else
		diag_add(diags, path, (unsigned)parser->problem_mark.line + 1,
			 (unsigned)parser->problem_mark.column + 1, NULL,
			 "invalid YAML: %s", problem);
}

/* Reads the event stream once and rejects collections nested deeper than
 * YAML_DOC_MAX_DEPTH before libyaml builds the tree. libyaml 0.2.5 takes
 * time quadratic in the nesting depth of flow collections (0.34 s at depth
 * 10,000, 24 s at 100,000), so parsing stops at the first level past the
 * limit. */
static int check_nesting(const struct yaml_doc *doc, struct diag_list *diags)
{
	yaml_parser_t parser;
	yaml_event_t event;
	unsigned depth = 0;
	int ret = -1;

	if (!yaml_parser_initialize(&parser)) {
		diag_add(diags, doc->path, 0, 0, NULL, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&parser, doc->bytes, doc->size);

	for (;;) {
		if (!yaml_parser_parse(&parser, &event)) {
			add_parser_error(&parser, doc->path, diags);
			goto out;
		}
		yaml_event_type_t type = event.type;
		yaml_mark_t mark = event.start_mark;
		yaml_event_delete(&event);

		if (type == YAML_STREAM_END_EVENT)
			break;
		if (type == YAML_MAPPING_END_EVENT ||
		    type == YAML_SEQUENCE_END_EVENT) {
			depth--;
			continue;
		}
		if (type != YAML_MAPPING_START_EVENT &&
		    type != YAML_SEQUENCE_START_EVENT)
			continue;
		if (++depth > YAML_DOC_MAX_DEPTH) {
			diag_add(diags, doc->path, (unsigned)mark.line + 1,
				 (unsigned)mark.column + 1, NULL,
				 "lists and mappings are nested more than %u "
				 "levels deep: flatten the structure",
				 YAML_DOC_MAX_DEPTH);
			goto out;
		}
	}
	ret = 0;
out:
	yaml_parser_delete(&parser);
	return ret;
}

static int parse_document(struct yaml_doc *doc, struct diag_list *diags)
{
	yaml_parser_t parser;
	int ret = -1;

	if (!yaml_parser_initialize(&parser)) {
		diag_add(diags, doc->path, 0, 0, NULL, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&parser, doc->bytes, doc->size);

	if (!yaml_parser_load(&parser, &doc->document)) {
		add_parser_error(&parser, doc->path, diags);
		goto out;
	}
	doc->has_document = true;

	if (yaml_document_get_root_node(&doc->document)) {
		yaml_document_t next;
		if (!yaml_parser_load(&parser, &next)) {
			add_parser_error(&parser, doc->path, diags);
			goto out;
		}
		bool second = yaml_document_get_root_node(&next) != NULL;
		yaml_mark_t mark = next.start_mark;
		yaml_document_delete(&next);
		if (second) {
			diag_add(diags, doc->path, (unsigned)mark.line + 1,
				 (unsigned)mark.column + 1, NULL,
				 "file contains a second YAML document: keep "
				 "one document per file");
			goto out;
		}
	}
	ret = 0;
out:
	yaml_parser_delete(&parser);
	return ret;
}

int yaml_doc_load(const char *path, struct yaml_doc **out,
		  struct diag_list *diags)
{
	struct yaml_doc *doc = calloc(1, sizeof(*doc));
	if (!doc || !(doc->path = strdup(path))) {
		free(doc);
		diag_add(diags, path, 0, 0, NULL, "out of memory");
		return -1;
	}

	if (read_file(path, &doc->bytes, &doc->size, diags) < 0 ||
	    check_nesting(doc, diags) < 0 || parse_document(doc, diags) < 0) {
		yaml_doc_free(doc);
		return -1;
	}
	*out = doc;
	return 0;
}

void yaml_doc_free(struct yaml_doc *doc)
{
	if (!doc)
		return;
	if (doc->has_document)
		yaml_document_delete(&doc->document);
	free(doc->bytes);
	free(doc->path);
	free(doc);
}

yaml_node_t *yaml_doc_root(struct yaml_doc *doc)
{
	return yaml_document_get_root_node(&doc->document);
}

int yaml_walk_init(struct yaml_walk *walk, struct yaml_doc *doc,
		   struct diag_list *diags, void *user)
{
	size_t count =
	    (size_t)(doc->document.nodes.top - doc->document.nodes.start);
	memset(walk, 0, sizeof(*walk));
	walk->doc = doc;
	walk->diags = diags;
	walk->user = user;
	walk->node_count = count;
	walk->visited = calloc(count ? count : 1, 1);
	if (!walk->visited) {
		diag_add(diags, doc->path, 0, 0, NULL, "out of memory");
		return -1;
	}
	return 0;
}

void yaml_walk_finish(struct yaml_walk *walk)
{
	free(walk->visited);
	walk->visited = NULL;
}

struct yaml_mark yaml_node_mark(const yaml_node_t *node)
{
	struct yaml_mark mark = {0, 0};
	if (node) {
		mark.line = (unsigned)node->start_mark.line + 1;
		mark.column = (unsigned)node->start_mark.column + 1;
	}
	return mark;
}

static void add_error(struct yaml_walk *walk, struct yaml_mark mark,
		      const char *key_path, const char *fmt, va_list ap)
{
	autofree char *message = NULL;
	if (vasprintf(&message, fmt, ap) < 0)
		message = NULL;
	diag_add(walk->diags, walk->doc->path, mark.line, mark.column, key_path,
		 "%s", message ? message : "out of memory");
	walk->error_count++;
}

void yaml_walk_error(struct yaml_walk *walk, const yaml_node_t *node,
		     const char *key_path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_error(walk, yaml_node_mark(node), key_path, fmt, ap);
	va_end(ap);
}

void yaml_walk_error_at(struct yaml_walk *walk, struct yaml_mark mark,
			const char *key_path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_error(walk, mark, key_path, fmt, ap);
	va_end(ap);
}

yaml_node_t *yaml_walk_node(struct yaml_walk *walk, int index)
{
	return yaml_document_get_node(&walk->doc->document, index);
}

bool yaml_walk_enter(struct yaml_walk *walk, yaml_node_t *node,
		     const char *key_path)
{
	size_t index = (size_t)(node - walk->doc->document.nodes.start);
	if (index >= walk->node_count)
		return false;
	if (walk->visited[index]) {
		yaml_walk_error(walk, node, key_path,
				"aliases (*name) are not supported here: "
				"write the value out");
		return false;
	}
	walk->visited[index] = 1;
	return true;
}

const char *yaml_node_scalar(const yaml_node_t *node)
{
	if (!node || node->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)node->data.scalar.value;
}

bool yaml_node_is_plain(const yaml_node_t *node)
{
	return node && node->type == YAML_SCALAR_NODE &&
	       node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static const char *node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		return "a scalar";
	default:
		return "an empty node";
	}
}

void yaml_path_key(char *buf, size_t size, const char *parent, const char *key)
{
	if (parent && parent[0] != '\0')
		snprintf(buf, size, "%s.%s", parent, key);
	else
		snprintf(buf, size, "%s", key);
}

void yaml_path_index(char *buf, size_t size, const char *parent, size_t index)
{
	snprintf(buf, size, "%s[%zu]", parent ? parent : "", index);
}

void yaml_string_list_free(struct yaml_string_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

struct unit {
	const char *name;
	uint64_t factor;
};

static const struct unit size_units[] = {
    {"B", 1},
    {"KiB", 1ull << 10},
    {"MiB", 1ull << 20},
    {"GiB", 1ull << 30},
    {"TiB", 1ull << 40},
    {"kB", 1000ull},
    {"KB", 1000ull},
    {"MB", 1000ull * 1000},
    {"GB", 1000ull * 1000 * 1000},
    {"TB", 1000ull * 1000 * 1000 * 1000},
    {NULL, 0},
};

static const struct unit duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
    {"d", 24 * 60 * 60 * 1000},
    {NULL, 0},
};

/* Reads the decimal digits at *P. Fails when there are none or on overflow. */
static int read_digits(const char **p, uint64_t *value)
{
	const char *s = *p;
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return -1;
	}
	*p = s;
	*value = v;
	return 0;
}

/* Matches the longest unit name at the start of P. */
static const struct unit *match_unit(const struct unit *units, const char *p,
				     size_t *length)
{
	const struct unit *best = NULL;
	size_t best_length = 0;
	for (const struct unit *u = units; u->name; u++) {
		size_t n = strlen(u->name);
		if (n > best_length && strncmp(p, u->name, n) == 0) {
			best = u;
			best_length = n;
		}
	}
	*length = best_length;
	return best;
}

int yaml_parse_size(const char *text, uint64_t *bytes)
{
	const char *p = text;
	uint64_t value;
	if (read_digits(&p, &value) < 0)
		return -1;
	if (*p == '\0') {
		*bytes = value;
		return 0;
	}

	size_t length;
	const struct unit *unit = match_unit(size_units, p, &length);
	if (!unit || p[length] != '\0')
		return -1;
	if (__builtin_mul_overflow(value, unit->factor, &value))
		return -1;
	*bytes = value;
	return 0;
}

int yaml_parse_duration(const char *text, int64_t *ms)
{
	const char *p = text;
	uint64_t total = 0;
	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		uint64_t value;
		size_t length;
		if (read_digits(&p, &value) < 0)
			return -1;
		const struct unit *unit =
		    match_unit(duration_units, p, &length);
		if (!unit)
			return -1;
		p += length;
		if (__builtin_mul_overflow(value, unit->factor, &value) ||
		    __builtin_add_overflow(total, value, &total))
			return -1;
	}
	if (total > INT64_MAX)
		return -1;
	*ms = (int64_t)total;
	return 0;
}

void yaml_format_size(uint64_t bytes, char *buf, size_t size)
{
	static const struct unit *const order[] = {
	    &size_units[4],
	    &size_units[3],
	    &size_units[2],
	    &size_units[1],
	};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		uint64_t factor = order[i]->factor;
		if (bytes >= factor && bytes % factor == 0) {
			snprintf(buf, size, "%" PRIu64 "%s", bytes / factor,
				 order[i]->name);
			return;
		}
	}
	snprintf(buf, size, "%" PRIu64, bytes);
}

void yaml_format_duration(int64_t ms, char *buf, size_t size)
{
	for (int i = 4; i >= 0; i--) {
		int64_t factor = (int64_t)duration_units[i].factor;
		if ((ms >= factor && ms % factor == 0) || i == 0) {
			snprintf(buf, size, "%" PRId64 "%s", ms / factor,
				 duration_units[i].name);
			return;
		}
	}
}

static void *field_address(const struct yaml_field *field, void *target)
{
	return (char *)target + field->offset;
}

/* Returns the scalar text of NODE, or reports the wrong type and returns
 * NULL. Numbers and booleans must be plain because a quoted "10" is a
 * string. Sizes and durations may be quoted since "512MiB" is no YAML type
 * of its own. */
static const char *expect_scalar(struct yaml_walk *walk, yaml_node_t *node,
				 const char *key_path, const char *expected,
				 bool plain)
{
	if (node->type != YAML_SCALAR_NODE) {
		yaml_walk_error(walk, node, key_path, "expected %s, found %s",
				expected, node_kind(node));
		return NULL;
	}
	if (!yaml_walk_enter(walk, node, key_path))
		return NULL;
	if (plain && !yaml_node_is_plain(node)) {
		yaml_walk_error(walk, node, key_path,
				"expected %s, found a quoted string: remove "
				"the quotes",
				expected);
		return NULL;
	}
	return yaml_node_scalar(node);
}

static bool is_null_text(const yaml_node_t *node, const char *text)
{
	return yaml_node_is_plain(node) &&
	       (text[0] == '\0' || strcmp(text, "~") == 0 ||
		strcmp(text, "null") == 0 || strcmp(text, "Null") == 0 ||
		strcmp(text, "NULL") == 0);
}

static char *parse_string(struct yaml_walk *walk, yaml_node_t *node,
			  const char *key_path, const struct yaml_field *field)
{
	const char *text =
	    expect_scalar(walk, node, key_path, "a string", false);
	if (!text)
		return NULL;
	if (is_null_text(node, text) || text[0] == '\0') {
		yaml_walk_error(walk, node, key_path,
				"empty value: give a string or remove the key");
		return NULL;
	}
	if (strlen(text) != node->data.scalar.length) {
		yaml_walk_error(walk, node, key_path,
				"string contains a NUL character");
		return NULL;
	}
	if (field->check) {
		const char *problem = field->check(text);
		if (problem) {
			yaml_walk_error(walk, node, key_path,
					"invalid value \"%s\": %s", text,
					problem);
			return NULL;
		}
	}
	char *copy = strdup(text);
	if (!copy)
		yaml_walk_error(walk, node, key_path, "out of memory");
	return copy;
}

static bool parse_bool(struct yaml_walk *walk, yaml_node_t *node,
		       const char *key_path, bool *out)
{
	const char *text =
	    expect_scalar(walk, node, key_path, "true or false", true);
	if (!text)
		return false;
	if (strcmp(text, "true") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(text, "false") == 0) {
		*out = false;
		return true;
	}
	yaml_walk_error(walk, node, key_path,
			"expected true or false, found \"%s\"", text);
	return false;
}

static bool check_range(struct yaml_walk *walk, yaml_node_t *node,
			const char *key_path, const struct yaml_field *field,
			uint64_t value, const char *text)
{
	uint64_t max = field->max ? field->max : UINT64_MAX;
	if (value >= field->min && value <= max)
		return true;

	char low[32], high[32];
	if (field->type == YAML_FIELD_SIZE) {
		yaml_format_size(field->min, low, sizeof(low));
		yaml_format_size(max, high, sizeof(high));
	} else if (field->type == YAML_FIELD_DURATION) {
		yaml_format_duration((int64_t)field->min, low, sizeof(low));
		yaml_format_duration((int64_t)max, high, sizeof(high));
	} else {
		snprintf(low, sizeof(low), "%" PRIu64, field->min);
		snprintf(high, sizeof(high), "%" PRIu64, max);
	}
	yaml_walk_error(walk, node, key_path,
			"value %s is out of range: use %s to %s", text, low,
			high);
	return false;
}

static bool parse_uint32(struct yaml_walk *walk, yaml_node_t *node,
			 const char *key_path, const struct yaml_field *field,
			 uint32_t *out)
{
	const char *text =
	    expect_scalar(walk, node, key_path, "a whole number", true);
	if (!text)
		return false;
	const char *p = text;
	uint64_t value;
	if (read_digits(&p, &value) < 0 || *p != '\0') {
		yaml_walk_error(walk, node, key_path,
				"expected a whole number, found \"%s\"", text);
		return false;
	}
	struct yaml_field bounded = *field;
	if (!bounded.max || bounded.max > UINT32_MAX)
		bounded.max = UINT32_MAX;
	if (!check_range(walk, node, key_path, &bounded, value, text))
		return false;
	*out = (uint32_t)value;
	return true;
}

static bool parse_double(struct yaml_walk *walk, yaml_node_t *node,
			 const char *key_path, const struct yaml_field *field,
			 double *out)
{
	const char *text =
	    expect_scalar(walk, node, key_path, "a number", true);
	if (!text)
		return false;
	char *end = NULL;
	errno = 0;
	double value = strtod(text, &end);
	if (text[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(value)) {
		yaml_walk_error(walk, node, key_path,
				"expected a number, found \"%s\"", text);
		return false;
	}
	if (value < field->min_double || value > field->max_double) {
		yaml_walk_error(walk, node, key_path,
				"value %s is out of range: use %g to %g", text,
				field->min_double, field->max_double);
		return false;
	}
	*out = value;
	return true;
}

static bool parse_size(struct yaml_walk *walk, yaml_node_t *node,
		       const char *key_path, const struct yaml_field *field,
		       uint64_t *out)
{
	const char *text =
	    expect_scalar(walk, node, key_path, "a size such as 512MiB", false);
	if (!text)
		return false;
	uint64_t value;
	if (yaml_parse_size(text, &value) < 0) {
		yaml_walk_error(walk, node, key_path,
				"invalid size \"%s\": write a whole number of "
				"bytes or one with a unit (KiB, MiB, GiB, TiB, "
				"kB, MB, GB, TB)",
				text);
		return false;
	}
	if (!check_range(walk, node, key_path, field, value, text))
		return false;
	*out = value;
	return true;
}

static bool parse_duration(struct yaml_walk *walk, yaml_node_t *node,
			   const char *key_path, const struct yaml_field *field,
			   int64_t *out)
{
	const char *text = expect_scalar(walk, node, key_path,
					 "a duration such as 30m", false);
	if (!text)
		return false;
	int64_t value;
	if (yaml_parse_duration(text, &value) < 0) {
		yaml_walk_error(walk, node, key_path,
				"invalid duration \"%s\": write a number with "
				"a unit (ms, s, m, h, d), such as 30m or 1h30m",
				text);
		return false;
	}
	if (!check_range(walk, node, key_path, field, (uint64_t)value, text))
		return false;
	*out = value;
	return true;
}

static bool parse_enum(struct yaml_walk *walk, yaml_node_t *node,
		       const char *key_path, const struct yaml_field *field,
		       int *out)
{
	const char *text = expect_scalar(walk, node, key_path, "a name", false);
	if (!text)
		return false;
	for (int i = 0; field->names[i]; i++) {
		if (strcmp(text, field->names[i]) == 0) {
			*out = i;
			return true;
		}
	}

	char allowed[256] = "";
	size_t used = 0;
	for (int i = 0; field->names[i] && used < sizeof(allowed); i++)
		used +=
		    (size_t)snprintf(allowed + used, sizeof(allowed) - used,
				     "%s%s", i ? ", " : "", field->names[i]);
	yaml_walk_error(walk, node, key_path,
			"invalid value \"%s\": use one of %s", text, allowed);
	return false;
}

static bool check_sequence(struct yaml_walk *walk, yaml_node_t *node,
			   const char *key_path, const struct yaml_field *field,
			   size_t *count)
{
	if (node->type != YAML_SEQUENCE_NODE) {
		yaml_walk_error(walk, node, key_path,
				"expected a list, found %s", node_kind(node));
		return false;
	}
	if (!yaml_walk_enter(walk, node, key_path))
		return false;
	*count = (size_t)(node->data.sequence.items.top -
			  node->data.sequence.items.start);
	if (field->max && *count > field->max) {
		yaml_walk_error(walk, node, key_path,
				"list has %zu items, above the maximum of "
				"%" PRIu64,
				*count, field->max);
		return false;
	}
	return true;
}

static bool parse_string_list(struct yaml_walk *walk, yaml_node_t *node,
			      const char *key_path,
			      const struct yaml_field *field,
			      struct yaml_string_list *out)
{
	size_t count;
	if (!check_sequence(walk, node, key_path, field, &count))
		return false;

	struct yaml_string_list list = {
	    calloc(count ? count : 1, sizeof(char *)), 0};
	if (!list.items) {
		yaml_walk_error(walk, node, key_path, "out of memory");
		return false;
	}
	bool ok = true;
	for (size_t i = 0; i < count; i++) {
		char path[YAML_PATH_MAX];
		yaml_path_index(path, sizeof(path), key_path, i);
		yaml_node_t *item =
		    yaml_walk_node(walk, node->data.sequence.items.start[i]);
		char *value = parse_string(walk, item, path, field);
		if (!value) {
			ok = false;
			continue;
		}
		list.items[list.count++] = value;
	}
	yaml_string_list_free(out);
	*out = list;
	return ok;
}

static bool parse_list(struct yaml_walk *walk, yaml_node_t *node,
		       const char *key_path, const struct yaml_field *field,
		       void *target)
{
	size_t count;
	if (!check_sequence(walk, node, key_path, field, &count))
		return false;

	char *items = calloc(count ? count : 1, field->item_size);
	if (!items) {
		yaml_walk_error(walk, node, key_path, "out of memory");
		return false;
	}
	bool ok = true;
	for (size_t i = 0; i < count; i++) {
		char path[YAML_PATH_MAX];
		yaml_path_index(path, sizeof(path), key_path, i);
		yaml_node_t *item =
		    yaml_walk_node(walk, node->data.sequence.items.start[i]);
		void *slot = items + i * field->item_size;
		if (field->item_has_mark) {
			struct yaml_mark mark = yaml_node_mark(item);
			memcpy((char *)slot + field->item_mark_offset, &mark,
			       sizeof(mark));
		}
		if (!yaml_walk_mapping(walk, item, path, field->fields, slot))
			ok = false;
	}

	/* The count is stored even on error so that yaml_fields_free
	 * releases what the items hold. */
	void **array = field_address(field, target);
	size_t *count_out = (size_t *)((char *)target + field->count_offset);
	*array = items;
	*count_out = count;
	return ok;
}

bool yaml_walk_value(struct yaml_walk *walk, yaml_node_t *node,
		     const char *key_path, const struct yaml_field *field,
		     void *target)
{
	void *address = field_address(field, target);
	bool ok = false;

	switch (field->type) {
	case YAML_FIELD_STRING: {
		char *value = parse_string(walk, node, key_path, field);
		if (value) {
			free(*(char **)address);
			*(char **)address = value;
			ok = true;
		}
		break;
	}
	case YAML_FIELD_BOOL:
		ok = parse_bool(walk, node, key_path, address);
		break;
	case YAML_FIELD_UINT32:
		ok = parse_uint32(walk, node, key_path, field, address);
		break;
	case YAML_FIELD_DOUBLE:
		ok = parse_double(walk, node, key_path, field, address);
		break;
	case YAML_FIELD_SIZE:
		ok = parse_size(walk, node, key_path, field, address);
		break;
	case YAML_FIELD_DURATION:
		ok = parse_duration(walk, node, key_path, field, address);
		break;
	case YAML_FIELD_ENUM:
		ok = parse_enum(walk, node, key_path, field, address);
		break;
	case YAML_FIELD_STRING_LIST:
		ok = parse_string_list(walk, node, key_path, field, address);
		break;
	case YAML_FIELD_MAPPING:
		ok = yaml_walk_mapping(walk, node, key_path, field->fields,
				       address);
		break;
	case YAML_FIELD_LIST:
		ok = parse_list(walk, node, key_path, field, target);
		break;
	case YAML_FIELD_CUSTOM:
		ok = field->parse(walk, node, key_path, address);
		break;
	}

	if (ok && field->has_mark) {
		struct yaml_mark mark = yaml_node_mark(node);
		memcpy((char *)target + field->mark_offset, &mark,
		       sizeof(mark));
	}
	return ok;
}

static void apply_default(const struct yaml_field *field, void *target)
{
	void *address = field_address(field, target);

	switch (field->type) {
	case YAML_FIELD_STRING:
		if (field->default_string && !*(char **)address)
			*(char **)address = strdup(field->default_string);
		break;
	case YAML_FIELD_BOOL:
		*(bool *)address = field->default_uint != 0;
		break;
	case YAML_FIELD_UINT32:
		*(uint32_t *)address = (uint32_t)field->default_uint;
		break;
	case YAML_FIELD_DOUBLE:
		*(double *)address = field->default_double;
		break;
	case YAML_FIELD_SIZE:
		*(uint64_t *)address = field->default_uint;
		break;
	case YAML_FIELD_DURATION:
		*(int64_t *)address = (int64_t)field->default_uint;
		break;
	case YAML_FIELD_ENUM:
		*(int *)address = (int)field->default_uint;
		break;
	case YAML_FIELD_MAPPING:
		yaml_fields_apply_defaults(field->fields, address);
		break;
	case YAML_FIELD_STRING_LIST:
	case YAML_FIELD_LIST:
	case YAML_FIELD_CUSTOM:
		break;
	}
}

void yaml_fields_apply_defaults(const struct yaml_field *fields, void *target)
{
	for (const struct yaml_field *f = fields; f->key; f++)
		apply_default(f, target);
}

void yaml_fields_free(const struct yaml_field *fields, void *target)
{
	for (const struct yaml_field *f = fields; f->key; f++) {
		void *address = field_address(f, target);
		switch (f->type) {
		case YAML_FIELD_STRING:
			free(*(char **)address);
			*(char **)address = NULL;
			break;
		case YAML_FIELD_STRING_LIST:
			yaml_string_list_free(address);
			break;
		case YAML_FIELD_MAPPING:
			yaml_fields_free(f->fields, address);
			break;
		case YAML_FIELD_LIST: {
			char *items = *(char **)address;
			size_t *count =
			    (size_t *)((char *)target + f->count_offset);
			for (size_t i = 0; items && i < *count; i++)
				yaml_fields_free(f->fields,
						 items + i * f->item_size);
			free(items);
			*(char **)address = NULL;
			*count = 0;
			break;
		}
		default:
			break;
		}
	}
}

static void list_keys(const struct yaml_field *fields, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (const struct yaml_field *f = fields; f->key && used < size; f++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s",
					 f == fields ? "" : ", ", f->key);
}

/* Returns the key node of an earlier pair (before INDEX) named KEY, or NULL. */
static yaml_node_t *earlier_key(struct yaml_walk *walk, yaml_node_t *mapping,
				size_t index, const char *key)
{
	yaml_node_pair_t *pairs = mapping->data.mapping.pairs.start;
	for (size_t i = 0; i < index; i++) {
		yaml_node_t *other = yaml_walk_node(walk, pairs[i].key);
		const char *text = yaml_node_scalar(other);
		if (text && strcmp(text, key) == 0)
			return other;
	}
	return NULL;
}

bool yaml_walk_mapping(struct yaml_walk *walk, yaml_node_t *node,
		       const char *key_path, const struct yaml_field *fields,
		       void *target)
{
	size_t errors_before = walk->error_count;
	size_t field_count = 0;
	while (fields[field_count].key)
		field_count++;

	if (node->type != YAML_MAPPING_NODE) {
		yaml_walk_error(walk, node, key_path,
				"expected a mapping (key: value), found %s",
				node_kind(node));
		yaml_fields_apply_defaults(fields, target);
		return false;
	}
	if (!yaml_walk_enter(walk, node, key_path))
		return false;

	autofree bool *seen =
	    calloc(field_count ? field_count : 1, sizeof(bool));
	if (!seen) {
		yaml_walk_error(walk, node, key_path, "out of memory");
		return false;
	}

	yaml_node_pair_t *pairs = node->data.mapping.pairs.start;
	size_t pair_count = (size_t)(node->data.mapping.pairs.top - pairs);
	for (size_t i = 0; i < pair_count; i++) {
		yaml_node_t *key_node = yaml_walk_node(walk, pairs[i].key);
		yaml_node_t *value = yaml_walk_node(walk, pairs[i].value);
		const char *key = yaml_node_scalar(key_node);
		if (!key) {
			yaml_walk_error(walk, key_node, key_path,
					"a key must be a plain name, found %s",
					node_kind(key_node));
			continue;
		}

		char path[YAML_PATH_MAX];
		yaml_path_key(path, sizeof(path), key_path, key);
		yaml_node_t *first = earlier_key(walk, node, i, key);
		if (first) {
			yaml_walk_error(walk, key_node, path,
					"duplicate key \"%s\" (first at line "
					"%u): keep one",
					key, yaml_node_mark(first).line);
			continue;
		}

		size_t f = 0;
		while (f < field_count && strcmp(fields[f].key, key) != 0)
			f++;
		if (f == field_count) {
			char keys[512];
			list_keys(fields, keys, sizeof(keys));
			yaml_walk_error(walk, key_node, path,
					"unknown key \"%s\": valid keys here "
					"are %s",
					key, keys);
			continue;
		}
		seen[f] = true;
		yaml_walk_value(walk, value, path, &fields[f], target);
	}

	for (size_t f = 0; f < field_count; f++) {
		if (seen[f])
			continue;
		if (fields[f].required) {
			char path[YAML_PATH_MAX];
			yaml_path_key(path, sizeof(path), key_path,
				      fields[f].key);
			yaml_walk_error(walk, node, path,
					"missing required key \"%s\"",
					fields[f].key);
			continue;
		}
		apply_default(&fields[f], target);
	}
	return walk->error_count == errors_before;
}
