/* Version and symbol-visibility macros shared by every public header. */
#ifndef VEXIL_VERSION_H
#define VEXIL_VERSION_H

#define VX_VERSION_MAJOR  0
#define VX_VERSION_MINOR  1
#define VX_VERSION_PATCH  0
#define VX_VERSION_STRING "0.1.0"

#if defined(__GNUC__) || defined(__clang__)
#define VX_API __attribute__((visibility("default")))
#else
#define VX_API
#endif

#endif
