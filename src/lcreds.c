/* placeholder until the smop.creds binding lands */
#include "hostlibs.h"

int luaopen_smop_creds(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
