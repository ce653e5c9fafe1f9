#ifndef CLIBGIT2_SHIM_H
#define CLIBGIT2_SHIM_H
#include <git2.h>

/* git_libgit2_opts is variadic, which Swift cannot call: one wrapper per option used. */
static inline int clibgit2_set_owner_validation(int on) {
    return git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, on);
}

/* Reads the current owner-validation setting into *on (1 enabled, 0 disabled). */
static inline int clibgit2_get_owner_validation(int *on) {
    return git_libgit2_opts(GIT_OPT_GET_OWNER_VALIDATION, on);
}
#endif
