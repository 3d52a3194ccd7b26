/* Diagnostics list: every validation problem of one file, in the order found.
 */
#include "lib/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void diag_list_init(struct diag_list *list)
{
	list->items = NULL;
	list->count = 0;
	list->cap = 0;
}

void diag_list_clear(struct diag_list *list)
{
	for (size_t i = 0; i < list->count; i++) {
		free(list->items[i].file);
		free(list->items[i].key_path);
		free(list->items[i].message);
	}
	free(list->items);
	diag_list_init(list);
}

static char *strdup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

/* Running out of memory here drops the diagnostic. The caller still fails
 * because it counts its own errors, so nothing invalid is accepted. */
void diag_add(struct diag_list *list, const char *file, unsigned line,
	      unsigned column, const char *key_path, const char *fmt, ...)
{
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 8;
		struct diag *items =
		    reallocarray(list->items, cap, sizeof(*items));
		if (!items)
			return;
		list->items = items;
		list->cap = cap;
	}

	struct diag *d = &list->items[list->count];
	char *message = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&message, fmt, ap) < 0)
		message = NULL;
	va_end(ap);

	d->file = strdup_or_empty(file);
	d->key_path = strdup_or_empty(key_path);
	d->message = message;
	d->line = line;
	d->column = column;
	if (!d->file || !d->key_path || !d->message) {
		free(d->file);
		free(d->key_path);
		free(d->message);
		return;
	}
	list->count++;
}

void diag_list_print(const struct diag_list *list, FILE *out)
{
	for (size_t i = 0; i < list->count; i++) {
		const struct diag *d = &list->items[i];
		if (d->line > 0)
			fprintf(out, "%s:%u:%u: ", d->file, d->line, d->column);
		else
			fprintf(out, "%s: ", d->file);
		if (d->key_path[0] != '\0')
			fprintf(out, "%s: ", d->key_path);
		fprintf(out, "%s\n", d->message);
	}
}
