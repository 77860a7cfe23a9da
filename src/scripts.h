/*
 * scripts.h - a set of Lua modules: name -> source text.
 *
 * The built-in set is compiled into the binary from lua/ (module name from
 * the path: lua/aws/client.lua -> "aws.client", lua/cli/init.lua -> "cli").
 * scripts_load_dir overlays a directory laid out the same way, so
 * `--scripts-dir lua` runs the working copy without a rebuild.
 * A set owns copies of everything added to it (origin excepted: a static
 * string); lookups return borrowed pointers valid until the set is freed.
 */
#ifndef SCRIPTS_H
#define SCRIPTS_H

#include <stddef.h>

typedef struct scripts_set scripts_set;

typedef struct scripts_entry {
    const char *name;     /* module name, e.g. "aws.client" */
    const char *chunk;    /* chunk name for messages, e.g. "@aws/client.lua" */
    const char *source;
    size_t len;
    const char *origin;   /* SCRIPTS_BUILTIN or SCRIPTS_DIR */
} scripts_entry;

#define SCRIPTS_BUILTIN "builtin"
#define SCRIPTS_DIR "dir"

/* A file compiled into the binary (tools/embed.c generates the table). */
typedef struct scripts_file {
    const char *path;     /* below lua/, e.g. "aws/client.lua" */
    const char *source;
    size_t len;
} scripts_file;

scripts_set *scripts_new(void);
void scripts_free(scripts_set *set);

/* Adds or replaces one module; origin is a static string. */
int scripts_put(scripts_set *set, const char *name, const char *chunk,
                const char *source, size_t len, const char *origin);

/* Adds every module compiled into the binary. */
int scripts_add_builtin(scripts_set *set);

/* Overlays every *.lua file under dir (recursively). */
int scripts_load_dir(scripts_set *set, const char *dir, char *err, size_t errlen);

const scripts_entry *scripts_find(const scripts_set *set, const char *name);
size_t scripts_count(const scripts_set *set);
const scripts_entry *scripts_at(const scripts_set *set, size_t i);

#endif
