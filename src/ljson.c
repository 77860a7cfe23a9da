/* placeholder until the smop.json binding lands */
#include "hostlibs.h"

int luaopen_smop_json(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
