#ifndef UNIWASM_ALLOCA_H
#define UNIWASM_ALLOCA_H
#define alloca __builtin_alloca
#endif
