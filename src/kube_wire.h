/*
 * kube_wire.h - what the Kubernetes API server sends an informer: watch
 * event lines, list pages and Status bodies, scanned with json.h's pull
 * reader. Nothing is decoded into values and nothing allocates: the scanners
 * find the few fields the informer needs (type, metadata name, namespace,
 * uid, resourceVersion, list continue, Status code/reason/message) and the
 * byte span of each object, whose text is handed on as it is.
 *
 * Sources must be NUL-terminated (json.h). Strings come back as spans into
 * the source (kube_str); kube_str_copy unescapes one into a buffer.
 */
#ifndef KUBE_WIRE_H
#define KUBE_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Depth the scanners accept; the same as smop.json's default, so what
 * passes here also decodes there. */
#define KUBE_WIRE_MAX_DEPTH 200

typedef struct kube_str {
    const char *p;      /* NULL: absent (or not a string) */
    size_t n;           /* raw length, between the quotes */
    int escaped;
} kube_str;

typedef struct kube_meta {
    kube_str name, ns, uid, rv;
} kube_meta;

/* The fields of a metav1.Status (also any object with these members). */
typedef struct kube_status {
    int has_code;
    int64_t code;
    kube_str kind, reason, message;
} kube_status;

typedef struct kube_wire_event {
    kube_str type;
    size_t obj_off, obj_len;   /* the "object" member's text */
    kube_meta meta;            /* its metadata */
    kube_status status;        /* its Status fields (ERROR events) */
} kube_wire_event;

/* Scans one watch line. SMOP_ERR with a one-line reason if it is not a
 * JSON object with a string "type" and an object "object". */
int kube_wire_event_scan(const char *src, size_t len, kube_wire_event *ev, char *err,
                         size_t errlen);

/* Called for each element of "items", in order; nonzero stops the scan
 * (kube_wire_list_scan then fails with SMOP_ERR and leaves err alone). */
typedef int (*kube_wire_item_fn)(void *ud, const char *obj, size_t len, const kube_meta *m);

typedef struct kube_wire_list {
    kube_str rv;        /* metadata.resourceVersion */
    kube_str cont;      /* metadata.continue ("" or absent at the end) */
} kube_wire_list;

int kube_wire_list_scan(const char *src, size_t len, kube_wire_item_fn item, void *ud,
                        kube_wire_list *out, char *err, size_t errlen);

/* Scans an error body; SMOP_ERR if it is not a JSON object. */
int kube_wire_status_scan(const char *src, size_t len, kube_status *st);

/* Unescapes s into out (size bytes, NUL-terminated, cut to fit). Returns
 * the full unescaped length, so a result >= size means it was cut. */
size_t kube_str_copy(const kube_str *s, char *out, size_t size);
/* Raw or unescaped equality with a C string. */
int kube_str_eq(const kube_str *s, const char *lit);

#endif
