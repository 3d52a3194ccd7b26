/* Prometheus metrics of the master: named counters kept in memory, and the
 * text exposition format (version 0.0.4) that trellis-web serves on the
 * metrics listener.
 *
 * Counters live only in this process, so they restart from zero with
 * trellisd; Prometheus's rate() and increase() handle such resets. Gauges
 * (active sessions, audit records, worker restarts) are read from the
 * master's state when the text is rendered, by broker/metrics_master.c. */
#ifndef TRELLIS_BROKER_METRICS_H
#define TRELLIS_BROKER_METRICS_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

struct master;

/* Upper bound on distinct label sets across all counters. Label values come
 * from the master's code and the policy (project ids, outcomes), never from
 * a client, but the bound keeps a bug from growing memory without end. */
#define METRICS_MAX_SAMPLES 4096

/* Adds N to counter NAME with one label LABEL=VALUE, or no label when
 * LABEL is NULL. NAME must be one of the counters in broker/metrics.c;
 * an unknown name is logged and ignored. */
void metrics_add(const char *name, const char *label, const char *value,
		 uint64_t n);
void metrics_inc(const char *name, const char *label, const char *value);
/* Adds 1 to counter NAME with two labels. */
void metrics_inc2(const char *name, const char *label1, const char *value1,
		  const char *label2, const char *value2);

/* Returns the value of counter NAME with the given labels, 0 when it was
 * never incremented. LABELS is the rendered label text, such as
 * outcome="success", or "" for none. */
uint64_t metrics_get(const char *name, const char *labels);

/* Writes the samples of metric NAME, one of those read from state, to OUT
 * with metrics_put_sample. */
typedef void (*metrics_state_fn)(FILE *out, const char *name, void *ctx);

/* Renders every metric in the Prometheus text format into a new string
 * that the caller frees; STATE (may be NULL) writes the samples of the
 * metrics read from state. Returns NULL when out of memory. */
char *metrics_render(metrics_state_fn state, void *ctx);
/* Renders with the samples read from trellisd's state
 * (broker/metrics_master.c). */
char *metrics_render_master(struct master *m);

/* Writes one sample line; LABELS as from metrics_format_labels, or "". */
void metrics_put_sample(FILE *out, const char *name, const char *labels,
			uint64_t value);
/* Returns the label text key1="value1",key2="value2" with values escaped
 * (LABEL2 may be NULL), as a new string, or NULL when out of memory. */
char *metrics_format_labels(const char *label1, const char *value1,
			    const char *label2, const char *value2);

/* Forgets every counter, for tests. */
void metrics_reset(void);

#endif
