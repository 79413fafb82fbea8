#ifndef UNIWASM_STDIO_H
#define UNIWASM_STDIO_H
int puts(const char *s);
#endif
