#include "hostlibs.h"

const luaL_Reg hostlibs[] = {
    {"smop.task", luaopen_smop_task},
    {"smop.log", luaopen_smop_log},
    {"smop.json", luaopen_smop_json},
    {"smop.yaml", luaopen_smop_yaml},
    {"smop.http", luaopen_smop_http},
    {"smop.sigv4", luaopen_smop_sigv4},
    {"smop.creds", luaopen_smop_creds},
    {"smop.server", luaopen_smop_server},
    {"smop.regex", luaopen_smop_regex},
    {"smop.tls", luaopen_smop_tls},
    {"smop.queue", luaopen_smop_queue},
    {"smop.kube", luaopen_smop_kube},
    {"smop.scripts", luaopen_smop_scripts},
    {NULL, NULL},
};
