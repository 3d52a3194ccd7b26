/* Diagnostics gathered while validating a file, so that one run reports
 * every problem instead of stopping at the first. */
#ifndef TRELLIS_DIAG_H
#define TRELLIS_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct diag {
	char *file;
	unsigned line;	 /* 1-based; 0 when the problem has no location */
	unsigned column; /* 1-based */
	char *key_path;	 /* "projects[2].airlock.export.max_file_size" */
	char *message;
};

struct diag_list {
	struct diag *items;
	size_t count;
	size_t cap;
};

void diag_list_init(struct diag_list *list);
void diag_list_clear(struct diag_list *list);
void diag_add(struct diag_list *list, const char *file, unsigned line,
	      unsigned column, const char *key_path, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Writes "file:line:column: key.path: message", one per line. */
void diag_list_print(const struct diag_list *list, FILE *out);

#endif
