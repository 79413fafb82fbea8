#ifndef UNIWASM_STDLIB_H
#define UNIWASM_STDLIB_H
#include <stddef.h>
_Noreturn void abort(void);
#endif
