/*
 * Where things live on the user's machine: the state directory of the local
 * stack, the directory of the running executable (to find sibling binaries
 * and installed data), and small helpers to make directories.
 */
#ifndef MEME_PATHS_H
#define MEME_PATHS_H

#include <stddef.h>

/* $MEMECTL_STATE_DIR, else $XDG_STATE_HOME/memectl, else ~/.local/state/memectl.
 * A new string; the caller frees it. */
char *paths_state_dir(void);
/* The directory of the running executable, or NULL. A new string. */
char *paths_exe_dir(void);
/* Finds an executable: next to the running one first, then on $PATH. A new
 * string, or NULL. */
char *paths_find_program(const char *name);
/* mkdir -p with the given mode; 0 or -errno. */
int paths_mkdir_p(const char *path, unsigned mode);

#endif
