/* Strict YAML loading on top of libyaml's document API.
 *
 * A file is read into memory (so its bytes can be hashed exactly as parsed),
 * parsed into a node tree, and then walked against declarative key tables.
 * The walk reports every problem it finds into a struct diag_list, each with
 * file, line, column and key path: duplicate keys, unknown keys, missing
 * required keys, wrong types and out-of-range values. Aliases are rejected
 * because a shared node would be read twice (and alias bombs cost memory).
 *
 * Sizes are written "512MiB", "2GiB", "10KB" or as a plain number of bytes.
 * Durations are written "500ms", "10s", "30m", "8h", "7d" or combined as
 * "1h30m"; a duration always needs a unit. */
#ifndef TRELLIS_YAML_DOC_H
#define TRELLIS_YAML_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "lib/diag.h"

/* Larger files are rejected before parsing. */
#define YAML_DOC_MAX_BYTES (4u * 1024 * 1024)
/* Deeper nesting of lists and mappings is rejected before the document is
 * built. Trellis's own files nest fewer than 10 levels. */
#define YAML_DOC_MAX_DEPTH 64u
/* Maximum length of a key path in a diagnostic, such as
 * "projects[3].airlock.export.max_files". */
#define YAML_PATH_MAX 256

struct yaml_doc {
	char *path;
	unsigned char *bytes; /* the file content exactly as parsed */
	size_t size;
	yaml_document_t document;
	bool has_document;
};

/* 1-based location of a node, kept for checks made after the walk. */
struct yaml_mark {
	unsigned line;
	unsigned column;
};

/* Reads and parses PATH. Returns 0 and a document (its root may be NULL for
 * an empty file), or -1 with a diagnostic. The diagnostic names an
 * unreadable file, a path that is not a regular file, a file above
 * YAML_DOC_MAX_BYTES, nesting deeper than YAML_DOC_MAX_DEPTH, a syntax error
 * or a second document. A FIFO or a device is rejected without waiting on
 * it. */
int yaml_doc_load(const char *path, struct yaml_doc **out,
		  struct diag_list *diags);
void yaml_doc_free(struct yaml_doc *doc);
yaml_node_t *yaml_doc_root(struct yaml_doc *doc);

enum yaml_field_type {
	YAML_FIELD_STRING,	/* char *, newly allocated */
	YAML_FIELD_BOOL,	/* bool; only true or false */
	YAML_FIELD_UINT32,	/* uint32_t within [min, max] */
	YAML_FIELD_DOUBLE,	/* double within [min_double, max_double] */
	YAML_FIELD_SIZE,	/* uint64_t bytes within [min, max] */
	YAML_FIELD_DURATION,	/* int64_t milliseconds within [min, max] */
	YAML_FIELD_ENUM,	/* int: index into names */
	YAML_FIELD_STRING_LIST, /* struct yaml_string_list, at most max items */
	YAML_FIELD_MAPPING,	/* nested table, target + offset */
	YAML_FIELD_LIST,	/* sequence of mappings, see item_* below */
	YAML_FIELD_CUSTOM,	/* parse callback */
};

struct yaml_string_list {
	char **items;
	size_t count;
};

struct yaml_walk;

/* Parses NODE into FIELD (the target address plus the field's offset).
 * Reports its own errors with yaml_walk_error and returns false on error. */
typedef bool (*yaml_parse_fn)(struct yaml_walk *walk, yaml_node_t *node,
			      const char *key_path, void *field);
/* Checks a string value; returns NULL when valid or a message saying what a
 * valid value looks like. */
typedef const char *(*yaml_check_fn)(const char *value);

/* One key of a mapping. A table ends with an entry whose key is NULL. */
struct yaml_field {
	const char *key;
	enum yaml_field_type type;
	size_t offset;
	bool required;

	uint64_t min, max; /* integers, sizes, durations; list
			    * length for lists (max 0: no limit) */
	double min_double, max_double;
	const char *const *names;	 /* ENUM, NULL-terminated */
	const struct yaml_field *fields; /* MAPPING and LIST items */
	yaml_parse_fn parse;		 /* CUSTOM */
	yaml_check_fn check;		 /* STRING and STRING_LIST items */

	/* LIST: the field is a pointer to an array of item_size bytes and
	 * count_offset locates its size_t count in the same target. */
	size_t item_size;
	size_t count_offset;
	/* LIST: when set, each item's location is stored at item_mark_offset
	 * inside the item. */
	bool item_has_mark;
	size_t item_mark_offset;
	/* When set, the value's location is stored at mark_offset. */
	bool has_mark;
	size_t mark_offset;

	/* Value for an absent key: BOOL, UINT32, SIZE, DURATION (ms) and ENUM
	 * (index) use default_uint; STRING copies default_string if set. */
	uint64_t default_uint;
	double default_double;
	const char *default_string;
};

struct yaml_walk {
	struct yaml_doc *doc;
	struct diag_list *diags;
	unsigned char *visited; /* one flag per node, to reject aliases */
	size_t node_count;
	size_t error_count;
	void *user; /* the caller's context for parse callbacks */
};

int yaml_walk_init(struct yaml_walk *walk, struct yaml_doc *doc,
		   struct diag_list *diags, void *user);
void yaml_walk_finish(struct yaml_walk *walk);

void yaml_walk_error(struct yaml_walk *walk, const yaml_node_t *node,
		     const char *key_path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds an error at a location kept from an earlier walk. */
void yaml_walk_error_at(struct yaml_walk *walk, struct yaml_mark mark,
			const char *key_path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Walks mapping NODE against FIELDS, writing into TARGET. Absent keys get
 * their defaults. Returns false when any error was reported. */
bool yaml_walk_mapping(struct yaml_walk *walk, yaml_node_t *node,
		       const char *key_path, const struct yaml_field *fields,
		       void *target);
/* Parses one value NODE as FIELD describes, into TARGET + FIELD->offset. */
bool yaml_walk_value(struct yaml_walk *walk, yaml_node_t *node,
		     const char *key_path, const struct yaml_field *field,
		     void *target);
/* Sets every field of FIELDS in TARGET to its default. */
void yaml_fields_apply_defaults(const struct yaml_field *fields, void *target);
/* Frees what a walk allocated in TARGET (strings, lists, nested items). */
void yaml_fields_free(const struct yaml_field *fields, void *target);

/* Marks NODE as read; reports and returns false the second time, which
 * happens only when an alias refers to it. */
bool yaml_walk_enter(struct yaml_walk *walk, yaml_node_t *node,
		     const char *key_path);
yaml_node_t *yaml_walk_node(struct yaml_walk *walk, int index);
struct yaml_mark yaml_node_mark(const yaml_node_t *node);
/* The scalar's text, or NULL when NODE is not a scalar. */
const char *yaml_node_scalar(const yaml_node_t *node);
/* True for a plain scalar: the only form numbers and booleans may take. */
bool yaml_node_is_plain(const yaml_node_t *node);

void yaml_string_list_free(struct yaml_string_list *list);

/* Writes PARENT.KEY (or KEY at the top) into BUF. */
void yaml_path_key(char *buf, size_t size, const char *parent, const char *key);
/* Writes PARENT[INDEX] into BUF. */
void yaml_path_index(char *buf, size_t size, const char *parent, size_t index);

/* Parse "512MiB", "2GB", "4096"; return 0, or -1 for invalid text or a value
 * above UINT64_MAX. */
int yaml_parse_size(const char *text, uint64_t *bytes);
/* Parse "30m", "8h", "1h30m", "250ms"; return 0 or -1. */
int yaml_parse_duration(const char *text, int64_t *ms);
/* Format with the largest binary unit that divides BYTES exactly. */
void yaml_format_size(uint64_t bytes, char *buf, size_t size);
/* Format with the largest unit that divides MS exactly. */
void yaml_format_duration(int64_t ms, char *buf, size_t size);

#endif
