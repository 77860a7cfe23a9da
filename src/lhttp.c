/* placeholder until the smop.http binding lands */
#include "hostlibs.h"

int luaopen_smop_http(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
